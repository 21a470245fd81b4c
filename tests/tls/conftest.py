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
import socket
import ssl
import subprocess

import pytest

from harness import lab
from harness.acme import Pebble
from harness.ansible import ansible_env, start_playbook
from harness.edge import dns as edge_dns
from harness.edge import nlb_double
from harness.edge.common import Layout
from harness.moto import MotoServer
from harness.site import NODE_AGENT_JAR, site_vars
from harness.util import REPO, free_port, wait_until

LAB = "tls"
CIDR = "198.18.242.0/24"
CLUSTER = "teleport.tls.test"
ZONE = "tls.test"
LOCK_TABLE = "teleport-tls-issuer-lock"
REGIONS = ["lab-1", "lab-2"]
# No Auto Scaling group launches a lab host: site.yml and tls.yml publish nothing (cluster_config_enabled, docs/boot.md).
NOTHING_TO_PUBLISH = {"cluster_config_enabled": False}


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
        self.hosts = lab.hosts(state)
        self.tmp = tmp
        self.moto, self.pebble = moto, pebble
        self.dns, self.lagging_dns, self.nameservers = dns, lagging_dns, nameservers
        self.auth, self.proxies = self.hosts[0], self.hosts[1:]
        self.store = tmp / "issuer-store"
        # One proxy per region: tls.yml hands the pair over region by region.
        self.inventory = lab.inventory(CLUSTER, state, self.auth, [(p, REGIONS[n], {}) for n, p in enumerate(self.proxies)],
                                       auth_region=REGIONS[0])
        self.timings = {}
        self.runs = 0
        self.pebble_vars = pebble.tls_yml_vars()  # the root changes only when Pebble restarts

    # --- inputs ---------------------------------------------------------------------------
    def tls_vars(self, **more):
        """What tls.yml needs here: the zone, the names, Pebble, the resolver and the name servers' addresses."""
        return {"tls_issuer_domain": CLUSTER,
                "tls_issuer_route53_zone": ZONE,
                "tls_issuer_store_dir": str(self.store),
                "tls_issuer_lock_table": LOCK_TABLE,
                "tls_issuer_lock_region": "us-east-1",
                # The current CoreDNS as the resolver (the VPC resolver's part); the name servers' addresses for a
                # run that falls back to them.
                "tls_issuer_dns_resolver": self.dns,
                "tls_issuer_dns_nameserver_addresses": {"*": self.dns},
                "tls_issuer_dns_propagation_timeout": 60,
                "tls_issuer_dns_propagation_interval": 1,
                "tls_issuer_lock_ttl": 400,
                "tls_issuer_lock_wait": 300,
                "tls_issuer_confirm_timeout": 60,
                "tls_issuer_acme_email": "ops@tls.test",
                "node_agent_jar_src": NODE_AGENT_JAR,
                **NOTHING_TO_PUBLISH, **self.pebble_vars, **more}

    def site_vars(self, **more):
        """site.yml on the lab, the pair read from the issuer's store on the controller (the
        first-converge hand-off of docs/tls.md)."""
        return site_vars(CLUSTER, prefix="tls-lab", auth_server=f"{self.auth.ip}:3025", tls_dir=str(self.store / "current"),
                         edition="oss", teleport_join_method="token", teleport_join_token="tls-lab-join-token-not-a-secret",
                         teleport_https_keypairs_reload_interval="2s", teleport_health_timeout=60,
                         node_agent_tls_verify_timeout="12s", **NOTHING_TO_PUBLISH, **more)

    # --- running --------------------------------------------------------------------------
    def start(self, name, extra_vars, *args, multiplex=True):
        """A run under way (its wait() gives the harness.ansible.Run): two at once."""
        self.runs += 1
        env = ansible_env(aws=self.moto.endpoint, ssh="unchecked", multiplex=multiplex, AWS_DEFAULT_REGION="us-east-1")
        return start_playbook(name, self.inventory, extra_vars, *args, env=env,
                              log=self.tmp / f"{self.runs:02d}-{name.removesuffix('.yml')}.log")

    def playbook(self, name, extra_vars, *args, multiplex=True):
        return self.start(name, extra_vars, *args, multiplex=multiplex).wait(timeout=900)

    # --- looking --------------------------------------------------------------------------
    def installed_bytes(self, h):
        """sha256 of the installed tls.crt and tls.key as Teleport reads them."""
        return h.run("sha256sum /etc/teleport-tls/tls.crt /etc/teleport-tls/tls.key").stdout

    def drop_dirs(self, h):
        return h.run("ls -A /var/lib/node-agent/tls-incoming; echo --; ls -A /var/lib/node-agent/tls-incoming-rejected",
                     check=False).stdout

    def served(self, h, sni=CLUSTER):
        """(sha256 of the leaf, verified) as a TLS client sees the proxy's web port with Pebble's root."""
        return served_fingerprint(h.ip, sni, self.pebble_root())

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


def served_fingerprint(ip, sni, cafile, port=3080, timeout=5):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((ip, port), timeout=timeout) as s, ctx.wrap_socket(s, server_hostname=sni) as t:
        return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    coredns = subprocess.run([os.path.join(REPO, "sandbox/edge/coredns/build.sh")], capture_output=True, text=True, timeout=900)
    assert coredns.returncode == 0, coredns.stderr
    binary = coredns.stdout.strip().splitlines()[-1]
    with lab.session(LAB, 3, CIDR) as state:
        yield from _world(state, tmp, binary)


def _world(state, tmp, binary):
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
