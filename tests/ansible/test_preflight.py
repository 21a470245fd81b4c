"""Bad input fails in the teleport role's preflight with a message that names the
variable and the fix. One ansible-playbook run, one bad host per case."""
import pytest

from conftest import HERE, failures_by_host, local_host_vars, messages_by_host, run_playbook

GOOD_AUTH = {
    "teleport_role": "auth",
    "teleport_storage_type": "dynamodb",
    "teleport_storage_region": "us-west-2",
    "teleport_dynamodb_table_name": "state",
}
GOOD_PROXY = {
    "teleport_role": "proxy",
    "teleport_public_addr": ["teleport.example.com:443"],
    "teleport_peer_public_addr": "p1.internal:3021",
    "teleport_auth_server": "auth.internal:3025",
    "teleport_join_token": "t",
}

# host name -> (host vars, text the failure message must contain)
CASES = {
    "no_role": ({**GOOD_AUTH, "teleport_role": "node"}, "teleport_role"),
    "no_cluster_name": ({**GOOD_AUTH, "teleport_cluster_name": ""}, "teleport_cluster_name is empty"),
    "bad_sha": ({**GOOD_AUTH, "teleport_tarball_sha256": "abc"}, "teleport_tarball_sha256 must be"),
    "ent_no_license": ({**GOOD_AUTH, "teleport_edition": "enterprise"}, "teleport_license_src"),
    "zero_connections": ({**GOOD_AUTH, "teleport_agent_connection_count": 0}, "teleport_agent_connection_count is 0"),
    "dynamodb_no_table": ({**GOOD_AUTH, "teleport_dynamodb_table_name": ""}, "teleport_dynamodb_table_name is empty"),
    "postgres_password": ({**GOOD_AUTH, "teleport_storage_type": "postgresql",
                           "teleport_postgres_conn_string": "postgresql://teleport:hunter2@pg/teleport_backend"},
                          "teleport_postgres_conn_string embeds a password"),
    "cockroach_no_conn": ({**GOOD_AUTH, "teleport_storage_type": "cockroachdb"}, "teleport_postgres_conn_string is empty"),
    "etcd_no_creds": ({**GOOD_AUTH, "teleport_storage_type": "etcd", "teleport_etcd_peers": ["https://e:2379"]},
                      "teleport_etcd_tls_cert_file"),
    "events_without_sessions": ({**GOOD_AUTH, "teleport_storage_audit_events_uri": ["dynamodb://ev"]},
                                "teleport_storage_audit_sessions_uri"),
    "proxy_no_peer_addr": ({**GOOD_PROXY, "teleport_peer_public_addr": "p1.internal"}, "teleport_peer_public_addr"),
    "proxy_no_public_addr": ({**GOOD_PROXY, "teleport_public_addr": []}, "teleport_public_addr"),
    "proxy_no_auth_server": ({**GOOD_PROXY, "teleport_auth_server": ""}, "teleport_auth_server"),
    "proxy_no_token": ({**GOOD_PROXY, "teleport_join_token": ""}, "teleport_join_token"),
    "proxy_iam_no_name": ({**GOOD_PROXY, "teleport_join_method": "iam"}, "teleport_join_token_name"),
}
GOOD = {"good_auth": GOOD_AUTH, "good_proxy": GOOD_PROXY,
        "one_connection": {**GOOD_AUTH, "teleport_agent_connection_count": 1}}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preflight")
    hosts = {name: hv for name, (hv, _) in CASES.items()}
    hosts.update(GOOD)
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp), teleport_cluster_name="teleport.example.com",
                                                 teleport_tarball_sha256="b" * 64),
                         "hosts": hosts}}
    result = run_playbook(HERE / "render_teleport.yml", inventory, tmp, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    assert result.returncode != 0, "the bad hosts must fail"
    return failures_by_host(result.stdout), messages_by_host(result.stdout)


@pytest.mark.parametrize("host", sorted(CASES))
def test_bad_input_fails_naming_the_variable(outcome, host):
    failures, _ = outcome
    expected = CASES[host][1]
    assert host in failures, f"{host} did not fail"
    assert any(expected in msg for msg in failures[host]), failures[host]


def test_good_hosts_pass_preflight(outcome):
    failures, _ = outcome
    for host in GOOD:
        assert host not in failures, failures.get(host)


def test_a_single_agent_connection_only_warns(outcome):
    _, messages = outcome
    assert any("WARNING: teleport_agent_connection_count is 1" in m for m in messages["one_connection"])
