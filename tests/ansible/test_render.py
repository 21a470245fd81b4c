"""Renders roles/teleport's teleport.yaml (and unit and its environment) for representative
auth and proxy hosts through real Ansible, asserts the YAML structure and the unit's
confinement, and has the Teleport test double's strict `configure --test` accept every
rendered file and `systemd-analyze verify` every rendered unit."""
import json
import shutil
import subprocess

import pytest
import yaml
from conftest import HERE, failures_by_host, local_host_vars, play

SHA = "a" * 64
AUTH = {"teleport_role": "auth"}
PROXY = {
    "teleport_role": "proxy",
    "teleport_auth_server": "auth.teleport.internal:3025",
    "teleport_join_method": "token",
    "teleport_join_token": "not-a-real-token",
}
IAM_ALLOW = [{"aws_account": "123456789012", "aws_arn": "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*"}]

# The examples in docs/examples/ are these two renders (test_docs_examples_are_the_rendered_files).
EXAMPLES = {
    "example_auth": {
        **AUTH,
        "teleport_edition": "enterprise",
        "teleport_license_content": "-----BEGIN LICENSE-----",
        "teleport_storage_type": "dynamodb",
        "teleport_storage_region": "us-west-2",
        "teleport_dynamodb_table_name": "teleport-state",
        "teleport_storage_audit_events_uri": ["dynamodb://teleport-events"],
        "teleport_storage_audit_sessions_uri": "s3://teleport-recordings/records?region=us-west-2",
        "aws_private_ip": "10.1.1.20",
    },
    "example_proxy": {
        **PROXY,
        "teleport_join_method": "iam",
        "teleport_join_token": "",
        "teleport_edition": "enterprise",
        "teleport_auth_server": "teleport-auth-0123456789abcdef.elb.us-west-2.amazonaws.com:3025",
        "teleport_public_addr": ["teleport.example.com:443"],
        "teleport_peer_public_addr": "10.2.1.30:3021",
        "teleport_ca_pin": ["sha256:" + "e3" * 32],
        "aws_private_ip": "10.2.1.30",
    },
}

SCENARIOS = {
    "auth_dynamodb": {
        **AUTH,
        # The token method: the auth pool carries the proxies' token as a static token (read from a file).
        "teleport_join_method": "token",
        "teleport_storage_type": "dynamodb",
        "teleport_storage_region": "us-west-2",
        "teleport_dynamodb_table_name": "teleport-state",
        "teleport_storage_audit_events_uri": ["dynamodb://teleport-events", "stdout://"],
        "teleport_storage_audit_sessions_uri": "s3://teleport-recordings/records?region=us-west-2",
    },
    "auth_postgres_certs": {
        **AUTH,
        "teleport_storage_type": "postgresql",
        "teleport_postgres_conn_string": "postgresql://teleport@pg.internal:5432/teleport_backend?sslmode=verify-full&pool_max_conns=20",
        "teleport_postgres_client_cert_auth": True,
        "teleport_storage_audit_events_uri": ["postgresql://teleport@pg.internal:5432/teleport_audit?sslmode=verify-full"],
        "teleport_storage_audit_sessions_uri": "s3://teleport-recordings/records",
    },
    "auth_cockroach_enterprise": {
        **AUTH,
        "teleport_edition": "enterprise",
        "teleport_license_content": "-----BEGIN LICENSE-----",
        "teleport_storage_type": "cockroachdb",
        "teleport_postgres_conn_string": "postgresql://teleport@crdb.internal:26257/teleport_backend?sslmode=verify-full",
        "teleport_postgres_change_feed_conn_string": "postgresql://teleport@crdb.internal:26257/teleport_backend?sslmode=verify-full",
        "teleport_cockroachdb_ttl_job_cron": "*/10 * * * *",
        "teleport_postgres_client_cert_auth": True,
        "teleport_storage_audit_events_uri": ["postgresql://teleport@crdb.internal:26257/teleport_audit?sslmode=verify-full"],
        "teleport_storage_audit_sessions_uri": "s3://teleport-recordings/records",
        "teleport_agent_connection_count": 3,
    },
    "auth_etcd_separate": {
        **AUTH,
        "teleport_storage_type": "etcd",
        "teleport_etcd_peers": ["https://etcd1.internal:2379", "https://etcd2.internal:2379"],
        "teleport_etcd_tls_cert_file": "/var/lib/teleport/etcd-cert.pem",
        "teleport_etcd_tls_key_file": "/var/lib/teleport/etcd-key.pem",
        "teleport_etcd_tls_ca_file": "/var/lib/teleport/etcd-ca.pem",
        "teleport_proxy_listener_mode": "separate",
    },
    "proxy_multiplex_single": {
        **PROXY,
        "teleport_public_addr": ["teleport.example.com:443"],
        "teleport_peer_public_addr": "198.18.1.10:3021",
        "aws_private_ip": "198.18.1.10",
    },
    "proxy_peering_enterprise": {
        **PROXY,
        "teleport_edition": "enterprise",
        "teleport_public_addr": ["teleport.example.com:443"],
        "teleport_peer_public_addr": "198.18.1.11:3021",
        "teleport_ca_pin": ["sha256:" + "c" * 64],
        "teleport_ssh_service_enabled": False,
    },
    "proxy_separate_multi": {
        **PROXY,
        "teleport_public_addr": ["external.example.com:443", "internal.example.com:443"],
        "teleport_tunnel_public_addr": "internal.example.com:3024",
        "teleport_proxy_listener_mode": "separate",
        "teleport_join_method": "iam",
        "teleport_join_token": "",
        "teleport_join_token_name": "teleport-proxy-iam",
        "teleport_peer_public_addr": "198.18.2.10:3021",
        "teleport_https_keypairs_reload_interval": "5m",
        "teleport_proxy_kube_listen_addr": "0.0.0.0:3026",
        "teleport_proxy_mysql_listen_addr": "0.0.0.0:3036",
    },
}


