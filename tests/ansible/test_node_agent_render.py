"""Renders roles/node_agent's config (the contract with node-agent) and peers file
through real Ansible for an auth host and proxies in two regions."""
import datetime
import grp
import os
import pwd

import pytest
import yaml
from conftest import HERE, failures_by_host, local_host_vars, play

PUBLIC = ["teleport.example.com:443", "internal.example.com:443"]
JAR = HERE.parents[1] / "node-agent" / "target" / "node-agent.jar"


def ca_pem(name="Inventory Test CA"):
    """A self-signed CA certificate as PEM (no key kept: only its shape matters here)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA = ca_pem()
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("node-agent")
    out = tmp / "out"
    out.mkdir()
    jar = tmp / "node-agent.jar"
    jar.write_bytes(b"PK")
    # ansible_host is what Ansible connects through (here an SSM instance id), never what the agent binds.
    proxies = {
        "proxy-a": {"teleport_role": "proxy", "ansible_host": "i-0aaaaaaaaaaaaaaaa", "teleport_peer_public_addr": "198.18.1.10:3021",
                    "render_facts": {"default_ipv4": {"address": "198.18.1.10"}}},
        "proxy-b": {"teleport_role": "proxy", "ansible_host": "i-0bbbbbbbbbbbbbbbb", "teleport_peer_public_addr": "198.18.2.10:3021",
                    "render_facts": {"default_ipv4": {"address": "198.18.2.10"}},
                    "node_agent_peers_inventory_url": "https://inventory.internal:8790/v1/peers",
                    "node_agent_peers_inventory_token": "s3cret", "node_agent_peers_inventory_ca_pem": CA},
        "proxy-c": {"teleport_role": "proxy", "teleport_peer_public_addr": "198.18.2.12:3021",
                    "node_agent_peers_inventory_url": "http://198.18.0.1:8790/v1/peers",
                    "node_agent_peers_inventory_token": "s3cret", "node_agent_peers_inventory_allow_plaintext": True},
        "mesh-proxy": {"teleport_role": "proxy", "teleport_tunnel_strategy": "agent_mesh",
                       "teleport_peer_public_addr": "198.18.2.11:3021", "teleport_ssh_service_enabled": False},
    }
    inventory = {"all": {
        "vars": local_host_vars(render_dir=str(out), node_agent_jar_src=str(jar), teleport_public_addr=PUBLIC,
                                teleport_tunnel_strategy="proxy_peering"),
        "children": {"teleport_auth": {"hosts": {"auth-1": {"teleport_role": "auth", "ansible_host": "198.18.1.5"}}},
                     "teleport_proxy": {"hosts": proxies}},
    }}
    result = play(HERE / "render_node_agent.yml", inventory, tmp)
    assert result.rc == 0, result.text[-6000:]
    return out


def load(out, host):
    return yaml.safe_load((out / f"{host}.node-agent.yaml").read_text())


def test_the_key_belongs_to_the_user_teleport_runs_as(rendered):
    # Root with the SSH Service on (roles/teleport's drop-in), Teleport's own user without.
    assert load(rendered, "proxy-a")["tls"]["owner"] == "root"
    assert load(rendered, "mesh-proxy")["tls"]["owner"] == "teleport"


def test_proxy_config_follows_the_contract(rendered):
    config = load(rendered, "proxy-a")
    assert config["listen_addr"] == "198.18.1.10:9810"  # the host's private address from facts
    assert config["tls"] == {
        "enabled": True,
        "source_dir": "/var/lib/node-agent/tls-incoming",
        "target_dir": "/etc/teleport-tls",
        # Teleport runs as root with its SSH Service on (the default): the key is root's.
        "owner": "root",
        "group": "teleport",
        "required_names": ["teleport.example.com", "internal.example.com",
                           "*.teleport.example.com", "*.internal.example.com"],
        "trust_bundle": "/etc/ssl/certs/ca-certificates.crt",
        "min_validity": "168h",
        "rescan_interval": "30s",
        "reload": {"mode": "interval"},
        "verify": {"addr": "127.0.0.1:3080", "server_name": "teleport.example.com", "timeout": "60s"},
    }
    assert config["peers"] == {
        "enabled": True,
        "self_addr": "198.18.1.10:3021",
        "refresh_interval": "60s",
        "probe_interval": "15s",
        "probe_timeout": "3s",
        "file": "/etc/node-agent/peers.txt",
    }


def test_inventory_url_token_file_and_ca_file_when_configured(rendered):
    peers = load(rendered, "proxy-b")["peers"]
    assert peers["inventory_url"] == "https://inventory.internal:8790/v1/peers"
    assert peers["inventory_token_file"] == "/etc/node-agent/inventory-token"
    assert peers["inventory_ca_file"] == "/etc/node-agent/inventory-ca.pem"
    assert "inventory_allow_plaintext" not in peers
    text = (rendered / "proxy-b.node-agent.yaml").read_text()
    assert "s3cret" not in text and "BEGIN CERTIFICATE" not in text


def test_plain_http_beyond_the_proxy_only_when_allowed_and_said_so_in_the_config(rendered):
    peers = load(rendered, "proxy-c")["peers"]
    assert peers["inventory_url"] == "http://198.18.0.1:8790/v1/peers"
    assert peers["inventory_allow_plaintext"] is True
    assert "inventory_ca_file" not in peers


def test_peers_file_lists_every_proxy_of_the_inventory(rendered):
    lines = [line for line in (rendered / "proxy-a.peers.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["198.18.1.10:3021", "198.18.2.10:3021", "198.18.2.11:3021", "198.18.2.12:3021"]


def test_an_agent_mesh_proxy_probes_no_peers(rendered):
    # Teleport opens no peer listener under the agent mesh: nothing to probe, TLS rotation still on.
    config = load(rendered, "mesh-proxy")
    assert config["peers"] == {"enabled": False}
    assert config["tls"]["enabled"] is True
    assert config["listen_addr"] == "127.0.0.1:9810"  # no facts: loopback, never ansible_host


def test_auth_host_runs_metrics_only(rendered):
    config = load(rendered, "auth-1")
    assert config["tls"] == {"enabled": False}
    assert config["peers"] == {"enabled": False}


def test_unit_is_fully_hardened(rendered):
    unit = (rendered / "proxy-a.node-agent.service").read_text()
    for directive in ["NoNewPrivileges=true", "CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER", "ProtectSystem=strict", "ProtectHome=true",
                      "PrivateTmp=true", "PrivateDevices=true", "SystemCallFilter=@system-service",
                      "ReadWritePaths=/var/lib/node-agent /etc/teleport-tls", "SupplementaryGroups=teleport"]:
        assert directive in unit, directive


def test_preflight_names_the_variable_on_bad_input(tmp_path):
    jar = tmp_path / "node-agent.jar"
    jar.write_bytes(b"PK")
    proxy = {"teleport_role": "proxy", "ansible_host": "198.18.1.10", "teleport_peer_public_addr": "a.internal:3021"}
    hosts = {
        "no_self_addr": {**proxy, "teleport_peer_public_addr": ""},
        "no_names": {**proxy, "teleport_public_addr": []},
        # Durations are the agent's to judge (its check, at configure): the preflight passes them through.
        "durations": {**proxy, "node_agent_peers_probe_interval": "2s", "node_agent_peers_probe_timeout": "1h30x"},
    }
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), node_agent_jar_src=str(jar), teleport_public_addr=PUBLIC,
                                                 teleport_tunnel_strategy="proxy_peering"),
                         "children": {"teleport_proxy": {"hosts": hosts}}}}
    result = play(HERE / "render_node_agent.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    failures = failures_by_host(result)
    assert any("node_agent_peers_self_addr" in m for m in failures["no_self_addr"])
    assert any("teleport_public_addr" in m for m in failures["no_names"])
    assert "durations" not in failures
    peers = load(tmp_path, "durations")["peers"]
    assert (peers["probe_interval"], peers["probe_timeout"]) == ("2s", "1h30x")


def test_preflight_keeps_the_inventory_token_and_peer_list_safe(tmp_path):
    jar = tmp_path / "node-agent.jar"
    jar.write_bytes(b"PK")
    proxy = {"teleport_role": "proxy", "ansible_host": "198.18.1.10", "teleport_peer_public_addr": "a.internal:3021",
             "node_agent_peers_inventory_token": "s3cret"}

    def url(u, **more):
        return {**proxy, "node_agent_peers_inventory_url": u, **more}

    hosts = {
        "http_beyond": url("http://198.18.0.1:8790/v1/peers"),
        # A name that merely starts like a loopback address is a name.
        "http_by_name": url("http://127.0.0.1.example.com:8790/v1/peers"),
        "http_wildcard": url("http://0.0.0.0:8790/v1/peers"),
        "http_loopback": url("http://127.0.0.1:8790/v1/peers"),
        "http_loopback_v6": url("http://[::1]:8790/v1/peers"),
        "http_localhost": url("http://localhost:8790/v1/peers"),
        "http_no_token": url("http://198.18.0.1:8790/v1/peers", node_agent_peers_inventory_token=""),
        "http_allowed": url("http://198.18.0.1:8790/v1/peers", node_agent_peers_inventory_allow_plaintext=True),
        "https_ca": url("https://inventory.internal:8790/v1/peers", node_agent_peers_inventory_ca_pem=CA),
        "ca_over_http": url("http://127.0.0.1:8790/v1/peers", node_agent_peers_inventory_ca_pem=CA),
        "ca_without_url": {**proxy, "node_agent_peers_inventory_ca_pem": CA},
        "ca_not_pem": url("https://inventory.internal:8790/v1/peers", node_agent_peers_inventory_ca_pem="not a certificate"),
        "ca_with_key": url("https://inventory.internal:8790/v1/peers", node_agent_peers_inventory_ca_pem=CA + KEY_PEM),
    }
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), node_agent_jar_src=str(jar), teleport_public_addr=PUBLIC,
                                                 teleport_tunnel_strategy="proxy_peering"),
                         "children": {"teleport_proxy": {"hosts": hosts}}}}
    result = play(HERE / "render_node_agent.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    failures = failures_by_host(result)
    for host, u in [("http_beyond", "http://198.18.0.1:8790/v1/peers"),
                    ("http_by_name", "http://127.0.0.1.example.com:8790/v1/peers"),
                    ("http_wildcard", "http://0.0.0.0:8790/v1/peers")]:
        assert failures[host] == [
            f'node_agent_peers_inventory_url "{u}" is plain http to a host other than the proxy itself, so the inventory'
            " token (node_agent_peers_inventory_token) would cross the network readable: use an https URL (with"
            " node_agent_peers_inventory_ca_pem for a private CA), or, on a trusted test network only, set"
            " node_agent_peers_inventory_allow_plaintext to true."], host
    for host in ["http_loopback", "http_loopback_v6", "http_localhost", "http_no_token", "http_allowed", "https_ca"]:
        assert host not in failures, (host, failures.get(host))
    assert failures["ca_over_http"] == [
        'node_agent_peers_inventory_ca_pem is set, but node_agent_peers_inventory_url "http://127.0.0.1:8790/v1/peers"'
        " is not https, so no CA protects it: use an https URL, or remove node_agent_peers_inventory_ca_pem."]
    assert any("node_agent_peers_inventory_ca_pem is set, but node_agent_peers_inventory_url \"\"" in m
               for m in failures["ca_without_url"])
    assert any("node_agent_peers_inventory_ca_pem holds no '-----BEGIN CERTIFICATE-----' block" in m
               for m in failures["ca_not_pem"])
    assert failures["ca_with_key"] == [
        'node_agent_peers_inventory_ca_pem holds a "-----BEGIN PRIVATE KEY-----" block, but only CERTIFICATE blocks'
        " belong in it (it lands readable by every user): remove the rest."]
    assert "c2VjcmV0" not in result.text
    assert not (tmp_path / "ca_with_key.node-agent.yaml").exists()


def configure_hosts(tmp_path, hosts, **env):
    """Runs the role's configure tasks for proxies {name: host vars}, each into tmp_path/<name>/etc;
    returns the CompletedProcess."""
    if os.geteuid() != 0:
        pytest.fail("the role's configure tasks give files to root: run as root")
    assert JAR.exists(), f"{JAR} is missing: build it with mvn -B -ntp -pl node-agent -am package"
    stub = tmp_path / "node-agent.jar"
    stub.write_bytes(b"PK")
    inventory = {"all": {"vars": local_host_vars(
        node_agent_jar_src=str(stub),
        # The role's own validate command runs the jar Maven built: the jar accepts what the role writes.
        node_agent_install_dir=str(JAR.parent),
        node_agent_user=pwd.getpwuid(os.getuid()).pw_name, node_agent_group=grp.getgrgid(os.getgid()).gr_name,
        node_agent_tls_enabled=False, teleport_tunnel_strategy="proxy_peering"),
        "hosts": {name: {"teleport_role": "proxy", "teleport_peer_public_addr": "198.18.1.10:3021",
                         "node_agent_config_dir": str(tmp_path / name / "etc"),
                         "node_agent_state_dir": str(tmp_path / name / "state"), **host_vars}
                  for name, host_vars in hosts.items()}}}
    return play(HERE / "configure_node_agent.yml", inventory, tmp_path, env=env)


def configure(tmp_path, host_vars):
    result = configure_hosts(tmp_path, {"proxy": host_vars})
    assert result.rc == 0, result.text[-6000:]
    return tmp_path / "proxy" / "etc"


def test_the_agents_own_check_judges_durations_and_the_failure_names_the_variables(tmp_path):
    """One duration grammar, Go's, in the agent (config-support's GoDuration): the role passes values through,
    the template's validate runs the agent's check, and its refusal is told by the role's variables."""
    tls = {"node_agent_tls_enabled": True, "node_agent_tls_owner": "root", "node_agent_tls_group": "root",
           "teleport_public_addr": PUBLIC}
    hosts = {
        "slow_probe": {"node_agent_peers_probe_interval": "2s", "node_agent_peers_probe_timeout": "3s"},
        # Go's syntax beyond one number and unit: the relation still holds.
        "slow_probe_go": {"node_agent_peers_probe_interval": "1m", "node_agent_peers_probe_timeout": "1m0.5s"},
        "not_durations": {"node_agent_peers_probe_interval": "15 seconds", "node_agent_peers_refresh_interval": "1h30x"},
        "tls_durations": {**tls, "node_agent_tls_min_validity": "1w", "node_agent_tls_verify_timeout": "60"},
        "go_durations": {"node_agent_peers_probe_interval": "1m30s", "node_agent_peers_probe_timeout": "1.5s",
                         "node_agent_peers_refresh_interval": "2m0.5s"},
        # Any other failure of the check is reported as Ansible saw it.
        "no_jar": {"node_agent_install_dir": str(tmp_path / "nowhere")},
    }
    for name, host_vars in hosts.items():
        if host_vars.get("node_agent_tls_enabled"):
            host_vars.update(node_agent_tls_source_dir=str(tmp_path / name / "incoming"),
                             node_agent_tls_target_dir=str(tmp_path / name / "tls"))
    result = configure_hosts(tmp_path, hosts, ANSIBLE_STDOUT_CALLBACK="json")
    failures = failures_by_host(result)
    told = {host: [m for m in msgs if m != "failed to validate"] for host, msgs in failures.items()}
    said = "The node-agent refused the config this role renders from its variables (docs/node-agent.md):\n"
    assert told["slow_probe"] == [said + 'node_agent_peers_probe_timeout ("3s"): must be shorter than'
                                         " node_agent_peers_probe_interval (2s)"]
    assert told["slow_probe_go"] == [said + 'node_agent_peers_probe_timeout ("1m0.5s"): must be shorter than'
                                            " node_agent_peers_probe_interval (1m)"]
    units = "use a number with a unit (ns, us, ms, s, m, h), for example 500ms, 30s, 5m or 168h"
    assert sorted(told["not_durations"][0].removeprefix(said).splitlines()) == [
        f"node_agent_peers_probe_interval (\"15 seconds\"): '15 seconds' is not a duration (unknown unit ' seconds'); {units}",
        f"node_agent_peers_refresh_interval (\"1h30x\"): '1h30x' is not a duration (unknown unit 'x'); {units}"]
    assert sorted(told["tls_durations"][0].removeprefix(said).splitlines()) == [
        f"node_agent_tls_min_validity (\"1w\"): '1w' is not a duration (unknown unit 'w'); {units}",
        f"node_agent_tls_verify_timeout (\"60\"): '60' is not a duration (missing unit); {units}"]
    assert len(told["no_jar"]) == 1 and told["no_jar"][0].startswith("failed to validate: ")
    assert "nowhere/node-agent.jar" in told["no_jar"][0]
    assert "go_durations" not in failures
    peers = yaml.safe_load((tmp_path / "go_durations/etc/node-agent.yaml").read_text())["peers"]
    assert (peers["probe_interval"], peers["probe_timeout"], peers["refresh_interval"]) == ("1m30s", "1.5s", "2m0.5s")
    # A refused config never lands.
    assert sorted(p.parent.parent.name for p in tmp_path.glob("*/etc/node-agent.yaml")) == ["go_durations"]


