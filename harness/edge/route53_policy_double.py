"""route53-policy-double: the part of Route 53 that answers queries, which moto lacks.

moto stores health checks and latency records but never probes a check (GetHealthCheckStatus
always says Success) and has no notion of a client's region. This double reads moto's
health checks and records every cycle and:

- probes each health check the way it is defined (HTTP, HTTPS, HTTP(S)_STR_MATCH, TCP;
  IPAddress, or FullyQualifiedDomainName resolved through the NLB double's names; Port,
  ResourcePath, SNI when EnableSNI, RequestInterval, FailureThreshold, Inverted, Disabled;
  CALCULATED from its children), one probe per check per interval, each bounded by Route
  53's own time limits;
- decides, per hosted zone and client region ("view"), which record of each latency set
  answers: the client region's own if healthy, else the nearest healthy one by the fixed
  distance table below, and, when none is healthy, the nearest of all (Route 53: "If all
  the records in a group of latency records are unhealthy, Route 53 responds as if all
  were healthy");
- writes one zone file per (zone, view) with every record at or below the latency names
  (<edge-dir>/zones/view-<zone id>-<region>.db, atomically), which CoreDNS serves in a
  more specific server block than the route53 plugin's (dns.py);
- keeps its state in <edge-dir>/route53-policy-double.json and logs every transition.

Public zones get a view per --client-region; a private zone gets one per region of the
VPCs associated with it (Route 53 Resolver answers a VPC from that VPC's region).

    python -m harness.edge.route53_policy_double --edge-dir DIR --endpoint-url URL \\
        --client-region us-west-2 --client-region eu-central-1
"""
import argparse
import ast
import concurrent.futures
import ipaddress
import math
import random
import socket
import ssl
import struct
import sys
import time

from .common import (
    NLB_TTL,
    EdgeError,
    Layout,
    Logger,
    client,
    dns_name,
    endpoint_url,
    is_under,
    latency_origins,
    list_record_sets,
    paginate,
    parse_hostport,
    read_json,
    routing_policy,
    run_cycles,
    short_zone_id,
    start_double,
    utc_now,
    write_if_changed,
    write_json,
)

NAME = "route53-policy-double"

# Where each latency region is (approximate metro of the region, degrees). The double's
# stand-in for Route 53's measured latency: great-circle distance between the client's
# region and a record's region, ties broken by region name (docs/edge.md prints the table
# for the sandbox's regions).
REGION_LOCATIONS = {
    "us-east-1": (39.0, -77.5), "us-east-2": (40.0, -83.0), "us-west-1": (37.3, -121.9),
    "us-west-2": (45.8, -119.7), "ca-central-1": (45.5, -73.6), "ca-west-1": (51.0, -114.1),
    "mx-central-1": (20.6, -100.4), "sa-east-1": (-23.5, -46.6), "us-gov-west-1": (45.5, -122.7),
    "us-gov-east-1": (40.0, -83.0), "eu-west-1": (53.3, -6.3), "eu-west-2": (51.5, -0.1),
    "eu-west-3": (48.9, 2.4), "eu-central-1": (50.1, 8.7), "eu-central-2": (47.4, 8.5),
    "eu-north-1": (59.3, 18.1), "eu-south-1": (45.5, 9.2), "eu-south-2": (41.6, -0.9),
    "eusc-de-east-1": (52.4, 13.1), "il-central-1": (32.1, 34.8), "me-south-1": (26.1, 50.6),
    "me-central-1": (24.5, 54.4), "af-south-1": (-33.9, 18.4), "ap-south-1": (19.1, 72.9),
    "ap-south-2": (17.4, 78.5), "ap-east-1": (22.3, 114.2), "ap-east-2": (25.0, 121.5),
    "ap-southeast-1": (1.35, 103.8), "ap-southeast-2": (-33.9, 151.2), "ap-southeast-3": (-6.2, 106.8),
    "ap-southeast-4": (-37.8, 145.0), "ap-southeast-5": (3.1, 101.7), "ap-southeast-6": (-36.8, 174.8),
    "ap-southeast-7": (13.7, 100.5), "ap-northeast-1": (35.7, 139.7), "ap-northeast-2": (37.6, 127.0),
    "ap-northeast-3": (34.7, 135.5), "cn-north-1": (39.9, 116.4), "cn-northwest-1": (38.5, 106.3),
}

