"""playbooks/tls.yml against real parts: Pebble v2.10.3 as the CA, validating
dns-01 through CoreDNS that serves moto's Route 53 zone, the DynamoDB lock in moto,
and a lab of real systemd hosts (one auth, one proxy in each of two regions) that
site.yml converged with the Teleport double and the node-agent.

Addresses: the lab's bridge 198.18.242.0/24; moto, CoreDNS and Pebble on 127.0.0.1.

Two CoreDNS servers read moto's zone: a current one (route53 refresh 5 s, as the sandbox runs it), which
Pebble validates with, and a lagging one (refresh 1 h, loaded before any challenge
record exists), which a test maps one name server to so that a record never
propagates there.
"""
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sandbox"))
sys.path.insert(0, str(ROOT / "tests" / "lib"))

from moto_world import MotoServer, free_port, wait_until  # noqa: E402
from sandboxlib import checks, hosts, lab  # noqa: E402
from sandboxlib.acme import Pebble  # noqa: E402
from sandboxlib.edge import dns as edge_dns  # noqa: E402
from sandboxlib.edge import nlb_double  # noqa: E402
from sandboxlib.edge.common import Layout  # noqa: E402

LAB = "tls"
CIDR = "198.18.242.0/24"
CLUSTER = "teleport.tls.test"
ZONE = "tls.test"
LOCK_TABLE = "teleport-tls-issuer-lock"
REGIONS = ["lab-1", "lab-2"]


def _coredns(binary, tmp, name, moto, refresh):
    layout = Layout(str(tmp / name)).make()
    with open(layout.nlb_zone, "w") as f:
        f.write(nlb_double.render_zone([]))  # the Corefile's load balancer block needs a zone with an SOA
    port = free_port()
    rc = edge_dns.main(["generate", "--edge-dir", layout.dir, "--endpoint-url", moto.endpoint,
                        "--view=us-west-2=127.0.0.0/8", f"--listen=127.0.0.1:{port}", f"--route53-refresh={refresh}"])
    assert rc == 0
    argv, env = edge_dns.coredns_command(binary, layout, moto.endpoint)
    log = open(tmp / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            cwd=layout.dir, start_new_session=True)
    log.close()
    return proc, f"127.0.0.1:{port}"


def _dig_soa(addr):
    host, port = addr.split(":")
    p = subprocess.run(["dig", f"@{host}", "-p", port, "+short", "+tries=1", "+time=2", ZONE, "SOA"],
                       capture_output=True, text=True, timeout=10)
    return p.stdout.strip()


