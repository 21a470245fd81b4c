"""Renders roles/inventory_service's config (merged over the role's keys), environment
and unit through real Ansible, checks its preflight, and runs its configure tasks
into a scratch directory to read back the secret files' owners and modes."""
import grp
import json
import os
import pwd

import pytest
import yaml
from conftest import HERE, failures_by_host, local_host_vars, run_playbook

# Not a real pair: the role writes what it is given; the service checks the pair when it starts.
CERT = "-----BEGIN CERTIFICATE-----\nMIIB-test-certificate\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE-secret-key-material-0123\n-----END PRIVATE KEY-----\n"
SCOPE = {"inventory_service_cluster": "c", "inventory_service_regions": ["us-west-2"]}
TLS = {"inventory_service_tls_cert": CERT, "inventory_service_tls_key": KEY}


def render(tmp_path, hosts):
    jar = tmp_path / "inventory-service.jar"
    jar.write_bytes(b"PK")
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), inventory_service_jar_src=str(jar)),
                         "hosts": hosts}}
    return run_playbook(HERE / "render_inventory_service.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})


def test_config_merges_extra_keys_and_points_at_the_token_and_tls_files(tmp_path):
    result = render(tmp_path, {"mgmt": {
        "inventory_service_cluster": "teleport.example.com",
        "inventory_service_regions": ["us-west-2", "eu-central-1"],
        "inventory_service_listen_addr": "0.0.0.0:8790",
        "inventory_service_token": "tok-123",
        **TLS,
        "inventory_service_config": {"refresh": {"interval": "30s"}, "serve": {"listen_addr": "0.0.0.0:8791"}},
        "inventory_service_environment": {"AWS_REGION": "us-west-2"},
    }})
    assert result.returncode == 0, result.stdout[-3000:]
    config = yaml.safe_load((tmp_path / "mgmt.inventory-service.yaml").read_text())
    assert config == {
        "cluster": "teleport.example.com",
        "regions": ["us-west-2", "eu-central-1"],
        "serve": {"listen_addr": "0.0.0.0:8791", "token_file": "/etc/inventory-service/token",
                  "tls": {"cert_file": "/etc/inventory-service/tls.crt", "key_file": "/etc/inventory-service/tls.key"}},
        "refresh": {"interval": "30s"},
    }
    text = (tmp_path / "mgmt.inventory-service.yaml").read_text()
    assert "tok-123" not in text and "secret-key-material" not in text
    # The health probe follows the listener the service really gets, over HTTPS.
    derived = json.loads((tmp_path / "mgmt.derived.json").read_text())
    assert derived == {"health_url": "https://127.0.0.1:8791/healthz", "tls": True}
    assert "AWS_REGION=us-west-2" in (tmp_path / "mgmt.environment").read_text()
    unit = (tmp_path / "mgmt.inventory-service.service").read_text()
    assert "serve --config /etc/inventory-service/inventory-service.yaml" in unit
    assert "CapabilityBoundingSet=\n" in unit and "ProtectSystem=strict" in unit and "NoNewPrivileges=true" in unit


def test_a_loopback_listener_needs_neither_tls_nor_a_token_and_is_probed_over_http(tmp_path):
    result = render(tmp_path, {
        "default": dict(SCOPE),
        "v4": {**SCOPE, "inventory_service_listen_addr": "127.0.0.2:8790"},
        "v6": {**SCOPE, "inventory_service_listen_addr": "[::1]:8790"},
        "name": {**SCOPE, "inventory_service_listen_addr": "localhost:8790"},
    })
    assert result.returncode == 0, result.stdout[-3000:]
    assert yaml.safe_load((tmp_path / "default.inventory-service.yaml").read_text())["serve"] == {
        "listen_addr": "127.0.0.1:8790"}
    assert json.loads((tmp_path / "v6.derived.json").read_text()) == {
        "health_url": "http://[::1]:8790/healthz", "tls": False}


def test_preflight_refuses_missing_scope_and_an_open_listener_without_tls_and_a_token(tmp_path):
    result = render(tmp_path, {
        "no_scope": {},
        "open_bare": {**SCOPE, "inventory_service_listen_addr": "0.0.0.0:8790"},
        "open_token_only": {**SCOPE, "inventory_service_listen_addr": "10.0.0.5:8790", "inventory_service_token": "t"},
        "open_tls_only": {**SCOPE, **TLS, "inventory_service_listen_addr": "[::]:8790"},
        # A name that merely starts like a loopback address is a name.
        "open_by_name": {**SCOPE, **TLS, "inventory_service_listen_addr": "127.example.com:8790"},
        # The listener the service really gets counts, whichever variable sets it.
        "open_by_config": {**SCOPE, "inventory_service_config": {"serve": {"listen_addr": "0.0.0.0:8790"}}},
        "cert_without_key": {**SCOPE, "inventory_service_tls_cert": CERT},
        "open_with_both": {**SCOPE, **TLS, "inventory_service_listen_addr": "0.0.0.0:8790",
                           "inventory_service_token": "t"},
    })
    failures = failures_by_host(result.stdout)
    assert any("inventory_service_cluster" in m and "inventory_service_regions" in m for m in failures["no_scope"])
    both = "TLS (inventory_service_tls_cert and inventory_service_tls_key)"
    for host, addr, missing in [
        ("open_bare", "0.0.0.0:8790", f"{both} and inventory_service_token"),
        ("open_token_only", "10.0.0.5:8790", both),
        ("open_tls_only", "[::]:8790", "inventory_service_token"),
        ("open_by_name", "127.example.com:8790", "inventory_service_token"),
        ("open_by_config", "0.0.0.0:8790", f"{both} and inventory_service_token"),
    ]:
        assert [m for m in failures[host] if "beyond loopback" in m] == [
            f"inventory_service_listen_addr (serve.listen_addr) is {addr}, beyond loopback, so the service needs TLS"
            f" and a bearer token, and refuses to start without them; missing: {missing}. Set them (from a vault),"
            " or listen on 127.0.0.1."], host
    assert any("Set both inventory_service_tls_cert and inventory_service_tls_key" in m
               for m in failures["cert_without_key"])
    assert "open_with_both" not in failures


def configure(tmp_path, host_vars, *args):
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    config_dir = tmp_path / "etc"
    jar = tmp_path / "inventory-service.jar"
    jar.write_bytes(b"PK")
    inventory = {"all": {"vars": local_host_vars(
        inventory_service_jar_src=str(jar), inventory_service_config_dir=str(config_dir),
        inventory_service_user=user, inventory_service_group=group,
        inventory_service_config_validate_command="/bin/true %s"),
        "hosts": {"mgmt": host_vars}}}
    return run_playbook(HERE / "configure_inventory_service.yml", inventory, tmp_path, *args), config_dir


@pytest.fixture
def configured(tmp_path):
    result, config_dir = configure(tmp_path, {
        **SCOPE, **TLS, "inventory_service_listen_addr": "0.0.0.0:8790", "inventory_service_token": "tok-0123456789abcdef",
    }, "-vv")
    assert result.returncode == 0, result.stdout[-3000:]
    return result, config_dir


def test_the_tls_pair_lands_owned_by_the_service_user_and_the_key_readable_by_it_alone(configured):
    _, config_dir = configured
    key, cert = config_dir / "tls.key", config_dir / "tls.crt"
    assert key.read_text() == KEY and cert.read_text() == CERT
    assert (oct(key.stat().st_mode & 0o777), oct(cert.stat().st_mode & 0o777)) == ("0o600", "0o640")
    assert key.stat().st_uid == cert.stat().st_uid == os.getuid()
    assert oct((config_dir / "token").stat().st_mode & 0o777) == "0o640"


def test_the_key_and_the_token_never_appear_in_the_output(configured):
    result, _ = configured
    assert "secret-key-material" not in result.stdout + result.stderr
    assert "tok-0123456789abcdef" not in result.stdout + result.stderr
