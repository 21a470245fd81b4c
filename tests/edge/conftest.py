"""A two-region edge in moto, exactly as playbooks/aws-edge.yml creates it, with real
CoreDNS, the routing policy double and the NLB double (HAProxy) in front of test servers
on loopback addresses (127.55.0.0/16 only).

Region A (us-west-2) clients are 127.55.1.0/24, its VPC 127.55.1.0/25; region B
(eu-central-1) clients 127.55.2.0/24, its VPC 127.55.2.0/25. A client at .200 is in the
region but outside its VPC (public view); one at .100 is inside the VPC (private zone).
"""
import datetime
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import time

import pytest

from harness.edge import dns as edge_dns
from harness.edge.common import Layout
from harness.moto import MotoServer
from harness.util import REPO as ROOT
from harness.util import free_port, wait_until

CLUSTER = "teleport.sandbox.test"
ZONE = "sandbox.test"
REGIONS = {
    "us-west-2": {"net": "127.55.1.0/24", "vpc": "127.55.1.0/25", "prefix": "127.55.1"},
    "eu-central-1": {"net": "127.55.2.0/24", "vpc": "127.55.2.0/25", "prefix": "127.55.2"},
}
# Route 53 allows only 10 or 30 s; 1 failure flips the public checks, so a failover takes
# one interval (plus a cycle and CoreDNS's 1 s file reload).
R53_INTERVAL, R53_THRESHOLD, DNS_TTL = 10, 1, 5
NLB_HC = {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
          "UnhealthyThresholdCount": 2}
AUTH_DEREGISTRATION_DELAY = 6


def public_client(region):
    return REGIONS[region]["prefix"] + ".200"


def vpc_client(region):
    return REGIONS[region]["prefix"] + ".100"


def _cert(tmp, names):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    cp, kp = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cp, kp


class _Quiet:
    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass  # health checkers and drills hang up mid-answer; that is theirs to do

    def log_message(self, *a):
        pass


class _Server:
    """A listening server on a thread; stop() closes the listener (new connections are
    refused) while established connections keep being served."""

    def __init__(self, factory):
        self.factory = factory
        self.srv = None

    def start(self):
        if self.srv is None:
            self.srv = self.factory()
            self.srv.daemon_threads = True
            threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


class Backend:
    """One instance: Teleport's proxy web port (HTTPS 3080: /v1/webapi/ping and who-am-I),
    its /readyz (HTTP 3000), and the auth port (TCP 3025: greets, then echoes lines)."""

    def __init__(self, name, ip, cert):
        self.name, self.ip = name, ip
        self.readyz_status = 200
        self.seen = []  # (path, SNI, Host) of every HTTPS request
        backend = self

        class Web(_Quiet, http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                sni = getattr(self.connection, "sni", None)
                backend.seen.append((self.path, sni, self.headers.get("Host")))
                code, body = 200, json.dumps({"backend": backend.name, "sni": sni, "host": self.headers.get("Host")})
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        class Ready(_Quiet, http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                code = backend.readyz_status if self.path == "/readyz" else 404
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Auth(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    self.wfile.write(f"hello from {backend.name}\n".encode())
                    for line in self.rfile:
                        self.wfile.write(f"{backend.name}: {line.decode().strip()}\n".encode())
                except OSError:
                    pass

        def web():
            srv = http.server.ThreadingHTTPServer((ip, 3080), Web, bind_and_activate=False)
            srv.allow_reuse_address = True
            srv.server_bind()
            srv.server_activate()
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)

            def remember_sni(sock, server_name, _ctx):
                sock.sni = server_name
            ctx.sni_callback = remember_sni
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            return srv

        def plain(port, handler, threading_cls):
            class S(threading_cls):
                allow_reuse_address = True
            return S((ip, port), handler)

        self.web = _Server(web)
        self.ready = _Server(lambda: plain(3000, Ready, http.server.ThreadingHTTPServer))
        self.auth = _Server(lambda: plain(3025, Auth, socketserver.ThreadingTCPServer))

    def start(self):
        for s in (self.web, self.ready, self.auth):
            s.start()

    def stop(self):
        for s in (self.web, self.ready, self.auth):
            s.stop()


class Proc:
    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name, self.log_path = name, log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, cwd=cwd)

    def alive(self):
        return self.p.poll() is None

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        self.log.close()


class Edge:
    """The running world and the helpers the tests use."""

    def __init__(self, moto, layout, dns_port, backends, ids):
        self.moto, self.layout, self.dns_port, self.backends, self.ids = moto, layout, dns_port, backends, ids
        self.procs = {}

    # --- DNS -----------------------------------------------------------------------------
    def dig(self, name, source, qtype="A"):
        """(status, [(name, type, value)]) for a real query from a source address."""
        p = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.dns_port), "-b", source, "+noall", "+answer", "+comments",
                            "+tries=1", "+time=2", name, qtype], capture_output=True, text=True, timeout=10)
        status = None
        answers = []
        for line in p.stdout.splitlines():
            if "status:" in line:
                status = line.split("status:", 1)[1].split(",", 1)[0].strip()
            elif line and not line.startswith(";"):
                f = line.split()
                answers.append((f[0], f[3], " ".join(f[4:])))
        return status, answers

    def cname_of(self, name, source):
        status, answers = self.dig(name, source)
        return next((v for n, t, v in answers if t == "CNAME"), None) if status == "NOERROR" else status

    def a_of(self, name, source):
        status, answers = self.dig(name, source)
        return sorted(v for n, t, v in answers if t == "A") if status == "NOERROR" else status

    # --- state ---------------------------------------------------------------------------
    def policy(self):
        with open(self.layout.policy_state) as f:
            return json.load(f)

    def nlb(self):
        with open(self.layout.nlb_state) as f:
            return json.load(f)

    def targets(self, tg_name, region="us-west-2"):
        """{address: up|down|drain|initial} of one target group, from the NLB double's state."""
        for tg in self.nlb()["target_groups"]:
            if tg["name"] == tg_name and tg["region"] == region:
                return {t["address"]: t["state"] for t in tg["targets"]}
        return {}

    def hc(self, hid):
        return self.policy()["health_checks"][hid]