def render_inventory(out, teleport_double=None):
    """The inventory render_teleport.yml renders every sample host from, into out (bench/ansible_core_bench.py
    times the same render)."""
    common = {
        "render_dir": str(out),
        "teleport_cluster_name": "teleport.example.com",
        "teleport_tarball_sha256": SHA,
        # Every sample host is a machine whose default route leaves from 198.18.9.9.
        "render_facts": {"default_ipv4": {"address": "198.18.9.9"}},
        "teleport_join_token": "not-a-real-token",
        "teleport_join_iam_allow": IAM_ALLOW,
    }
    if teleport_double:
        common["render_validate"] = f"{teleport_double} configure --test %s"
    return {"all": {"vars": local_host_vars(**common),
                    "hosts": {name: hv for name, hv in {**SCENARIOS, **EXAMPLES}.items()}}}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, teleport_double):
    tmp = tmp_path_factory.mktemp("render")
    out = tmp / "out"
    out.mkdir()
    result = play(HERE / "render_teleport.yml", render_inventory(out, teleport_double), tmp)
    assert result.rc == 0, result.text[-6000:]
    docs = {name: yaml.safe_load((out / f"{name}.teleport.yaml").read_text()) for name in SCENARIOS}
    examples = {name: (out / f"{name}.teleport.yaml").read_text() for name in EXAMPLES}
    envs = {name: (out / f"{name}.env").read_text() for name in SCENARIOS}
    units = {name: (out / f"{name}.service").read_text() for name in SCENARIOS}
    dropins = {name: path.read_text() for name in SCENARIOS if (path := out / f"{name}.ssh-service.conf").exists()}
    resources = {name: yaml.safe_load(path.read_text()) for name in SCENARIOS
                 if (path := out / f"{name}.resources.yaml").exists()}
    return {"docs": docs, "envs": envs, "units": units, "dropins": dropins, "resources": resources, "dir": out, "double": teleport_double,
            "examples": examples}


def test_every_file_is_v3_with_the_ssh_service_on_and_diag_on_the_private_address(rendered):
    for name, doc in rendered["docs"].items():
        assert doc["version"] == "v3", name
        if name == "proxy_peering_enterprise":
            assert doc["ssh_service"] == {"enabled": False}, name
        else:
            assert doc["ssh_service"] == {"enabled": True, "listen_addr": "0.0.0.0:3022"}, name
        # The inventory's private IP when it has one, else the address of the default route.
        want = "198.18.1.10:3000" if name == "proxy_multiplex_single" else "198.18.9.9:3000"
        assert doc["teleport"]["diag_addr"] == want, name
        assert doc["teleport"]["nodename"] == name