# Route 53's time limits per probe (Developer Guide, "How Amazon Route 53 determines
# whether a health check is healthy"): HTTP(S) must connect within 4 s and answer with a
# status within 2 s after connecting (a string match: the body within 2 s more, the string
# in its first 5,120 bytes); TCP must connect within 10 s.
HTTP_CONNECT_S, HTTP_STATUS_S, HTTP_BODY_S, STR_MATCH_BYTES, TCP_CONNECT_S = 4.0, 2.0, 2.0, 5120, 10.0
# CreateHealthCheck: "RequestInterval ... 10 or 30"; FailureThreshold 1..10 (API model).
REQUEST_INTERVALS = (10, 30)
USER_AGENT = "Amazon-Route53-Health-Check-Service (route53-policy-double)"
# The sandbox's stand-ins for public addresses: Route 53 refuses health checks on private,
# loopback and reserved ranges, but the sandbox has nothing else (its "internet" is
# 198.18.0.0/15, the tests' is loopback). RFC 1918 and shared space stay refused.
REFUSED_CHECK_NETWORKS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                            "100.64.0.0/10", "169.254.0.0/16", "224.0.0.0/4",
                                                            "240.0.0.0/4", "0.0.0.0/8")]


def _api_enum(shape):
    """An enum from botocore's Route 53 service model: AWS's own list of valid values."""
    import botocore.loaders
    model = botocore.loaders.Loader().load_service_model("route53", "service-2")
    return frozenset(model["shapes"][shape]["enum"])


LATENCY_REGIONS = _api_enum("ResourceRecordSetRegion")
CHECKER_REGIONS = _api_enum("HealthCheckRegion")
CHECK_TYPES = _api_enum("HealthCheckType")