def test_the_inventory_ca_lands_beside_the_config_root_owned_readable_and_accepted_by_the_jar(tmp_path):
    https = {"node_agent_peers_inventory_url": "https://inventory.internal:8790/v1/peers",
             "node_agent_peers_inventory_token": "s3cret-token"}
    config_dir = configure(tmp_path, {**https, "node_agent_peers_inventory_ca_pem": CA})
    ca = config_dir / "inventory-ca.pem"
    assert ca.read_text() == CA
    assert (oct(ca.stat().st_mode & 0o777), ca.stat().st_uid, ca.stat().st_gid) == ("0o644", 0, 0)
    config = yaml.safe_load((config_dir / "node-agent.yaml").read_text())
    assert config["peers"]["inventory_ca_file"] == str(ca)

    # Without the CA the config no longer names it, and the file goes.
    config_dir = configure(tmp_path, https)
    assert "inventory_ca_file" not in yaml.safe_load((config_dir / "node-agent.yaml").read_text())["peers"]
    assert not ca.exists()


@pytest.mark.parametrize("last_rotation, says", [
    ({"result": "rejected", "reason": "unreadable"}, "left in place in /var/lib/node-agent/tls-incoming, not moved aside"),
    ({"result": "rejected", "reason": "hard_link"}, "left in place in /var/lib/node-agent/tls-incoming, not moved aside"),
    ({"result": "rejected", "reason": "expired"}, "moved aside with a REASON file to /var/lib/node-agent/tls-incoming-rejected/"),
    ({"result": "rolled_back", "reason": "not_confirmed"}, "moved aside with a REASON file"),
    ({"result": "failed", "reason": None}, "left it in /var/lib/node-agent/tls-incoming, to be tried again"),
])
def test_a_refused_pair_is_said_to_be_where_the_agent_left_it(tmp_path, last_rotation, says):
    jar = tmp_path / "node-agent.jar"
    jar.write_bytes(b"PK")
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), node_agent_jar_src=str(jar)),
                         "hosts": {"auth-1": {"teleport_role": "auth", "sample_tls_status": {
                             "enabled": True, "last_rotation": {**last_rotation, "detail": "...", "at": "2026-01-01T00:00:00Z"}}}}}}
    result = play(HERE / "render_node_agent.yml", inventory, tmp_path)
    assert result.rc == 0, result.text[-4000:]
    text = (tmp_path / "auth-1.tls-refusal.txt").read_text()
    assert says in text
    assert ("moved aside with" in text) == (last_rotation["result"] == "rolled_back" or last_rotation["reason"] == "expired")