def test_auth_with_dynamodb_stores_state_and_audit_events_and_recordings_in_s3(rendered):
    doc = rendered["docs"]["auth_dynamodb"]
    assert doc["teleport"]["storage"] == {
        "type": "dynamodb",
        "region": "us-west-2",
        "table_name": "teleport-state",
        "continuous_backups": True,
        "audit_events_uri": ["dynamodb://teleport-events", "stdout://"],
        "audit_sessions_uri": "s3://teleport-recordings/records?region=us-west-2",
    }
    assert doc["auth_service"] == {
        "enabled": True,
        "cluster_name": "teleport.example.com",
        "listen_addr": "0.0.0.0:3025",
        "proxy_listener_mode": "multiplex",
        # OSS: the agent mesh (Proxy Peering is Enterprise-only).
        "tunnel_strategy": {"type": "agent_mesh"},
        "tokens": ["proxy,node:/var/lib/teleport/join-token"],
    }
    assert doc["proxy_service"] == {"enabled": False}
    assert "auth_server" not in doc["teleport"]
    assert "not-a-real-token" not in (rendered["dir"] / "auth_dynamodb.teleport.yaml").read_text()


def test_an_auth_pool_of_the_iam_method_applies_the_proxies_provision_token_and_holds_no_secret(rendered):
    # auth_cockroach_enterprise joins its proxies with the default method, iam.
    doc = rendered["docs"]["auth_cockroach_enterprise"]
    assert "tokens" not in doc["auth_service"]
    assert rendered["resources"]["auth_cockroach_enterprise"] == {
        "kind": "token", "version": "v2", "metadata": {"name": "teleport-proxy-iam"},
        "spec": {"roles": ["Proxy", "Node"], "join_method": "iam", "allow": IAM_ALLOW}}
    # One unit for every host (the baked one): the flags come from the environment file.
    # An auth server of the iam method, a proxy, and a token method's auth server: the same unit.
    assert rendered["units"]["auth_cockroach_enterprise"] == rendered["units"]["proxy_peering_enterprise"]
    assert rendered["units"]["auth_dynamodb"] == rendered["units"]["proxy_separate_multi"]
    assert " $TELEPORT_HA_START_FLAGS\n" in rendered["units"]["auth_cockroach_enterprise"]
    assert "\nTELEPORT_HA_START_FLAGS=--apply-on-startup /etc/teleport-resources.yaml\n" in \
        rendered["envs"]["auth_cockroach_enterprise"]
    # The token method's auth pool and every proxy start without it: Teleport reads the file even there.
    assert "TELEPORT_HA_START_FLAGS" not in rendered["envs"]["auth_dynamodb"]
    assert "TELEPORT_HA_START_FLAGS" not in rendered["envs"]["proxy_separate_multi"]
    assert set(rendered["resources"]) == {"auth_cockroach_enterprise", "auth_postgres_certs", "auth_etcd_separate"}


def test_auth_with_postgres_uses_conn_string_and_certificate_environment(rendered):
    storage = rendered["docs"]["auth_postgres_certs"]["teleport"]["storage"]
    assert storage["type"] == "postgresql"
    assert storage["conn_string"].startswith("postgresql://teleport@pg.internal:5432/teleport_backend")
    assert storage["audit_events_uri"][0].startswith("postgresql://")
    assert "ttl_job_cron" not in storage
    env = rendered["envs"]["auth_postgres_certs"]
    assert "PGSSLROOTCERT=/etc/teleport-db/ca.crt" in env
    assert "PGSSLCERT=/etc/teleport-db/client.teleport.crt" in env
    assert "PGSSLKEY=/etc/teleport-db/client.teleport.key" in env


def test_auth_with_cockroachdb_sets_ttl_job_cron_and_enterprise_license(rendered):
    doc = rendered["docs"]["auth_cockroach_enterprise"]
    storage = doc["teleport"]["storage"]
    assert storage["type"] == "cockroachdb"
    assert storage["ttl_job_cron"] == "*/10 * * * *"
    assert storage["change_feed_conn_string"].startswith("postgresql://")
    assert doc["auth_service"]["license_file"] == "/var/lib/teleport/license.pem"
    assert doc["auth_service"]["tunnel_strategy"] == {"type": "proxy_peering", "agent_connection_count": 3}
    assert "license_file" not in rendered["docs"]["auth_dynamodb"]["auth_service"]