def distance_km(a, b):
    (la1, lo1), (la2, lo2) = REGION_LOCATIONS[a], REGION_LOCATIONS[b]
    p1, p2, dl = math.radians(la1), math.radians(la2), math.radians(lo2 - lo1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return round(6371.0 * math.acos(max(-1.0, min(1.0, c))))


def validate_health_check(hc, all_ids):
    """What CreateHealthCheck would refuse (moto accepts it). Returns error strings."""
    cfg, hid = hc["HealthCheckConfig"], hc["Id"]
    where = f"health check {hid}"
    t = cfg.get("Type")
    errs = []
    if t not in CHECK_TYPES:
        return [f"{where}: Type {t!r} is not one of {', '.join(sorted(CHECK_TYPES))}"]
    if t in ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"):
        if not cfg.get("IPAddress") and not cfg.get("FullyQualifiedDomainName"):
            errs.append(f"{where}: an endpoint check needs IPAddress or FullyQualifiedDomainName")
        if t == "TCP" and not cfg.get("Port"):
            errs.append(f"{where}: a TCP check needs Port")
        if cfg.get("Port") is not None and not 1 <= int(cfg["Port"]) <= 65535:
            errs.append(f"{where}: Port {cfg['Port']} outside 1..65535")
        if cfg.get("RequestInterval", 30) not in REQUEST_INTERVALS:
            errs.append(f"{where}: RequestInterval {cfg.get('RequestInterval')} must be 10 or 30")
        if not 1 <= int(cfg.get("FailureThreshold", 3)) <= 10:
            errs.append(f"{where}: FailureThreshold {cfg.get('FailureThreshold')} outside 1..10")
        if len(cfg.get("ResourcePath") or "") > 255:
            errs.append(f"{where}: ResourcePath longer than 255 characters")
        if t.endswith("_STR_MATCH") and not 0 < len(cfg.get("SearchString") or "") <= 255:
            errs.append(f"{where}: {t} needs a SearchString of 1..255 characters")
        regions = cfg.get("Regions")
        if regions is not None:
            if len(regions) < 3:
                errs.append(f"{where}: Regions lists {len(regions)}; Route 53 needs at least 3 checker regions")
            bad = sorted(set(regions) - CHECKER_REGIONS)
            if bad:
                errs.append(f"{where}: Regions {', '.join(bad)} have no Route 53 health checkers "
                            f"(valid: {', '.join(sorted(CHECKER_REGIONS))})")
        if cfg.get("IPAddress"):
            try:
                ip = ipaddress.ip_address(cfg["IPAddress"])
                if any(ip in n for n in REFUSED_CHECK_NETWORKS):
                    errs.append(f"{where}: IPAddress {ip} is in a private or non-routable range; Route 53 cannot check it")
            except ValueError:
                errs.append(f"{where}: IPAddress {cfg['IPAddress']!r} is not an IP address")
    elif t == "CALCULATED":
        children = cfg.get("ChildHealthChecks") or []
        missing = [c for c in children if c not in all_ids]
        if missing:
            errs.append(f"{where}: ChildHealthChecks {', '.join(missing)} do not exist")
        if not 0 <= int(cfg.get("HealthThreshold", 0)) <= 256:
            errs.append(f"{where}: HealthThreshold outside 0..256")
    return errs


class CheckState:
    """One health check's status with Route 53's threshold semantics."""

    def __init__(self, hid):
        self.id = hid
        # "Route 53 considers a new health check to be healthy until there's enough data
        # to determine the actual status" (Developer Guide, health check status).
        self.healthy = True
        self.since = utc_now()
        self.toward_flip = 0
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.probes = 0
        self.last_probe = None
        self.next_due = 0.0
        self.future = None
        self.errors = []
        self.cfg = {}

    def record(self, ok, detail, duration_ms, threshold):
        """One probe's outcome (already inverted when the check is). FailureThreshold: "the
        number of consecutive health checks that an endpoint must pass or fail for Route 53
        to change the current status of the endpoint from unhealthy to healthy or vice versa"."""
        self.probes += 1
        self.last_probe = {"at": utc_now(), "ok": ok, "detail": detail, "duration_ms": duration_ms}
        if ok:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
        else:
            self.consecutive_failures += 1
            self.consecutive_successes = 0
        if ok == self.healthy:
            self.toward_flip = 0
            return False
        self.toward_flip += 1
        if self.toward_flip >= threshold:
            self.set(ok)
            return True
        return False

    def set(self, healthy):
        changed = healthy != self.healthy
        self.healthy, self.toward_flip = healthy, 0
        if changed:
            self.since = utc_now()
        return changed


def resolve_a(name, server, timeout=2.0, depth=0):
    """A minimal stub resolver (A records, CNAMEs followed through the same server), for a
    health check whose FullyQualifiedDomainName is no load balancer of the NLB double."""
    host, port = server
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (host, port))
        data = s.recv(4096)
    rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
    if rid != qid or flags & 0xF:
        raise OSError(f"DNS {host}:{port} answered rcode {flags & 0xF} for {name}")

    def skip_name(off):
        while True:
            n = data[off]
            if n & 0xC0 == 0xC0:
                return off + 2
            if n == 0:
                return off + 1
            off += n + 1

    def read_name(off):
        labels = []
        while True:
            n = data[off]
            if n & 0xC0 == 0xC0:
                return ".".join(labels + [read_name(((n & 0x3F) << 8) | data[off + 1])])
            if n == 0:
                return ".".join(labels)
            labels.append(data[off + 1:off + 1 + n].decode())
            off += n + 1

    off = 12
    for _ in range(qd):
        off = skip_name(off) + 4
    cname = None
    for _ in range(an):
        off = skip_name(off)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(data[off:off + 4])
        if rtype == 5:
            cname = read_name(off)
        off += rdlen
    if cname and depth < 8:
        return resolve_a(cname, server, timeout, depth + 1)
    raise OSError(f"DNS {host}:{port}: no A record for {name}")