def _moto_edge(moto, backends):
    """What aws-edge.yml creates (roles/aws_edge): per region the internet-facing proxy NLB
    (TCP 443 -> 3080, HTTP /readyz health on 3000) and an internal one, the auth NLB (3025)
    in region A, Route 53 health checks on the public NLBs' names, latency records for the
    cluster and its wildcard, and a private zone for both VPCs pointing at internal NLBs."""
    ids = {"lb": {}, "tg": {}, "instances": {}, "hc": {}, "vpc": {}}
    r53 = moto.client("route53", "us-east-1")
    for region, r in REGIONS.items():
        ec2 = moto.client("ec2", region)
        vpc = ec2.create_vpc(CidrBlock=r["vpc"])["Vpc"]["VpcId"]
        ids["vpc"][region] = vpc
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=r["vpc"], AvailabilityZone=region + "a")["Subnet"]["SubnetId"]
        elb = moto.client("elbv2", region)
        for b in backends[region]:
            iid = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=sub,
                                    PrivateIpAddress=b.ip)["Instances"][0]["InstanceId"]
            ids["instances"][b.ip] = iid
        kinds = [("proxy", "internet-facing", 443, 3080), ("proxy-int", "internal", 443, 3080)]
        if region == "us-west-2":
            kinds.append(("auth", "internal", 3025, 3025))
        for kind, scheme, port, target_port in kinds:
            lb = elb.create_load_balancer(Name=f"tp-{kind}", Subnets=[sub], Type="network", Scheme=scheme)["LoadBalancers"][0]
            hc = {"HealthCheckProtocol": "HTTP", "HealthCheckPort": "3000", "HealthCheckPath": "/readyz",
                  "Matcher": {"HttpCode": "200-399"}} | NLB_HC
            tg = elb.create_target_group(Name=f"tp-{kind}-{target_port}", Protocol="TCP", Port=target_port, VpcId=vpc,
                                         TargetType="instance", **hc)["TargetGroups"][0]
            delay = AUTH_DEREGISTRATION_DELAY if kind == "auth" else 30
            elb.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)},
                {"Key": "deregistration_delay.connection_termination.enabled", "Value": "true"},
                {"Key": "preserve_client_ip.enabled", "Value": "true"},
                {"Key": "proxy_protocol_v2.enabled", "Value": "false"}])
            elb.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                                 Targets=[{"Id": ids["instances"][b.ip]} for b in backends[region]])
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=port,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
            ids["lb"][(region, kind)] = lb
            ids["tg"][(region, kind)] = tg["TargetGroupArn"]
    zone = r53.create_hosted_zone(Name=ZONE, CallerReference="edge-public")["HostedZone"]["Id"]
    ids["zone"] = zone
    changes = []
    for region in REGIONS:
        lb = ids["lb"][(region, "proxy")]
        hc = r53.create_health_check(CallerReference=f"edge-{region}", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": lb["DNSName"], "Port": 443, "ResourcePath": "/v1/webapi/ping",
            "EnableSNI": True, "Regions": ["us-east-1", "us-west-2", "eu-west-1"], "RequestInterval": R53_INTERVAL,
            "FailureThreshold": R53_THRESHOLD})["HealthCheck"]["Id"]
        ids["hc"][region] = hc
        for name, sid in ((CLUSTER, CLUSTER), ("*." + CLUSTER, "wildcard." + CLUSTER)):
            changes.append({"Action": "CREATE", "ResourceRecordSet": {
                "Name": name, "Type": "CNAME", "SetIdentifier": f"{sid}/{region}", "Region": region, "TTL": DNS_TTL,
                "HealthCheckId": hc, "ResourceRecords": [{"Value": lb["DNSName"]}]}})
    changes += [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"_acme-challenge.{CLUSTER}", "Type": "TXT", "TTL": 5,
                                                    "ResourceRecords": [{"Value": '"acme-token"'}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60,
                                                    "ResourceRecords": [{"Value": "127.55.9.9"}]}}]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    first = next(iter(REGIONS))
    pz = r53.create_hosted_zone(Name=ZONE, CallerReference="edge-private", HostedZoneConfig={"PrivateZone": True},
                                VPC={"VPCRegion": first, "VPCId": ids["vpc"][first]})["HostedZone"]["Id"]
    for region in list(REGIONS)[1:]:
        r53.associate_vpc_with_hosted_zone(HostedZoneId=pz, VPC={"VPCRegion": region, "VPCId": ids["vpc"][region]})
    ids["private_zone"] = pz
    changes = []
    for region in REGIONS:
        lb = ids["lb"][(region, "proxy-int")]
        for name, sid in ((CLUSTER, CLUSTER), ("*." + CLUSTER, "wildcard." + CLUSTER)):
            changes.append({"Action": "CREATE", "ResourceRecordSet": {
                "Name": name, "Type": "CNAME", "SetIdentifier": f"{sid}/{region}", "Region": region, "TTL": DNS_TTL,
                "ResourceRecords": [{"Value": lb["DNSName"]}]}})
    r53.change_resource_record_sets(HostedZoneId=pz, ChangeBatch={"Changes": changes})
    return ids