def test_auth_with_etcd_and_separate_listeners(rendered):
    doc = rendered["docs"]["auth_etcd_separate"]
    assert doc["teleport"]["storage"] == {
        "type": "etcd",
        "peers": ["https://etcd1.internal:2379", "https://etcd2.internal:2379"],
        "prefix": "/teleport/",
        "tls_cert_file": "/var/lib/teleport/etcd-cert.pem",
        "tls_key_file": "/var/lib/teleport/etcd-key.pem",
        "tls_ca_file": "/var/lib/teleport/etcd-ca.pem",
    }
    assert doc["auth_service"]["proxy_listener_mode"] == "separate"
    assert "PGSSL" not in rendered["envs"]["auth_etcd_separate"]


def test_proxy_in_multiplex_mode_with_one_public_addr_joins_the_auth_load_balancer_with_a_token_file(rendered):
    doc = rendered["docs"]["proxy_multiplex_single"]
    assert doc["teleport"]["auth_server"] == "auth.teleport.internal:3025"
    assert doc["teleport"]["join_params"] == {"method": "token", "token_name": "/var/lib/teleport/join-token"}
    assert "storage" not in doc["teleport"]
    assert doc["auth_service"] == {"enabled": False}
    assert doc["proxy_service"] == {
        "enabled": True,
        "web_listen_addr": "0.0.0.0:3080",
        "public_addr": "teleport.example.com:443",
        "https_keypairs": [{"key_file": "/etc/teleport-tls/tls.key", "cert_file": "/etc/teleport-tls/tls.crt"}],
        "https_keypairs_reload_interval": "20s",
    }
    # The secret token never lands in teleport.yaml, only its file path.
    assert "not-a-real-token" not in (rendered["dir"] / "proxy_multiplex_single.teleport.yaml").read_text()
    # Under the agent mesh Teleport opens no peer listener: no peer settings, and no pin was given.
    assert "ca_pin" not in doc["teleport"]


def test_an_enterprise_proxy_advertises_its_peer_address_and_pins_the_cluster_ca(rendered):
    doc = rendered["docs"]["proxy_peering_enterprise"]
    assert doc["proxy_service"]["peer_listen_addr"] == "0.0.0.0:3021"
    assert doc["proxy_service"]["peer_public_addr"] == "198.18.1.11:3021"
    assert doc["teleport"]["ca_pin"] == ["sha256:" + "c" * 64]
    assert "tokens" not in doc["auth_service"]


def test_proxy_in_separate_mode_with_several_public_addrs_and_iam_join(rendered):
    doc = rendered["docs"]["proxy_separate_multi"]
    proxy = doc["proxy_service"]
    assert proxy["public_addr"] == ["external.example.com:443", "internal.example.com:443"]
    assert proxy["tunnel_public_addr"] == "internal.example.com:3024"
    assert proxy["listen_addr"] == "0.0.0.0:3023"
    assert proxy["tunnel_listen_addr"] == "0.0.0.0:3024"
    assert proxy["https_keypairs_reload_interval"] == "5m"
    # Only the Kubernetes and database listeners that are set, each one its load balancer forwards to.
    assert (proxy["kube_listen_addr"], proxy["mysql_listen_addr"]) == ("0.0.0.0:3026", "0.0.0.0:3036")
    assert "postgres_listen_addr" not in proxy and "mongo_listen_addr" not in proxy
    assert doc["teleport"]["join_params"] == {"method": "iam", "token_name": "teleport-proxy-iam"}


def proxy_ports(doc):
    """The ports teleport.yaml's proxy_service listens on for clients (peering is proxy to proxy, off the NLB)."""
    proxy = doc["proxy_service"]
    return {int(v.rsplit(":", 1)[1]) for k, v in proxy.items() if k.endswith("listen_addr") and k != "peer_listen_addr"}