def test_preflight_names_a_missing_jar(tmp_path):
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), node_agent_jar_src=str(tmp_path / "missing.jar")),
                         "hosts": {"auth-1": {"teleport_role": "auth"}}}}
    result = play(HERE / "render_node_agent.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    assert any("node_agent_jar_src" in m and "mvn" in m for m in failures_by_host(result)["auth-1"])


def test_auth_unit_keeps_no_capability(rendered):
    unit = (rendered / "auth-1.node-agent.service").read_text()
    assert "CapabilityBoundingSet=\n" in unit and "AmbientCapabilities=\n" in unit
    assert "SupplementaryGroups" not in unit and "UMask=0027" in unit


def test_docs_example_unit_is_the_rendered_one(rendered):
    """docs/examples/node-agent-proxy.service is what the role renders for a proxy (UPDATE_EXAMPLES=1 rewrites it)."""
    import os
    body = "\n".join(line for line in (rendered / "proxy-a.node-agent.service").read_text().splitlines()
                     if not line.startswith("#")) + "\n"
    header = ("# node-agent-proxy.service: what roles/node_agent renders for a proxy (TLS rotation and peer probes on).\n"
              "# Generated by tests/ansible/test_node_agent_render.py.\n")
    path = HERE.parents[1] / "docs" / "examples" / "node-agent-proxy.service"
    if os.environ.get("UPDATE_EXAMPLES"):
        path.write_text(header + body)
    assert path.read_text() == header + body, f"{path} is stale: run UPDATE_EXAMPLES=1 pytest tests/ansible/test_node_agent_render.py"
