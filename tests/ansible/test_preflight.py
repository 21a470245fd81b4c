"""Bad input fails in the teleport role's preflight with a message that names the
variable and the fix. One ansible-playbook run, one bad host per case."""
import pytest
import yaml
from argspec_doc import ROOT
from conftest import HERE, failures_by_host, local_host_vars, messages_by_host, play, run_teleport_preflight

IAM_ALLOW = [{"aws_account": "123456789012", "aws_arn": "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*"}]
GOOD_AUTH = {
    "teleport_role": "auth",
    "teleport_storage_type": "dynamodb",
    "teleport_storage_region": "us-west-2",
    "teleport_dynamodb_table_name": "state",
    "teleport_join_iam_allow": IAM_ALLOW,
}
GOOD_PROXY = {
    "teleport_role": "proxy",
    "teleport_public_addr": ["teleport.example.com:443"],
    "teleport_peer_public_addr": "p1.internal:3021",
    "teleport_auth_server": "auth.internal:3025",
    "teleport_join_method": "token",
    "teleport_join_token": "t",
}

NODE_AGENT_DEFAULTS = yaml.safe_load((ROOT / "roles/node_agent/defaults/main.yml").read_text())

ENTERPRISE = {"teleport_edition": "enterprise", "teleport_license_content": "-----BEGIN LICENSE-----"}

