"""Renders roles/inventory_service's config (merged over the role's keys), environment
and unit through real Ansible, and checks its preflight."""
import yaml
from conftest import HERE, failures_by_host, local_host_vars, run_playbook


def render(tmp_path, hosts):
    jar = tmp_path / "inventory-service.jar"
    jar.write_bytes(b"PK")
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), inventory_service_jar_src=str(jar)),
                         "hosts": hosts}}
    return run_playbook(HERE / "render_inventory_service.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})


def test_config_merges_extra_keys_and_points_at_the_token_file(tmp_path):
    result = render(tmp_path, {"mgmt": {
        "inventory_service_cluster": "teleport.example.com",
        "inventory_service_regions": ["us-west-2", "eu-central-1"],
        "inventory_service_listen_addr": "0.0.0.0:8790",
        "inventory_service_token": "tok-123",
        "inventory_service_config": {"refresh": {"interval": "30s"}, "serve": {"listen_addr": "0.0.0.0:8791"}},
        "inventory_service_environment": {"AWS_REGION": "us-west-2"},
    }})
    assert result.returncode == 0, result.stdout[-3000:]
    config = yaml.safe_load((tmp_path / "mgmt.inventory-service.yaml").read_text())
    assert config == {
        "cluster": "teleport.example.com",
        "regions": ["us-west-2", "eu-central-1"],
        "serve": {"listen_addr": "0.0.0.0:8791", "token_file": "/etc/inventory-service/token"},
        "refresh": {"interval": "30s"},
    }
    assert "tok-123" not in (tmp_path / "mgmt.inventory-service.yaml").read_text()
    assert "AWS_REGION=us-west-2" in (tmp_path / "mgmt.environment").read_text()
    unit = (tmp_path / "mgmt.inventory-service.service").read_text()
    assert "serve --config /etc/inventory-service/inventory-service.yaml" in unit
    assert "CapabilityBoundingSet=\n" in unit and "ProtectSystem=strict" in unit and "NoNewPrivileges=true" in unit


def test_preflight_refuses_missing_scope_and_an_open_listener_without_token(tmp_path):
    result = render(tmp_path, {
        "no_scope": {},
        "open_no_token": {"inventory_service_cluster": "c", "inventory_service_regions": ["us-west-2"],
                          "inventory_service_listen_addr": "0.0.0.0:8790"},
    })
    failures = failures_by_host(result.stdout)
    assert any("inventory_service_cluster" in m and "inventory_service_regions" in m for m in failures["no_scope"])
    assert any("inventory_service_token is empty" in m for m in failures["open_no_token"])