class World:
    def __init__(self, state, tmp, moto, pebble, dns, lagging_dns, nameservers):
        self.hosts = state["hosts"]
        self.key = state["ssh_key"]
        self.tmp = tmp
        self.moto, self.pebble = moto, pebble
        self.dns, self.lagging_dns, self.nameservers = dns, lagging_dns, nameservers
        self.auth, self.proxies = self.hosts[0], self.hosts[1:]
        self.store = tmp / "issuer-store"
        self.inventory = tmp / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(self._inventory()))
        self.timings = {}
        self.pebble_vars = pebble.tls_yml_vars()  # the root changes only when Pebble restarts

    def _inventory(self):
        def host(h, role, region, **extra):
            return {"ansible_host": h["private_ip"], "teleport_role": role, "aws_region": region,
                    "aws_private_ip": h["private_ip"], **extra}
        return {"all": {
            "vars": {"teleport_inventory_cluster": CLUSTER, "teleport_inventory_stale_regions": [],
                     "ansible_user": "root", "ansible_ssh_private_key_file": self.key},
            "children": {"teleport": {"children": {
                "teleport_auth": {"hosts": {"auth-0": host(self.auth, "auth", REGIONS[0])}},
                # One proxy per region: tls.yml hands the pair over region by region.
                "teleport_proxy": {"hosts": {f"proxy-{n}": host(p, "proxy", REGIONS[n],
                                                                teleport_peer_public_addr=f"{p['private_ip']}:3021")
                                             for n, p in enumerate(self.proxies)}},
            }}},
        }}

    # --- inputs ---------------------------------------------------------------------------
    def tls_vars(self, **more):
        """What tls.yml needs here: the zone, the names, Pebble, and the DNS address override."""
        v = {"tls_issuer_domain": CLUSTER,
             "tls_issuer_route53_zone": ZONE,
             "tls_issuer_store_dir": str(self.store),
             "tls_issuer_lock_table": LOCK_TABLE,
             "tls_issuer_lock_region": "us-east-1",
             "tls_issuer_dns_nameserver_addresses": {"*": self.dns},
             "tls_issuer_dns_propagation_timeout": 60,
             "tls_issuer_dns_propagation_interval": 1,
             "tls_issuer_lock_ttl": 400,
             "tls_issuer_lock_wait": 300,
             "tls_issuer_confirm_timeout": 60,
             "tls_issuer_acme_email": "ops@tls.test",
             "node_agent_jar_src": str(ROOT / "node-agent/target/node-agent.jar"),
             **self.pebble_vars}
        v.update(more)
        return self._vars_file("tls", v)

    def site_vars(self, **more):
        """site.yml on the lab, the pair read from the issuer's store on the controller (the
        first-converge hand-off of docs/tls.md)."""
        version, tarball, sha = checks.build_double("oss")
        current = self.store / "current"
        v = {
            "teleport_edition": "oss",
            "teleport_version": version,
            "teleport_tarball_src": tarball,
            "teleport_tarball_sha256": sha,
            "teleport_storage_type": "dynamodb",
            "teleport_storage_region": "us-west-2",
            "teleport_dynamodb_table_name": "tls-lab-backend",
            "teleport_storage_audit_events_uri": ["dynamodb://tls-lab-events"],
            "teleport_storage_audit_sessions_uri": "s3://tls-lab-sessions/records",
            "teleport_auth_server": f"{self.auth['private_ip']}:3025",
            "teleport_join_method": "token",
            "teleport_join_token": "tls-lab-join-token-not-a-secret",
            "teleport_public_addr": [f"{CLUSTER}:443"],
            "teleport_https_keypairs_reload_interval": "2s",
            "teleport_health_timeout": 60,
            "node_agent_jar_src": str(ROOT / "node-agent/target/node-agent.jar"),
            "node_agent_tls_verify_timeout": "12s",
            "node_agent_tls_cert_pem": "{{ lookup('ansible.builtin.file', '%s/tls.crt') }}" % current,
            "node_agent_tls_key_pem": "{{ lookup('ansible.builtin.file', '%s/tls.key') }}" % current,
            "node_agent_tls_ca_pem": "{{ lookup('ansible.builtin.file', '%s/ca.crt') }}" % current,
        }
        v.update(more)
        return self._vars_file("site", v)

    def _vars_file(self, kind, v):
        # No Auto Scaling group launches a lab host: nothing to publish (cluster_config_enabled, docs/boot.md).
        v = {"cluster_config_enabled": False, **v}
        path = self.tmp / f"{kind}-vars-{len(list(self.tmp.glob(kind + '-vars-*')))}.json"
        path.write_text(json.dumps(v))
        return path

    # --- running --------------------------------------------------------------------------
    def env(self, multiplex=True):
        ssh = ("-o ControlMaster=auto -o ControlPersist=120s" if multiplex else "-o ControlMaster=no -o ControlPath=none")
        return self.moto.env(
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_SSH_ARGS=f"{ssh} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
            AWS_DEFAULT_REGION="us-east-1",
            PATH=str(ROOT / ".venv/bin") + os.pathsep + os.environ.get("PATH", ""))

    def start(self, name, vars_file, *args, multiplex=True):
        cmd = ["ansible-playbook", "-i", str(self.inventory), str(ROOT / "playbooks" / name), "-e", f"@{vars_file}", *args]
        log = self.tmp / f"{name}-{len(list(self.tmp.glob(name + '-*.log')))}.log"
        out = open(log, "w")
        p = subprocess.Popen(cmd, cwd=ROOT, env=self.env(multiplex), stdout=out, stderr=subprocess.STDOUT, text=True)
        out.close()
        return p, log

    def playbook(self, name, vars_file, *args, multiplex=True):
        t0 = time.monotonic()
        p, log = self.start(name, vars_file, *args, multiplex=multiplex)
        p.wait(timeout=900)
        return Run(p.returncode, log.read_text(), time.monotonic() - t0)

    # --- looking --------------------------------------------------------------------------
    def ssh(self, h, command, check=True):
        return hosts.ssh(h, command, check=check)

    def tls_status(self, h):
        return json.loads(self.ssh(h, f"curl -sf http://{h['private_ip']}:9810/v1/tls/status").stdout)

    def installed_bytes(self, h):
        """sha256 of the installed tls.crt and tls.key as Teleport reads them."""
        return self.ssh(h, "sha256sum /etc/teleport-tls/tls.crt /etc/teleport-tls/tls.key").stdout

    def drop_dirs(self, h):
        return self.ssh(h, "ls -A /var/lib/node-agent/tls-incoming; echo --; ls -A /var/lib/node-agent/tls-incoming-rejected",
                        check=False).stdout

    def ssh_logins(self, h):
        """Accepted SSH logins so far (this query's own login included)."""
        out = self.ssh(h, "journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey' || true").stdout
        return int(out.strip() or 0)

    def served(self, h, sni=CLUSTER):
        """(sha256 of the leaf, verified) as a TLS client sees the proxy's web port with Pebble's root."""
        return served_fingerprint(h["private_ip"], sni, self.pebble_root())

    def pebble_root(self):
        path = self.tmp / "pebble-root.pem"
        if not path.exists():
            path.write_text(self.pebble_vars["tls_issuer_ca_pem"])
        return str(path)

    def challenge_records(self):
        r53 = self.moto.client("route53", "us-east-1")
        zone = next(z["Id"] for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == ZONE + ".")
        return [rr for rr in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
                if rr["Name"].startswith("_acme-challenge")]

    def stored(self):
        return json.loads((self.store / "current" / "meta.json").read_text())