# host name -> (host vars, text the failure message must contain)
CASES = {
    "no_role": ({**GOOD_AUTH, "teleport_role": "node"}, "teleport_role"),
    "no_cluster_name": ({**GOOD_AUTH, "teleport_cluster_name": ""}, "teleport_cluster_name is empty"),
    "bad_sha": ({**GOOD_AUTH, "teleport_tarball_sha256": "abc"}, "teleport_tarball_sha256 must be"),
    "ent_no_license": ({**GOOD_AUTH, "teleport_edition": "enterprise"}, "teleport_license_src"),
    "zero_connections": ({**GOOD_AUTH, **ENTERPRISE, "teleport_agent_connection_count": 0}, "teleport_agent_connection_count is 0"),
    "oss_proxy_peering": ({**GOOD_AUTH, "teleport_tunnel_strategy": "proxy_peering"}, "Proxy Peering is an Enterprise-only"),
    "oss_cockroach": ({**GOOD_AUTH, "teleport_storage_type": "cockroachdb",
                       "teleport_postgres_conn_string": "postgresql://teleport@crdb/teleport"}, "the CockroachDB backend is Enterprise-only"),
    "bad_ca_pin": ({**GOOD_PROXY, "teleport_ca_pin": ["abc"]}, "teleport_ca_pin must be a list"),
    "dynamodb_no_table": ({**GOOD_AUTH, "teleport_dynamodb_table_name": ""}, "teleport_dynamodb_table_name is empty"),
    "postgres_password": ({**GOOD_AUTH, "teleport_storage_type": "postgresql",
                           "teleport_postgres_conn_string": "postgresql://teleport:hunter2@pg/teleport_backend"},
                          "teleport_postgres_conn_string embeds a password"),
    "cockroach_no_conn": ({**GOOD_AUTH, **ENTERPRISE, "teleport_storage_type": "cockroachdb"}, "teleport_postgres_conn_string is empty"),
    "etcd_no_creds": ({**GOOD_AUTH, "teleport_storage_type": "etcd", "teleport_etcd_peers": ["https://e:2379"]},
                      "teleport_etcd_tls_cert_file"),
    "events_without_sessions": ({**GOOD_AUTH, "teleport_storage_audit_events_uri": ["dynamodb://ev"]},
                                "teleport_storage_audit_sessions_uri"),
    "proxy_no_peer_addr": ({**GOOD_PROXY, **ENTERPRISE, "teleport_peer_public_addr": "p1.internal"}, "teleport_peer_public_addr"),
    "proxy_no_public_addr": ({**GOOD_PROXY, "teleport_public_addr": []}, "teleport_public_addr"),
    "proxy_no_auth_server": ({**GOOD_PROXY, "teleport_auth_server": ""}, "teleport_auth_server"),
    "proxy_no_token": ({**GOOD_PROXY, "teleport_join_token": ""}, "teleport_join_token"),
    "proxy_iam_no_name": ({**GOOD_PROXY, "teleport_join_method": "iam", "teleport_join_token_name": "",
                           "teleport_join_iam_allow": IAM_ALLOW}, "teleport_join_token_name"),
    # iam is the default method: who may join must be said.
    "iam_no_rules": ({**GOOD_AUTH, "teleport_join_iam_allow": []}, "teleport_join_iam_allow is empty"),
    "iam_rule_without_either": ({**GOOD_AUTH, "teleport_join_iam_allow": [{}]}, "needs aws_account or aws_arn"),
    "iam_misspelt_key": ({**GOOD_AUTH, "teleport_join_iam_allow": [{"aws_acount": "123456789012"}]},
                         "unknown key aws_acount"),
    "iam_short_account": ({**GOOD_AUTH, "teleport_join_iam_allow": [{"aws_account": "12345"}]},
                          "aws_account must be 12 digits"),
    "iam_newline_arn": ({**GOOD_AUTH, "teleport_join_iam_allow": [
        {"aws_arn": "arn:aws:sts::123456789012:assumed-role/r/i-*\nx"}]}, "aws_arn must be an STS or IAM ARN"),
    "iam_bad_name": ({**GOOD_AUTH, "teleport_join_token_name": "proxy token\n"}, "teleport_join_token_name must be"),
    # $ also matches before a trailing newline: these patterns end in \Z. A newline in the PID file
    # would start a directive of its own in the unit.
    "pid_file_newline": ({**GOOD_AUTH, "teleport_pid_file": "/run/teleport/teleport.pid\nExecStartPre=touch pwned"},
                         "teleport_pid_file is"),
    "pid_file_space": ({**GOOD_AUTH, "teleport_pid_file": "/run/teleport/tele port.pid"}, "teleport_pid_file is"),
    "pid_file_dot_dot": ({**GOOD_AUTH, "teleport_pid_file": "/run/../teleport.pid"}, "teleport_pid_file is"),
    "sha_newline": ({**GOOD_AUTH, "teleport_tarball_sha256": "a" * 64 + "\n"}, "teleport_tarball_sha256 must be"),
    "ca_pin_newline": ({**GOOD_PROXY, "teleport_ca_pin": ["sha256:" + "d" * 64 + "\n"]}, "teleport_ca_pin must be a list"),
    # One KEY=value per line of the unit's environment file: a newline would add a variable of its own.
    "env_newline": ({**GOOD_AUTH, "teleport_environment": {"AWS_REGION": "us-west-2\nTELEPORT_HA_START_FLAGS=--debug"}},
                    "teleport_environment must map"),
    "env_own_flags": ({**GOOD_AUTH, "teleport_environment": {"TELEPORT_HA_START_FLAGS": "--debug"}},
                      "teleport_environment must map"),
    "env_bad_name": ({**GOOD_AUTH, "teleport_environment": {"AWS REGION": "x"}}, "teleport_environment must map"),
    # The node-agent waits node_agent_tls_verify_timeout for Teleport's next re-read: the old defaults (1m, 60s)
    # left no margin and rolled rotations back at random.
    "reload_equals_verify": ({**GOOD_PROXY, "teleport_https_keypairs_reload_interval": "1m",
                              "node_agent_tls_verify_timeout": "60s"}, "at most half the verify timeout"),
    "reload_over_half_go": ({**GOOD_PROXY, "teleport_https_keypairs_reload_interval": "30.5s",
                             "node_agent_tls_verify_timeout": "1m0s"}, "teleport_https_keypairs_reload_interval is"),
    "reload_never": ({**GOOD_PROXY, "teleport_https_keypairs_reload_interval": "0",
                      "node_agent_tls_verify_timeout": "60s"}, "must be above 0"),
    # aws_edge opens a Kubernetes or database listener only in separate mode, on the port the proxy renders.
    "kube_in_multiplex": ({**GOOD_PROXY, "teleport_proxy_kube_listen_addr": "0.0.0.0:3026"},
                          "teleport_proxy_kube_listen_addr apply only with teleport_proxy_listener_mode separate"),
    "mysql_no_port": ({**GOOD_PROXY, "teleport_proxy_listener_mode": "separate", "teleport_proxy_mysql_listen_addr": "3036"},
                      "must each be empty or one host:port"),
    "kube_on_the_tunnel_port": ({**GOOD_PROXY, "teleport_proxy_listener_mode": "separate",
                                 "teleport_proxy_kube_listen_addr": "0.0.0.0:3024"}, "The proxy's listeners share a port"),
}
GOOD = {"good_auth": GOOD_AUTH, "good_proxy": GOOD_PROXY,
        "iam_proxy": {**GOOD_PROXY, "teleport_join_method": "iam", "teleport_join_token": "", "teleport_join_iam_allow": IAM_ALLOW},
        "iam_arn_only": {**GOOD_AUTH, "teleport_join_iam_allow": [{"aws_arn": "arn:aws:sts::*:assumed-role/teleport-proxy/*"}]},
        "plain_env": {**GOOD_AUTH, "teleport_environment": {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}},
        "one_connection": {**GOOD_AUTH, **ENTERPRISE, "teleport_agent_connection_count": 1},
        "pinned_proxy": {**GOOD_PROXY, "teleport_ca_pin": ["sha256:" + "d" * 64]},
        "mesh_proxy_no_peer_addr": {**GOOD_PROXY, "teleport_peer_public_addr": ""},
        # Half the verify timeout exactly; the role's defaults; a reload command instead of the interval; values
        # outside Go's grammar, which Teleport's and the agent's own checks refuse by name.
        "reload_half": {**GOOD_PROXY, "teleport_https_keypairs_reload_interval": "30s", "node_agent_tls_verify_timeout": "1m"},
        "reload_defaults": {**GOOD_PROXY, "node_agent_tls_verify_timeout": NODE_AGENT_DEFAULTS["node_agent_tls_verify_timeout"]},
        "reload_by_command": {**GOOD_PROXY, "teleport_https_keypairs_reload_interval": "5m",
                              "node_agent_tls_verify_timeout": "60s", "node_agent_tls_reload_mode": "command"},
        "separate_listeners": {**GOOD_PROXY, "teleport_proxy_listener_mode": "separate",
                               "teleport_proxy_kube_listen_addr": "0.0.0.0:3026",
                               "teleport_proxy_postgres_listen_addr": "0.0.0.0:5432"},
        "reload_not_go": {**GOOD_PROXY, "teleport_https_keypairs_reload_interval": "1 minute",
                          "node_agent_tls_verify_timeout": "60s"}}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preflight")
    result = run_teleport_preflight({**{name: hv for name, (hv, _) in CASES.items()}, **GOOD}, tmp)
    assert result.rc != 0, "the bad hosts must fail"
    return failures_by_host(result), messages_by_host(result)


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