@pytest.mark.parametrize("listeners", [
    {},
    {"teleport_proxy_kube_listen_addr": "0.0.0.0:3026"},
    {"teleport_proxy_mysql_listen_addr": "0.0.0.0:3036", "teleport_proxy_postgres_listen_addr": "0.0.0.0:5432",
     "teleport_proxy_mongo_listen_addr": "0.0.0.0:27017"},
    {"teleport_proxy_kube_listen_addr": "10.0.0.5:3027", "teleport_proxy_listener_mode": "multiplex"},
])
def test_the_load_balancer_forwards_exactly_to_the_ports_the_proxy_listens_on(tmp_path, teleport_double, listeners):
    """aws_edge and the teleport role read the same variables: in separate mode an NLB listener exists for a
    Kubernetes or database port exactly when the proxy renders its listen address (before, the NLB forwarded 3026
    and database ports to nothing while every health check stayed green); in multiplex mode such a setting is
    refused on both sides."""
    host = {**PROXY, "teleport_public_addr": ["teleport.example.com:443"], "teleport_proxy_listener_mode": "separate",
            **listeners}
    if teleport_double:
        host["render_validate"] = f"{teleport_double} configure --test %s"
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), teleport_cluster_name="teleport.example.com",
                                                 teleport_tarball_sha256=SHA, teleport_join_iam_allow=IAM_ALLOW),
                         "hosts": {"proxy": host}}}
    json_out = {"ANSIBLE_STDOUT_CALLBACK": "json"}
    teleport = play(HERE / "render_teleport.yml", inventory, tmp_path, env=json_out)
    edge = play(HERE / "render_aws_edge_listeners.yml", inventory, tmp_path, env=json_out)
    if host["teleport_proxy_listener_mode"] == "multiplex":
        assert any("apply only with teleport_proxy_listener_mode separate" in m
                   for m in failures_by_host(teleport).get("proxy", [])), teleport.text[-3000:]
        # aws-edge.yml refuses it in its preflight too (tests/aws); its listeners would leave the port out.
        assert json.loads((tmp_path / "proxy.listeners.json").read_text()) == [{"port": 443, "target_port": 3080}]
        return
    assert teleport.rc == 0 and edge.rc == 0, teleport.text[-3000:] + edge.text[-3000:]
    doc = yaml.safe_load((tmp_path / "proxy.teleport.yaml").read_text())
    listeners_json = json.loads((tmp_path / "proxy.listeners.json").read_text())
    assert {lst["target_port"] for lst in listeners_json} == proxy_ports(doc)
    assert all(lst["port"] == lst["target_port"] for lst in listeners_json if lst["port"] != 443)


def test_units_restart_reload_with_hup_and_set_no_cpu_limit(rendered):
    for name, unit in rendered["units"].items():
        assert "Restart=always" in unit
        assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
        # systemd follows the graceful restart's new process; a stop drains (SIGQUIT), never cuts (SIGTERM).
        assert "--pid-file /run/teleport/teleport.pid" in unit and "PIDFile=/run/teleport/teleport.pid" in unit
        assert "KillSignal=SIGQUIT" in unit and "TimeoutStopSec=120" in unit
        assert "LimitNOFILE=524288" in unit
        assert "NoNewPrivileges=true" in unit and "ProtectSystem=strict" in unit
        assert "ReadWritePaths=/var/lib/teleport" in unit
        assert not any(line.startswith(("CPUQuota", "CPUWeight", "CPUShares")) for line in unit.splitlines()), name


def unit_settings(unit):
    """[(key, value)] of a unit file's settings, in order, comments and section headers left out."""
    lines = (line.strip() for line in unit.splitlines())
    return [tuple(line.split("=", 1)) for line in lines if line and not line.startswith(("#", ";", "["))]


# What the security review asked for, and what the unit leaves out on purpose (its comments cite why).
CONFINEMENT = [
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@resources"),
    ("SystemCallErrorNumber", "EPERM"),
    ("SystemCallArchitectures", "native"),
    ("ProtectProc", "invisible"),
    ("RemoveIPC", "true"),
    ("PrivateMounts", "true"),
]
REFUSED = {
    # Go's net.Listen reads /proc/sys/net/core/somaxconn; without it every listener's backlog drops to 128.
    ("ProcSubset", "pid"),
    # Teleport chowns its upload directories and switches its effective uid to itself (no-ops the kernel allows).
    ("SystemCallFilter", "~@privileged"),
    ("SystemCallFilter", "~@privileged @resources"),
}


def test_units_confine_teleport_as_the_security_review_asked(rendered):
    for name, unit in rendered["units"].items():
        settings = unit_settings(unit)
        for setting in CONFINEMENT:
            assert setting in settings, f"{name}: {'='.join(setting)} missing"
        # The allow list comes first: systemd takes the first SystemCallFilter= as the list's kind.
        filters = [value for key, value in settings if key == "SystemCallFilter"]
        assert filters[0] == "@system-service", (name, filters)
        assert not REFUSED & set(settings), f"{name}: see the unit's comment on why {REFUSED & set(settings)} is left out"


# What a session start needs (the drop-in's comment cites Teleport's code for each), and nothing more.
SESSION_CAPABILITIES = {"CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL", "CAP_AUDIT_WRITE"}


def effective(settings, key):
    """A list setting's value after systemd's merge: an empty assignment resets it, others add to it."""
    out = []
    for k, value in settings:
        if k == key:
            out = [] if value == "" else out + value.split()
    return out


