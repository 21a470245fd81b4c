"""Renders roles/node_agent's config (the contract with node-agent) and peers file
through real Ansible for an auth host and proxies in two regions."""
import pytest
import yaml
from conftest import HERE, local_host_vars, run_playbook

PUBLIC = ["teleport.example.com:443", "internal.example.com:443"]


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
                    "node_agent_peers_inventory_url": "http://198.18.0.1:8790/v1/peers",
                    "node_agent_peers_inventory_token": "s3cret"},
        "mesh-proxy": {"teleport_role": "proxy", "teleport_tunnel_strategy": "agent_mesh",
                       "teleport_peer_public_addr": "198.18.2.11:3021"},
    }
    inventory = {"all": {
        "vars": local_host_vars(render_dir=str(out), node_agent_jar_src=str(jar), teleport_public_addr=PUBLIC,
                                teleport_tunnel_strategy="proxy_peering"),
        "children": {"teleport_auth": {"hosts": {"auth-1": {"teleport_role": "auth", "ansible_host": "198.18.1.5"}}},
                     "teleport_proxy": {"hosts": proxies}},
    }}
    result = run_playbook(HERE / "render_node_agent.yml", inventory, tmp)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return out


def load(out, host):
    return yaml.safe_load((out / f"{host}.node-agent.yaml").read_text())


def test_proxy_config_follows_the_contract(rendered):
    config = load(rendered, "proxy-a")
    assert config["listen_addr"] == "198.18.1.10:9810"  # the host's private address from facts
    assert config["tls"] == {
        "enabled": True,
        "source_dir": "/var/lib/node-agent/tls-incoming",
        "target_dir": "/etc/teleport-tls",
        "owner": "teleport",
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


def test_inventory_url_and_token_file_when_configured(rendered):
    peers = load(rendered, "proxy-b")["peers"]
    assert peers["inventory_url"] == "http://198.18.0.1:8790/v1/peers"
    assert peers["inventory_token_file"] == "/etc/node-agent/inventory-token"
    assert "s3cret" not in (rendered / "proxy-b.node-agent.yaml").read_text()


def test_peers_file_lists_every_proxy_of_the_inventory(rendered):
    lines = [line for line in (rendered / "proxy-a.peers.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["198.18.1.10:3021", "198.18.2.10:3021", "198.18.2.11:3021"]


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
    from conftest import failures_by_host
    jar = tmp_path / "node-agent.jar"
    jar.write_bytes(b"PK")
    proxy = {"teleport_role": "proxy", "ansible_host": "198.18.1.10", "teleport_peer_public_addr": "a.internal:3021"}
    hosts = {
        "slow_probe": {**proxy, "node_agent_peers_probe_interval": "2s", "node_agent_peers_probe_timeout": "3s"},
        "no_self_addr": {**proxy, "teleport_peer_public_addr": ""},
        "no_names": {**proxy, "teleport_public_addr": []},
    }
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), node_agent_jar_src=str(jar), teleport_public_addr=PUBLIC,
                                                 teleport_tunnel_strategy="proxy_peering"),
                         "children": {"teleport_proxy": {"hosts": hosts}}}}
    result = run_playbook(HERE / "render_node_agent.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    failures = failures_by_host(result.stdout)
    assert any("node_agent_peers_probe_timeout (3s) must be shorter" in m for m in failures["slow_probe"])
    assert any("node_agent_peers_self_addr" in m for m in failures["no_self_addr"])
    assert any("teleport_public_addr" in m for m in failures["no_names"])


def test_preflight_names_a_missing_jar(tmp_path):
    from conftest import failures_by_host
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), node_agent_jar_src=str(tmp_path / "missing.jar")),
                         "hosts": {"auth-1": {"teleport_role": "auth"}}}}
    result = run_playbook(HERE / "render_node_agent.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    assert any("node_agent_jar_src" in m and "mvn" in m for m in failures_by_host(result.stdout)["auth-1"])


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