def probe(cfg, address):
    """One health check request, as a Route 53 health checker makes it. Returns (ok, detail)."""
    t = cfg["Type"]
    tls = t.startswith("HTTPS")
    port = int(cfg.get("Port") or (443 if tls else 80))
    if t == "TCP":
        try:
            socket.create_connection((address, port), timeout=TCP_CONNECT_S).close()
            return True, f"TCP {address}:{port} connected"
        except OSError as e:
            return False, f"TCP {address}:{port}: {e}"
    fqdn = cfg.get("FullyQualifiedDomainName")
    # Host header (HealthCheckConfig, FullyQualifiedDomainName): the FQDN, with :Port unless
    # the port is the protocol's default; without an FQDN, the IP address.
    host = (fqdn or address) + ("" if port == (443 if tls else 80) else f":{port}")
    path = cfg.get("ResourcePath") or "/"
    try:
        sock = socket.create_connection((address, port), timeout=HTTP_CONNECT_S)
    except OSError as e:
        return False, f"connect {address}:{port}: {e}"
    deadline = time.monotonic() + HTTP_STATUS_S
    try:
        sock.settimeout(HTTP_STATUS_S)
        if tls:
            # Route 53 does not validate the endpoint's certificate; it sends SNI (the
            # FullyQualifiedDomainName) only when EnableSNI is true.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sni = fqdn if cfg.get("EnableSNI") and fqdn else None
            sock = ctx.wrap_socket(sock, server_hostname=sni)
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
                      "Accept: */*\r\nConnection: close\r\n\r\n").encode())
        buf = b""
        while b"\r\n" not in buf:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        line = buf.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return False, f"{'HTTPS' if tls else 'HTTP'} {address}:{port}{path}: no HTTP status line ({line[:60]!r})"
        code = int(parts[1])
        if not 200 <= code < 400:
            return False, f"{'HTTPS' if tls else 'HTTP'} {address}:{port}{path}: status {code} (2xx or 3xx needed)"
        if t.endswith("_STR_MATCH"):
            body_deadline = time.monotonic() + HTTP_BODY_S
            while b"\r\n\r\n" not in buf or len(buf.split(b"\r\n\r\n", 1)[1]) < STR_MATCH_BYTES:
                remaining = body_deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(8192)
                except (TimeoutError, socket.timeout):
                    break
                if not chunk:
                    break
                buf += chunk
            body = buf.split(b"\r\n\r\n", 1)[1][:STR_MATCH_BYTES] if b"\r\n\r\n" in buf else b""
            if cfg["SearchString"].encode() not in body:
                return False, f"status {code} but {cfg['SearchString']!r} not in the first {STR_MATCH_BYTES} bytes"
        return True, f"{'HTTPS' if tls else 'HTTP'} {address}:{port}{path}: status {code}"
    except (OSError, ssl.SSLError) as e:
        return False, f"{'HTTPS' if tls else 'HTTP'} {address}:{port}{path}: {type(e).__name__}: {e}"
    finally:
        sock.close()


def soa_rdata(rrsets, zone):
    """The zone's SOA RDATA, or Route 53's default shape when moto's is malformed."""
    for rr in rrsets:
        if rr["Type"] == "SOA" and dns_name(rr["Name"]) == zone:
            value = rr["ResourceRecords"][0]["Value"]
            if value.startswith("{"):
                try:
                    value = ast.literal_eval(value)["Value"]
                except (ValueError, SyntaxError, KeyError):
                    pass
            fields = value.split()
            if len(fields) == 7 and all(f.isdigit() for f in fields[2:]):
                return value
    return f"ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 {NLB_TTL}"


def validate_records(zone, rrsets, checks):
    """Record sets that ChangeResourceRecordSets would have refused (moto stores them):
    returns {id(rr): error}."""
    bad = {}
    groups = {}
    for rr in rrsets:
        groups.setdefault((dns_name(rr["Name"]), rr["Type"]), []).append(rr)
    types_by_name = {}
    for (name, rtype) in groups:
        types_by_name.setdefault(name, set()).add(rtype)
    for (name, rtype), rrs in groups.items():
        where = f"{name} {rtype}"
        if rtype == "CNAME" and name == zone:
            for rr in rrs:
                bad[id(rr)] = f"{where}: a CNAME at the zone apex is not allowed (RFC 1034; Route 53 refuses it)"
        if rtype == "CNAME" and len(types_by_name[name]) > 1:
            for rr in rrs:
                bad[id(rr)] = f"{where}: a CNAME cannot share its name with other types (RFC 1034; Route 53 refuses it)"
        policies = {routing_policy(rr) for rr in rrs}
        if len(policies) > 1:
            for rr in rrs:
                bad[id(rr)] = f"{where}: records of one name and type must share one routing policy (found {', '.join(sorted(policies))})"
        ids = [rr.get("SetIdentifier") for rr in rrs]
        if len(rrs) > 1 and (None in ids or len(set(ids)) != len(ids)):
            for rr in rrs:
                bad.setdefault(id(rr), f"{where}: several records need unique SetIdentifiers")
        for rr in rrs:
            if routing_policy(rr) == "latency":
                if not rr.get("SetIdentifier"):
                    bad[id(rr)] = f"{where}: a latency record needs a SetIdentifier"
                if rr["Region"] not in LATENCY_REGIONS or rr["Region"] not in REGION_LOCATIONS:
                    bad[id(rr)] = f"{where} [{rr.get('SetIdentifier')}]: Region {rr['Region']!r} is not a Route 53 latency region"
            hc = rr.get("HealthCheckId")
            if hc and hc not in checks:
                bad[id(rr)] = f"{where} [{rr.get('SetIdentifier')}]: HealthCheckId {hc} does not exist (Route 53: NoSuchHealthCheck)"
            if "AliasTarget" not in rr and "TTL" not in rr:
                bad[id(rr)] = f"{where}: a non-alias record needs a TTL"
    return bad