def test_the_ssh_service_runs_as_root_with_only_what_a_session_start_needs(rendered):
    with_ssh = {name for name, doc in rendered["docs"].items() if doc["ssh_service"].get("enabled")}
    assert set(rendered["dropins"]) == with_ssh and "proxy_peering_enterprise" not in with_ssh
    for name in SCENARIOS:
        settings = unit_settings(rendered["units"][name] + rendered["dropins"].get(name, ""))
        last = dict(settings)
        assert last["NoNewPrivileges"] == "true" and last["ProtectSystem"] == "strict", name
        assert effective(settings, "AmbientCapabilities") == [], name
        if name in with_ssh:
            assert last["User"] == "root" and last["Group"] == "teleport", name
            assert set(effective(settings, "CapabilityBoundingSet")) == SESSION_CAPABILITIES, name
            assert last["ProtectHome"] == "no" and "-/home" in effective(settings, "ReadWritePaths"), name
        else:
            # The unit's own hardening: a dedicated user with no capability at all.
            assert last["User"] == "teleport" and effective(settings, "CapabilityBoundingSet") == [], name
            assert last["ProtectHome"] == "true", name


def _verify(unit_text, tmp_path):
    """systemd-analyze verify on a rendered unit whose ExecStart binary is a stub that exists."""
    stub = tmp_path / "bin" / "teleport"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    exec_start = next(value for key, value in unit_settings(unit_text) if key == "ExecStart")
    unit = tmp_path / "teleport.service"
    unit.write_text(unit_text.replace(f"ExecStart={exec_start.split()[0]} ", f"ExecStart={stub} "))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    return result.returncode, (result.stdout + result.stderr).strip()


needs_systemd_analyze = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                           reason="systemd-analyze not installed (Debian: package systemd)")


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_every_rendered_unit(rendered, tmp_path):
    for name, unit in rendered["units"].items():
        # The drop-in verified as systemd reads it: its [Service] section after the unit's.
        rc, output = _verify(unit + rendered["dropins"].get(name, ""), tmp_path)
        # verify exits 0 on an unknown key or value and only warns: any output is a finding.
        assert rc == 0 and output == "", f"{name}: {output}"


@needs_systemd_analyze
def test_systemd_analyze_verify_reports_a_misspelt_directive(rendered, tmp_path):
    unit = rendered["units"]["proxy_multiplex_single"]
    misspelt = unit.replace("ProtectProc=invisible", "ProtectProc=invisibel").replace(
        "SystemCallFilter=@system-service", "SystemCallFilter=@system-servic")
    _, output = _verify(misspelt, tmp_path)
    assert "invisibel" in output and "@system-servic" in output, output


def test_the_teleport_double_accepts_every_rendered_file(rendered):
    if not rendered["double"]:
        pytest.skip("no Teleport test double in build/teleport-double (tests/teleport-double/build.sh builds it)")
    for name in SCENARIOS:
        path = rendered["dir"] / f"{name}.teleport.yaml"
        result = subprocess.run([str(rendered["double"]), "configure", "--test", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_the_teleport_double_rejects_an_unknown_key(rendered, tmp_path):
    if not rendered["double"]:
        pytest.skip("no Teleport test double in build/teleport-double")
    doc = rendered["docs"]["proxy_multiplex_single"]
    doc["proxy_service"]["peer_public_address"] = "typo:3021"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = subprocess.run([str(rendered["double"]), "configure", "--test", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "peer_public_address" in result.stdout + result.stderr


def test_docs_examples_are_the_rendered_files(rendered):
    """docs/examples/*.teleport.yaml are what the role renders (UPDATE_EXAMPLES=1 rewrites them)."""
    import os
    for name, text in rendered["examples"].items():
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#")) + "\n"
        path = HERE.parents[1] / "docs" / "examples" / f"{name.removeprefix('example_')}.teleport.yaml"
        header = f"# {path.name}: what roles/teleport renders for one {name.removeprefix('example_')} host (Enterprise,\n" \
                 "# DynamoDB, Proxy Peering, TLS routing). Generated by tests/ansible/test_render.py.\n"
        if os.environ.get("UPDATE_EXAMPLES"):
            path.parent.mkdir(exist_ok=True)
            path.write_text(header + body)
        assert path.read_text() == header + body, f"{path} is stale: run UPDATE_EXAMPLES=1 pytest tests/ansible/test_render.py"
