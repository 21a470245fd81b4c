"""The Ansible/AWX inventory script, exercised through the real ansible-inventory."""
import ast
import json
import sys

from conftest import SCRIPT, clean_env, parse, run


def hosts(inventory, group):
    return sorted(inventory.get(group, {}).get("hosts", []))


def unsafe_to_text(value):
    """The inventory's values as Ansible reads them: {"__ansible_unsafe": x} is the text x."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unsafe_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsafe_to_text(v) for v in value]
    return value


def test_ansible_inventory_lists_the_fleet_from_serve_with_no_warnings(ansible_inventory, service, world):
    env = clean_env(TELEPORT_INVENTORY_URL=service["url"], TELEPORT_INVENTORY_TOKEN_FILE=service["token_file"])
    r = run([ansible_inventory, "-i", SCRIPT, "--list"], env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # AWX marks an inventory sync with stderr output as suspicious
    inv = parse(r.stdout)
    assert hosts(inv, "teleport_auth_us_west_2") == world["tp-auth"]
    assert hosts(inv, "teleport_proxy_us_west_2") == world["tp-proxy"][1:]
    assert hosts(inv, "teleport_proxy_eu_central_1") == world["tp-proxy-eu"]
    assert hosts(inv, "teleport_lifecycle_standby") == [world["tp-proxy"][0]]
    hostvars = inv["_meta"]["hostvars"]
    eu = hostvars[world["tp-proxy-eu"][0]]
    # ansible-inventory writes back what it read: every value from AWS is still unsafe text.
    assert eu["aws_region"] == {"__ansible_unsafe": "eu-central-1"}
    hostvars = unsafe_to_text(hostvars)
    eu = hostvars[world["tp-proxy-eu"][0]]
    assert eu["aws_region"] == "eu-central-1"
    assert eu["teleport_peer_public_addr"].endswith(":3021")
    assert eu["ansible_host"].startswith("198.18.")
    assert hostvars[world["tp-auth"][0]]["teleport_inventory_stale_regions"] == []
    assert service["token"] not in r.stdout


def test_host_mode_returns_one_hosts_variables(service, world):
    env = clean_env(TELEPORT_INVENTORY_URL=service["url"], TELEPORT_INVENTORY_TOKEN_FILE=service["token_file"])
    r = run([sys.executable, SCRIPT, "--host", world["tp-auth"][1]], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["teleport_role"] == {"__ansible_unsafe": "auth"}


def test_a_wrong_token_fails_loudly_and_prints_nothing(ansible_inventory, service, tmp_path):
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-token-not-the-token\n")
    bad.chmod(0o600)
    env = clean_env(TELEPORT_INVENTORY_URL=service["url"], TELEPORT_INVENTORY_TOKEN_FILE=str(bad))
    r = run([sys.executable, SCRIPT, "--list"], env)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "HTTP 401" in r.stderr and "TELEPORT_INVENTORY_TOKEN_FILE" in r.stderr
    assert "not-the-token" not in r.stderr

    # Through Ansible, with the repository's ansible.cfg setting, an unparsable inventory is fatal.
    r = run([ansible_inventory, "-i", SCRIPT, "--list"], dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"))
    assert r.returncode != 0
    assert "HTTP 401" in r.stderr


def test_an_unreachable_service_names_the_url(service):
    env = clean_env(TELEPORT_INVENTORY_URL="http://127.0.0.1:9", TELEPORT_INVENTORY_TIMEOUT="5")
    r = run([sys.executable, SCRIPT, "--list"], env)
    assert r.returncode == 1 and r.stdout == ""
    assert "http://127.0.0.1:9/v1/inventory: cannot reach inventory-service" in r.stderr


def test_bad_settings_name_the_variable(tmp_path):
    r = run([sys.executable, SCRIPT, "--list"], clean_env(TELEPORT_INVENTORY_URL="10.0.0.5:8790"))
    assert r.returncode == 1 and "TELEPORT_INVENTORY_URL: '10.0.0.5:8790' must be an http(s) URL" in r.stderr
    r = run([sys.executable, SCRIPT, "--list"], clean_env(TELEPORT_INVENTORY_CONFIG=str(tmp_path / "missing.yml")))
    assert r.returncode == 1 and "set TELEPORT_INVENTORY_URL to a running inventory-service" in r.stderr
    r = run([sys.executable, SCRIPT, "--list"], clean_env(TELEPORT_INVENTORY_URL="http://127.0.0.1:9", TELEPORT_INVENTORY_TIMEOUT="0"))
    assert r.returncode == 1 and "TELEPORT_INVENTORY_TIMEOUT: '0' must be a positive number" in r.stderr
    r = run([sys.executable, SCRIPT], clean_env())
    assert r.returncode == 1 and "usage:" in r.stderr


def test_without_a_service_the_script_runs_the_jar_itself(ansible_inventory, config_file, aws_env, world, tmp_path):
    env = clean_env(TELEPORT_INVENTORY_CONFIG=config_file, XDG_CACHE_HOME=str(tmp_path), **aws_env)
    # The first run also writes the JVM's class-data-sharing archive; the second one uses it.
    for _attempt in (1, 2):
        r = run([ansible_inventory, "-i", SCRIPT, "--list"], env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        inv = parse(r.stdout)
        assert hosts(inv, "teleport_proxy_eu_central_1") == world["tp-proxy-eu"]
        assert "testing-secret-never-printed" not in r.stdout
        archives = list((tmp_path / "teleport-inventory").glob("*"))
        assert [a.suffix for a in archives] == [".jsa"], archives  # published whole, no leftovers


def test_local_mode_failure_is_reported_with_the_services_reason(config_file, aws_env, tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("cluster: tp.example.com\nregions: [us-west2]\n")
    r = run([sys.executable, SCRIPT, "--list"], clean_env(TELEPORT_INVENTORY_CONFIG=str(cfg), **aws_env))
    assert r.returncode == 1 and r.stdout == ""
    assert "regions[0]: 'us-west2' is not an AWS region name" in r.stderr


def test_the_script_uses_only_the_standard_library():
    tree = ast.parse(open(SCRIPT, encoding="utf-8").read())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)
