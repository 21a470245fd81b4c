"""The host:port addresses the teleport and node_agent preflights check are whole host:port
values: a value with a newline (which would add a line to peers.txt or a config), a template,
a space or a port outside 1-65535 fails naming the variable, and real addresses pass. Values
arrive as the inventory script hands them over: marked unsafe, never templated."""
import pytest
import yaml
from conftest import HERE, failures_by_host, local_host_vars, run_playbook, run_teleport_preflight


class Unsafe(str):
    """A value marked !unsafe, as teleport_inventory.py marks every value it reports."""


yaml.SafeDumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))

BAD = {
    "trailing_newline": "p1.internal:3021\n",
    "newline_in_host": "p1.internal\n:3021",
    "second_line": "p1.internal:3021\np2.internal:3021",
    "template": Unsafe("{{ 'p1' ~ '.internal' }}:3021"),
    "space": "p1 .internal:3021",
    "leading_space": " p1.internal:3021",
    "port_0": "p1.internal:0",
    "port_65536": "p1.internal:65536",
    "no_port": "p1.internal",
    "not_an_ipv4": "999.1.1.1:3021",
    "ipv6_without_brackets": "fd00::1:3021",
    "url": "https://p1.internal:3021",
}
# The cases every other address variable is checked with: what the pattern's anchors, classes
# and port range each refuse.
BAD_SHORT = ["trailing_newline", "template", "space", "port_65536"]
GOOD = {
    "name": "p1.internal:3021",
    "ipv4": "10.2.1.30:3021",
    "ipv6": "[fd00::1]:3021",
    "port_1": "p1.internal:1",
    "port_65535": "p1.internal:65535",
    "nlb": "teleport-auth-0123456789abcdef.elb.us-west-2.amazonaws.com:3025",
}

PROXY = {
    "teleport_role": "proxy",
    "teleport_edition": "enterprise",  # proxy peering, so teleport_peer_public_addr is checked
    "teleport_public_addr": ["teleport.example.com:443"],
    "teleport_peer_public_addr": "p1.internal:3021",
    "teleport_auth_server": "auth.internal:3025",
    "teleport_join_method": "token",
    "teleport_join_token": "t",
}
# host -> (host vars, the variable its failure must name)
TELEPORT_BAD = {
    **{f"peer_{case}": ({**PROXY, "teleport_peer_public_addr": BAD[case]}, "teleport_peer_public_addr") for case in BAD},
    **{f"auth_{case}": ({**PROXY, "teleport_auth_server": BAD[case]}, "teleport_auth_server") for case in BAD_SHORT},
    **{f"public_{case}": ({**PROXY, "teleport_public_addr": ["teleport.example.com:443", BAD[case]]}, "teleport_public_addr")
       for case in BAD_SHORT},
    **{f"tunnel_{case}": ({**PROXY, "teleport_tunnel_public_addr": BAD[case]}, "teleport_tunnel_public_addr") for case in BAD_SHORT},
}
TELEPORT_GOOD = {
    f"good_{case}": {**PROXY, "teleport_peer_public_addr": addr, "teleport_auth_server": addr, "teleport_public_addr": [addr],
                     "teleport_tunnel_public_addr": addr}
    for case, addr in GOOD.items()
}


def _messages(json_stdout, host):
    return " ".join(failures_by_host(json_stdout).get(host, []))


@pytest.fixture(scope="module")
def teleport_outcome(tmp_path_factory):
    hosts = {**{name: hv for name, (hv, _) in TELEPORT_BAD.items()}, **TELEPORT_GOOD}
    return run_teleport_preflight(hosts, tmp_path_factory.mktemp("host-port-teleport")).stdout


@pytest.mark.parametrize("host", sorted(TELEPORT_BAD))
def test_teleport_preflight_refuses_an_address_that_is_not_one_host_port(teleport_outcome, host):
    variable = TELEPORT_BAD[host][1]
    message = _messages(teleport_outcome, host)
    assert variable in message and "host:port" in message, f"{host}: {message or 'passed preflight'}"