def _auth_pool_outcome(tmp_path, **pool_vars):
    hosts = {"auth-1": {}, "auth-2": {}}
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), teleport_cluster_name="teleport.example.com",
                                                 teleport_tarball_sha256="b" * 64, **GOOD_AUTH, **pool_vars),
                         "children": {"teleport_auth": {"hosts": hosts}}}}
    result = play(HERE / "render_teleport.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    return result.rc, failures_by_host(result)


@pytest.mark.parametrize("case, pool_vars", [
    ("no audit settings", {}),
    ("events only on stdout", {"teleport_storage_audit_events_uri": ["stdout://"],
                               "teleport_storage_audit_sessions_uri": "s3://rec/records"}),
    ("recordings on local disk", {"teleport_storage_audit_events_uri": ["dynamodb://events"],
                                  "teleport_storage_audit_sessions_uri": "file:///var/lib/teleport/log"}),
])
def test_several_auth_servers_refuse_audit_on_local_disk(tmp_path, case, pool_vars):
    rc, failures = _auth_pool_outcome(tmp_path, **pool_vars)
    assert rc != 0, case
    for host in ("auth-1", "auth-2"):
        assert any("The auth pool has 2 servers but audit events" in m and "teleport_audit_allow_local" in m
                   for m in failures[host]), (case, failures.get(host))


@pytest.mark.parametrize("case, pool_vars", [
    ("events and recordings in HA stores", {"teleport_storage_audit_events_uri": ["dynamodb://events", "stdout://"],
                                            "teleport_storage_audit_sessions_uri": "s3://rec/records"}),
    ("explicitly allowed", {"teleport_audit_allow_local": True}),
])
def test_several_auth_servers_pass_with_ha_audit_or_the_override(tmp_path, case, pool_vars):
    rc, failures = _auth_pool_outcome(tmp_path, **pool_vars)
    assert rc == 0 and not failures, (case, failures)