def addresses():
    """Each load balancer's address (the lead puts these on the region bridges)."""
    out = {}
    for region, r in REGIONS.items():
        out[(region, "proxy")] = r["prefix"] + ".10"
        out[(region, "proxy-int")] = r["prefix"] + ".11"
    out[("us-west-2", "auth")] = "127.55.1.12"
    return out


@pytest.fixture(scope="session")
def coredns_binary():
    p = subprocess.run([os.path.join(ROOT, "sandbox", "edge", "coredns", "build.sh")], capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def edge(tmp_path_factory, coredns_binary):
    tmp = str(tmp_path_factory.mktemp("edge"))
    cert = _cert(tmp, [CLUSTER, "*." + CLUSTER])
    backends = {region: [Backend(f"{region}-{i}", f"{r['prefix']}.2{i}", cert) for i in (1, 2)]
                for region, r in REGIONS.items()}
    for bs in backends.values():
        for b in bs:
            b.start()
    moto = MotoServer(log_path=os.path.join(tmp, "moto.log")).start()
    layout = Layout(os.path.join(tmp, "e")).make()
    env = moto.env()
    world = None
    try:
        ids = _moto_edge(moto, backends)
        world = Edge(moto, layout, free_port(), backends, ids)
        addr = [f"--address={region}/tp-{kind}={ip}" for (region, kind), ip in addresses().items()]
        regions = [f"--region={r}" for r in REGIONS]
        world.procs["nlb"] = Proc("nlb", [sys.executable, "-m", "harness.edge.nlb_double", "--edge-dir", layout.dir,
                                          *regions, *addr], os.path.join(tmp, "nlb-double.log"), env=env)
        wait_until("the NLB double's zone file", lambda: os.path.exists(layout.nlb_zone) and world.procs["nlb"].alive(), 60)
        world.procs["policy"] = Proc("policy", [sys.executable, "-m", "harness.edge.route53_policy_double",
                                                "--edge-dir", layout.dir] + [f"--client-region={r}" for r in REGIONS],
                                     os.path.join(tmp, "policy-double.log"), env=env)
        wait_until("the policy double's state", lambda: os.path.exists(layout.policy_state), 60)
        assert edge_dns.main(["fix-soa", "--endpoint-url", moto.endpoint]) == 0
        views = [f"--view={r}={v['net']}" for r, v in REGIONS.items()]
        assert edge_dns.main(["generate", "--edge-dir", layout.dir, "--endpoint-url", moto.endpoint, *views,
                              f"--listen=127.0.0.1:{world.dns_port}"]) == 0
        argv, cenv = edge_dns.coredns_command(coredns_binary, layout, moto.endpoint)
        world.procs["coredns"] = Proc("coredns", argv, os.path.join(tmp, "coredns.log"), env=cenv, cwd=layout.dir)
        wait_until("CoreDNS answering", lambda: world.procs["coredns"].alive()
                   and world.dig("www." + ZONE, public_client("us-west-2"))[0] == "NOERROR", 30)
        yield world
    finally:
        if world:
            for p in reversed(list(world.procs.values())):
                p.stop()
        moto.stop()
        for bs in backends.values():
            for b in bs:
                b.stop()


def until(what, condition, timeout):
    """wait_until that also returns how long it took."""
    t0 = time.monotonic()
    result = wait_until(what, condition, timeout, interval=0.2)
    return result, time.monotonic() - t0