def _absolute(value, rtype):
    if rtype in ("CNAME", "NS", "PTR") and not value.endswith("."):
        return value + "."
    return value


def _nlb_index(nlb_state):
    out = {}
    for lb in (nlb_state or {}).get("load_balancers", []):
        out[dns_name(lb["dns_name"])] = lb
    return out


def alias_health(target, nlb_state):
    """EvaluateTargetHealth on an alias to a Network Load Balancer: "For an Application or
    Network Load Balancer to be considered healthy, every target group that contains targets
    must contain at least one healthy target" (Route 53 API, AliasTarget)."""
    lb = _nlb_index(nlb_state).get(target)
    if lb is None:
        return False, f"alias target {target} is not a load balancer the NLB double serves"
    groups = {lst["target_group_arn"] for lst in lb["listeners"]}
    populated = [tg for tg in nlb_state["target_groups"] if tg["arn"] in groups and tg["targets"]]
    if not populated:
        return False, f"{target}: no target group with registered targets"
    unhealthy = [tg["name"] for tg in populated if not any(t["state"] == "up" for t in tg["targets"])]
    if unhealthy:
        return False, f"{target}: target groups without a healthy target: {', '.join(unhealthy)}"
    return True, f"{target}: every target group has a healthy target"


def record_rrs(rr, nlb_state):
    """The zone-file lines (name, ttl, type, rdata) one record set answers with."""
    name = dns_name(rr["Name"])
    if "AliasTarget" in rr:
        target = dns_name(rr["AliasTarget"]["DNSName"])
        if target.startswith("dualstack."):
            target = target[len("dualstack."):]
        lb = _nlb_index(nlb_state).get(target)
        if lb is None or not lb.get("address"):
            raise EdgeError(f"{name} {rr['Type']}: alias target {target} is not a load balancer with an address in the "
                            "NLB double (aliases to other targets are not modelled)")
        # An alias answers with the target's records at the target's TTL (ELB: 60 s).
        return [(name, NLB_TTL, "A", lb["address"])] if rr["Type"] == "A" else []
    return [(name, int(rr["TTL"]), rr["Type"], _absolute(v["Value"], rr["Type"])) for v in rr.get("ResourceRecords", [])]