class Run:
    def __init__(self, rc, out, seconds):
        self.returncode, self.stdout, self.seconds = rc, out, seconds

    @property
    def flat(self):
        """The output with every run of whitespace as one space: the YAML callback folds long messages."""
        return " ".join(self.stdout.split())


def served_fingerprint(ip, sni, cafile, port=3080, timeout=5):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((ip, port), timeout=timeout) as s, ctx.wrap_socket(s, server_hostname=sni) as t:
        return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (systemd-nspawn, bridges)")
    tmp = tmp_path_factory.mktemp("tls")
    coredns = subprocess.run([str(ROOT / "sandbox/edge/coredns/build.sh")], capture_output=True, text=True, timeout=900)
    assert coredns.returncode == 0, coredns.stderr
    binary = coredns.stdout.strip().splitlines()[-1]
    keep = os.environ.get("LAB_KEEP") == "1"
    state = lab.load(LAB) if keep else None
    if not state:
        lab.down(LAB)
        state = lab.up(LAB, 3, CIDR)
    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    procs, pebble, world_ = [], None, None
    try:
        r53 = moto.client("route53", "us-east-1")
        nameservers = r53.create_hosted_zone(Name=ZONE, CallerReference="tls-lab")["DelegationSet"]["NameServers"]
        assert edge_dns.main(["fix-soa", "--endpoint-url", moto.endpoint]) == 0
        # The lock table, as the operator's infrastructure code creates it (docs/tls.md "IAM").
        moto.client("dynamodb", "us-east-1").create_table(
            TableName=LOCK_TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}])
        current, dns = _coredns(binary, tmp, "coredns", moto, "5s")
        lagging, lagging_dns = _coredns(binary, tmp, "coredns-lagging", moto, "1h")
        procs += [current, lagging]
        for addr in (dns, lagging_dns):
            wait_until(f"CoreDNS on {addr} serving {ZONE}", lambda a=addr: "awsdns" in _dig_soa(a), 30)
        pebble = Pebble(str(tmp / "pebble"), dns, nosleep=True).start()
        world_ = World(state, tmp, moto, pebble, dns, lagging_dns, nameservers)
        yield world_
    finally:
        if world_ is not None and world_.timings:
            # tests/suites/57-tls.sh prints them (docs/tls.md "Measured").
            (tmp.parent / "timings.json").write_text(json.dumps({k: round(v, 1) for k, v in world_.timings.items()}, indent=1))
        if pebble:
            pebble.stop()
        for p in procs:
            p.terminate()
            p.wait(10)
        moto.stop()
        if not keep:
            lab.down(LAB)


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)


def recap(stdout):
    """{host: {ok, changed, failed}} from ansible-playbook's PLAY RECAP."""
    return {m[0]: {"ok": int(m[1]), "changed": int(m[2]), "failed": int(m[3])} for m in RECAP.findall(stdout)}