@pytest.mark.parametrize("host", sorted(TELEPORT_GOOD))
def test_teleport_preflight_accepts_names_ipv4_and_bracketed_ipv6(teleport_outcome, host):
    assert _messages(teleport_outcome, host) == ""


def test_the_refusal_shows_the_value_escaped_and_untemplated(teleport_outcome):
    assert '"p1.internal:3021\\n"' in _messages(teleport_outcome, "peer_trailing_newline")
    assert "{{ 'p1' ~ '.internal' }}:3021" in _messages(teleport_outcome, "peer_template")


AGENT = {"teleport_role": "proxy", "teleport_tunnel_strategy": "proxy_peering", "node_agent_peers_group": "peers"}
# The peers group every case host probes: two good proxies.
PEERS = {"peer-1": {**AGENT, "teleport_peer_public_addr": "10.2.1.30:3021"},
         "peer-2": {**AGENT, "teleport_peer_public_addr": "[fd00::2]:3021"}}
AGENT_BAD = {f"self_{case}": {**AGENT, "teleport_peer_public_addr": value} for case, value in BAD.items()}
AGENT_GOOD = {f"good_{case}": {**AGENT, "teleport_peer_public_addr": addr} for case, addr in GOOD.items()}


@pytest.fixture(scope="module")
def agent_outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("host-port-agent")
    jar = tmp / "node-agent.jar"
    jar.write_bytes(b"PK")
    # A proxy whose group holds another proxy with a two-line address: that address would be
    # two lines of this proxy's peers.txt.
    readers = {"reader": {**AGENT, "teleport_peer_public_addr": "p9.internal:3021", "node_agent_peers_group": "hostile_peers"},
               "hostile": {**AGENT, "teleport_peer_public_addr": BAD["second_line"], "node_agent_peers_group": "hostile_peers"}}
    inventory = {"all": {
        "vars": local_host_vars(render_dir=str(tmp), node_agent_jar_src=str(jar), teleport_public_addr=["teleport.example.com:443"]),
        "children": {"peers": {"hosts": PEERS},
                     "cases": {"hosts": {**AGENT_BAD, **AGENT_GOOD}},
                     "hostile_peers": {"hosts": readers}},
    }}
    result = run_playbook(HERE / "render_node_agent.yml", inventory, tmp, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    return result.stdout


@pytest.mark.parametrize("host", sorted(AGENT_BAD))
def test_node_agent_preflight_refuses_a_self_addr_that_is_not_one_host_port(agent_outcome, host):
    message = _messages(agent_outcome, host)
    assert "node_agent_peers_self_addr" in message and "host:port" in message, f"{host}: {message or 'passed preflight'}"


@pytest.mark.parametrize("host", sorted([*AGENT_GOOD, *PEERS]))
def test_node_agent_preflight_accepts_names_ipv4_and_bracketed_ipv6(agent_outcome, host):
    assert _messages(agent_outcome, host) == ""


def test_node_agent_preflight_refuses_a_peers_file_address_of_another_proxy(agent_outcome):
    message = _messages(agent_outcome, "reader")
    assert "teleport_peer_public_addr" in message and "hostile" in message and '"p1.internal:3021\\np2.internal:3021"' in message, \
        message or "reader passed preflight"


def _preflight_pattern(role, name):
    tasks = yaml.safe_load((HERE.parents[1] / "roles" / role / "tasks" / "preflight.yml").read_text())
    found = [task["vars"][name] for task in tasks if name in task.get("vars", {})]
    assert found, f"roles/{role}/tasks/preflight.yml defines no {name}"
    return found


def test_both_roles_check_addresses_with_the_same_pattern():
    patterns = _preflight_pattern("teleport", "_teleport_host_port") + _preflight_pattern("node_agent", "_node_agent_host_port")
    assert len(set(patterns)) == 1, "roles/teleport and roles/node_agent preflight host:port patterns differ"