class PolicyDouble:
    def __init__(self, layout, endpoint, client_regions, resolver=None, log=None, max_probes=16):
        self.layout = layout.make()
        self.endpoint = endpoint
        self.client_regions = client_regions
        self.resolver = resolver
        self.log = log or Logger(NAME)
        self.checks = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_probes, thread_name_prefix="probe")
        self.answers = {}   # (zone id, region, name, type) -> set identifier
        self.errors = []
        self.cycles = 0
        self.views = []

    # --- health checks ------------------------------------------------------------------

    def _address(self, cfg, nlb_state):
        if cfg.get("IPAddress"):
            return cfg["IPAddress"]
        fqdn = dns_name(cfg["FullyQualifiedDomainName"])
        lb = _nlb_index(nlb_state).get(fqdn)
        if lb is not None:
            if lb.get("scheme") == "internal":
                raise OSError(f"{fqdn} is an internal load balancer: its private addresses are unreachable from "
                              "Route 53's health checkers")
            if not lb.get("address"):
                raise OSError(f"{fqdn} has no address in the NLB double")
            return lb["address"]
        if self.resolver:
            return resolve_a(fqdn, self.resolver)
        raise OSError(f"cannot resolve {fqdn}: not a load balancer the NLB double serves (and no --resolver)")

    def _probe_job(self, cfg, nlb_state):
        t0 = time.monotonic()
        try:
            ok, detail = probe(cfg, self._address(cfg, nlb_state))
        except OSError as e:
            ok, detail = False, str(e)
        return ok, detail, round((time.monotonic() - t0) * 1000)

    def _update_checks(self, hcs, nlb_state):
        ids = {hc["Id"] for hc in hcs}
        for hid in list(self.checks):
            if hid not in ids:
                st = self.checks.pop(hid)
                if st.future:
                    st.future.cancel()
        now = time.monotonic()
        for hc in hcs:
            st = self.checks.setdefault(hc["Id"], CheckState(hc["Id"]))
            st.cfg = hc["HealthCheckConfig"]
            st.errors = validate_health_check(hc, ids)
        for st in self.checks.values():
            cfg = st.cfg
            inverted = bool(cfg.get("Inverted"))
            if st.errors or cfg["Type"] in ("CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
                continue
            threshold = int(cfg.get("FailureThreshold", 3))
            if st.future is not None and st.future.done():
                ok, detail, ms = st.future.result()
                st.future = None
                if st.record(ok != inverted, detail + (" (inverted)" if inverted else ""), ms, threshold):
                    self._log_check(st, detail)
            if cfg.get("Disabled"):
                # "After you disable a health check, Route 53 considers the status of the
                # health check to always be healthy" (UpdateHealthCheck, Disabled); inverting
                # it is how one stops traffic to it.
                if st.set(not inverted):
                    self._log_check(st, "disabled")
                continue
            if st.future is None and now >= st.next_due:
                interval = int(cfg.get("RequestInterval", 30))
                st.next_due = max(st.next_due + interval, now) if st.next_due else now + interval
                st.future = self.pool.submit(self._probe_job, dict(cfg), nlb_state)
        # Calculated and alarm checks after the endpoint checks they may depend on.
        for _ in range(3):
            for st in self.checks.values():
                cfg = st.cfg
                if st.errors:
                    continue
                inverted = bool(cfg.get("Inverted"))
                if cfg["Type"] == "CALCULATED":
                    children = [self.checks[c] for c in cfg.get("ChildHealthChecks", []) if c in self.checks]
                    up = sum(1 for c in children if c.healthy and not c.errors)
                    # CALCULATED: healthy when at least HealthThreshold children are healthy.
                    healthy = (up >= int(cfg.get("HealthThreshold", 0))) != inverted
                    if st.set(healthy):
                        self._log_check(st, f"{up} of {len(children)} children healthy, {cfg.get('HealthThreshold', 0)} needed")
                elif cfg["Type"] in ("CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
                    # No CloudWatch alarm or routing control exists here: the check sits in
                    # insufficient data, whose status InsufficientDataHealthStatus sets.
                    mode = cfg.get("InsufficientDataHealthStatus", "LastKnownStatus")
                    if mode != "LastKnownStatus" and st.set((mode == "Healthy") != inverted):
                        self._log_check(st, f"no alarm data here: InsufficientDataHealthStatus={mode}")

    def _log_check(self, st, detail):
        cfg = st.cfg
        target = cfg.get("IPAddress") or cfg.get("FullyQualifiedDomainName") or cfg["Type"]
        self.log("health_check", id=st.id, type=cfg["Type"], target=f"{target}:{cfg.get('Port', '-')}",
                 transition="unhealthy->healthy" if st.healthy else "healthy->unhealthy",
                 consecutive_failures=st.consecutive_failures, consecutive_successes=st.consecutive_successes,
                 failure_threshold=cfg.get("FailureThreshold", "-"), detail=detail)

    # --- latency routing ----------------------------------------------------------------

    def _record_health(self, rr, nlb_state):
        hid = rr.get("HealthCheckId")
        if hid and not self.checks[hid].healthy:
            return False, f"health check {hid} unhealthy"
        if "AliasTarget" in rr and rr["AliasTarget"].get("EvaluateTargetHealth"):
            target = dns_name(rr["AliasTarget"]["DNSName"]).removeprefix("dualstack.")
            return alias_health(target, nlb_state)
        # A record without a health check (and without EvaluateTargetHealth) is always healthy.
        return True, "healthy" if hid else "no health check"

    def _choose(self, region, records, nlb_state):
        health = {id(r): self._record_health(r, nlb_state) for r in records}
        healthy = [r for r in records if health[id(r)][0]]
        pool = healthy or records

        def key(r):
            return distance_km(region, r["Region"]), r["Region"], r["SetIdentifier"]
        best = min(pool, key=key)
        if not healthy:
            reason = "every record unhealthy: Route 53 answers as if all were healthy"
        elif best["Region"] == region:
            reason = "client region's record healthy"
        else:
            reason = f"nearest healthy record ({distance_km(region, best['Region'])} km)"
        return best, reason, health

    def _view(self, zone, rrsets, region, bad, nlb_state):
        """The zone file for one zone seen from one region, and its answers."""
        zname = dns_name(zone["Name"])
        origins = latency_origins([rr for rr in rrsets if id(rr) not in bad])
        lines, answers, errors = [], [], []
        groups = {}
        for rr in rrsets:
            name = dns_name(rr["Name"])
            if id(rr) in bad or not any(is_under(name, o) for o in origins):
                continue
            if rr["Type"] in ("SOA",) or (rr["Type"] == "NS" and name == zname):
                continue
            policy = routing_policy(rr)
            if policy == "simple":
                try:
                    lines += record_rrs(rr, nlb_state)
                except EdgeError as e:
                    errors.append(str(e))
            elif policy == "latency":
                groups.setdefault((name, rr["Type"]), []).append(rr)
            else:
                errors.append(f"{name} {rr['Type']}: {policy} routing is not modelled by the double; not answered")
        for (name, rtype), records in sorted(groups.items()):
            best, reason, health = self._choose(region, records, nlb_state)
            try:
                lines += record_rrs(best, nlb_state)
            except EdgeError as e:
                errors.append(str(e))
            answers.append({"name": name, "type": rtype, "set_identifier": best["SetIdentifier"], "region": best["Region"],
                            "values": [v["Value"] for v in best.get("ResourceRecords", [])]
                            or [best.get("AliasTarget", {}).get("DNSName")],
                            "ttl": best.get("TTL", NLB_TTL), "reason": reason,
                            "records": {r["SetIdentifier"]: {"region": r["Region"], "healthy": health[id(r)][0],
                                                             "why": health[id(r)][1]} for r in records}})
            key = (zone["Id"], region, name, rtype)
            was = self.answers.get(key)
            if was != best["SetIdentifier"]:
                self.log("answer", zone=zname, zone_id=short_zone_id(zone["Id"]), view=region, name=name, type=rtype,
                         record=best["SetIdentifier"], record_region=best["Region"],
                         transition=f"{was or 'none'}->{best['SetIdentifier']}", reason=reason)
                self.answers[key] = best["SetIdentifier"]
        ns = [rr for rr in rrsets if rr["Type"] == "NS" and dns_name(rr["Name"]) == zname]
        for rr in ns:
            lines += [(zname, int(rr.get("TTL", 172800)), "NS", _absolute(v["Value"], "NS")) for v in rr["ResourceRecords"]]
        header = (f"Written by {NAME} (the Route 53 routing policy double) for zone {zname} ({short_zone_id(zone['Id'])}),\n"
                  f"view {region}: latency sets resolved for a client in {region}; every record below "
                  f"{', '.join(origins)}.")
        text = "\n".join([f"; {h}" for h in header.splitlines()] + [f"$ORIGIN {zname}",
                         f"{zname} 900 IN SOA {soa_rdata(rrsets, zname)}"]
                         + [f"{n} {ttl} IN {t} {v}" for n, ttl, t, v in sorted(set(lines))]) + "\n"
        return text, answers, errors, origins

    def cycle(self):
        r53 = client("route53", "us-east-1", self.endpoint)
        hcs = paginate(r53, "list_health_checks", "HealthChecks")
        nlb_state = read_json(self.layout.nlb_state, {}) or {}
        self._update_checks(hcs, nlb_state)
        errors = [e for st in self.checks.values() for e in st.errors]
        views = []
        for zone in paginate(r53, "list_hosted_zones", "HostedZones"):
            rrsets = list_record_sets(r53, zone["Id"])
            if not latency_origins(rrsets):
                continue
            zname = dns_name(zone["Name"])
            # A check CreateHealthCheck would have refused does not exist as far as the
            # records are concerned: ChangeResourceRecordSets refuses them (NoSuchHealthCheck).
            bad = validate_records(zname, rrsets, {hid for hid, st in self.checks.items() if not st.errors})
            errors += sorted(set(bad.values()))
            private = zone.get("Config", {}).get("PrivateZone", False)
            if private:
                regions = sorted({v["VPCRegion"] for v in r53.get_hosted_zone(Id=zone["Id"]).get("VPCs", [])})
            else:
                regions = self.client_regions
            for region in regions:
                if region not in REGION_LOCATIONS:
                    errors.append(f"zone {zname}: VPC region {region} is not a Route 53 latency region; no view")
                    continue
                text, answers, errs, origins = self._view(zone, rrsets, region, bad, nlb_state)
                errors += errs
                path = self.layout.view_zone(zone["Id"], region)
                if write_if_changed(path, text):
                    self.log("zone_file", zone=zname, view=region, file=path)
                views.append({"zone_id": short_zone_id(zone["Id"]), "zone": zname, "private": private, "region": region,
                              "origins": origins, "file": path, "answers": answers})
        seen = set()
        errors = [e for e in errors if not (e in seen or seen.add(e))]
        for e in errors:
            if e not in self.errors:
                self.log("error", message=e)
        self.errors, self.views = errors, views
        self.cycles += 1
        self._write_state()

    def _write_state(self):
        checks = {}
        for st in self.checks.values():
            cfg = st.cfg
            checks[st.id] = {
                "type": cfg.get("Type"), "ip_address": cfg.get("IPAddress"), "fqdn": cfg.get("FullyQualifiedDomainName"),
                "port": cfg.get("Port"), "resource_path": cfg.get("ResourcePath"), "enable_sni": cfg.get("EnableSNI"),
                "request_interval": cfg.get("RequestInterval"), "failure_threshold": cfg.get("FailureThreshold"),
                "inverted": bool(cfg.get("Inverted")), "disabled": bool(cfg.get("Disabled")),
                "healthy": st.healthy and not st.errors, "status_since": st.since,
                "consecutive_failures": st.consecutive_failures, "consecutive_successes": st.consecutive_successes,
                "probes": st.probes, "last_probe": st.last_probe, "errors": st.errors}
        write_json(self.layout.policy_state, {"double": NAME, "updated_at": utc_now(), "cycles": self.cycles,
                                              "client_regions": self.client_regions, "health_checks": checks,
                                              "views": self.views, "errors": self.errors})

    def run(self, interval):
        self.log("start", endpoint=self.endpoint, client_regions=",".join(self.client_regions), edge_dir=self.layout.dir,
                 note="Route 53 routing policy double: probes health checks and resolves latency sets per region")
        run_cycles(self.cycle, interval, self.log, cleanup=lambda: self.pool.shutdown(wait=False, cancel_futures=True))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="route53_policy_double", description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge-dir", required=True, help="directory for zones/view-*.db and route53-policy-double.json "
                    "(the NLB double's nlb-double.json is read from it)")
    ap.add_argument("--endpoint-url", help="moto's endpoint (default: $AWS_ENDPOINT_URL)")
    ap.add_argument("--client-region", action="append", required=True,
                    help="a region whose clients get a view of the public zones (repeat)")
    ap.add_argument("--resolver", help="IPv4:port of a DNS server for health check names that are not NLB names")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between reads of moto (default 1)")
    a = ap.parse_args(argv)
    log = Logger(NAME)

    def build():
        bad = [r for r in a.client_region if r not in REGION_LOCATIONS]
        if bad:
            raise EdgeError(f"--client-region {', '.join(bad)}: not a Route 53 latency region "
                            f"(known: {', '.join(sorted(REGION_LOCATIONS))})")
        if a.interval <= 0 or a.interval > 10:
            raise EdgeError("--interval: must be in (0, 10] seconds (a probe is due every 10 or 30 s)")
        resolver = parse_hostport(a.resolver, "--resolver") if a.resolver else None
        return PolicyDouble(Layout(a.edge_dir), endpoint_url(a.endpoint_url), list(dict.fromkeys(a.client_region)),
                            resolver, log)
    return start_double(log, build, lambda double: double.run(a.interval))


if __name__ == "__main__":
    sys.exit(main())
