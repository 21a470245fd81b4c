"""What the edge tools share: the file layout under one edge directory, DNS names as
Route 53 returns them, zone files, atomic writes, log lines and moto clients."""
import ipaddress
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time

# Route 53 answers ListResourceRecordSets with these fields naming a routing policy; a
# record set with none of them uses simple routing.
POLICY_FIELDS = (("Region", "latency"), ("Weight", "weighted"), ("Failover", "failover"),
                 ("GeoLocation", "geolocation"), ("GeoProximityLocation", "geoproximity"),
                 ("MultiValueAnswer", "multivalue"), ("CidrRoutingConfig", "cidr"))

# The zone the NLB double's names live in. Every ELB DNS name ends in amazonaws.com
# (moto: <name>-1.<region>.elb.amazonaws.com; AWS: <name>-<id>.elb.<region>.amazonaws.com).
NLB_ZONE = "amazonaws.com."
# Elastic Load Balancing publishes its load balancers' A records with a 60 s TTL.
NLB_TTL = 60

_ESCAPE = re.compile(r"\\([0-7]{3})")
_LOG_LOCK = threading.Lock()
_NEEDS_QUOTES = ' ="'


class EdgeError(Exception):
    """Bad input or state; the message names the field or file and the fix."""


class Layout:
    """Every file the edge tools write, under one directory (docs/edge.md, "Files")."""

    def __init__(self, edge_dir):
        self.dir = os.path.abspath(edge_dir)
        self.zones = os.path.join(self.dir, "zones")
        self.corefile = os.path.join(self.dir, "Corefile")
        self.nlb_zone = os.path.join(self.zones, "nlb.db")
        self.nlb_state = os.path.join(self.dir, "nlb-double.json")
        self.policy_state = os.path.join(self.dir, "route53-policy-double.json")
        # Touched by the elbv2 double after a change it forwarded to moto: the NLB double reads moto at its
        # next cycle instead of waiting for its --moto-interval.
        self.nlb_nudge = os.path.join(self.dir, "nlb-double.nudge")
        self.haproxy = os.path.join(self.dir, "haproxy")

    def view_zone(self, zone_id, region):
        """The zone file the policy double writes for one hosted zone as seen from one region."""
        return os.path.join(self.zones, f"view-{short_zone_id(zone_id)}-{region}.db")

    def make(self):
        os.makedirs(self.zones, exist_ok=True)
        os.makedirs(self.haproxy, exist_ok=True)
        return self


def short_zone_id(zone_id):
    return zone_id.rsplit("/", 1)[-1]


def dns_name(name):
    """A name as compared everywhere here: lower case, absolute, and with Route 53's
    octal escapes decoded (AWS returns a wildcard as \\052, moto as *)."""
    n = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), name.strip()).lower()
    return n if n.endswith(".") else n + "."


def is_under(name, origin):
    name, origin = dns_name(name), dns_name(origin)
    return name == origin or name.endswith("." + origin) or origin == "."


def routing_policy(rrset):
    for field, policy in POLICY_FIELDS:
        if field in rrset:
            return policy
    return "simple"


def latency_origins(rrsets):
    """The names a latency-routed subtree starts at: each latency record's name without
    a leading wildcard label, keeping only those not below another one."""
    names = set()
    for rr in rrsets:
        if routing_policy(rr) == "latency":
            n = dns_name(rr["Name"])
            names.add(n[2:] if n.startswith("*.") else n)
    return sorted(n for n in names if not any(o != n and is_under(n, o) for o in names))


def parse_cidrs(text, where):
    out = []
    for part in text.split(","):
        try:
            out.append(str(ipaddress.ip_network(part.strip(), strict=True)))
        except ValueError as e:
            raise EdgeError(f"{where}: {part.strip()!r} is not a CIDR block ({e}); give e.g. 198.18.1.0/24") from None
    return out


def parse_hostport(text, where):
    host, sep, port = text.rpartition(":")
    try:
        ipaddress.ip_address(host)
        port = int(port)
        if not sep or not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise EdgeError(f"{where}: {text!r} is not IPv4:port; give e.g. 198.18.1.1:53") from None
    return host, port


def atomic_write(path, text, mode=0o644):
    """Readers (CoreDNS, HAProxy, the drills) see the old file or the new one, never half."""
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_if_changed(path, text, mode=0o644):
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    atomic_write(path, text, mode)
    return True


def write_json(path, obj):
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def utc_time(t):
    """Epoch seconds as 2026-12-01T09:00:00.123Z (milliseconds truncated); None for None."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def utc_now():
    return utc_time(time.time())


class Logger:
    """One line per event, each naming the double: `<UTC time> [<name>] <event> k=v ...`.
    Drills parse the time and the key=value pairs (docs/edge.md, "Log lines")."""

    def __init__(self, name, stream=None):
        self.name = name
        self.stream = stream or sys.stdout

    def __call__(self, event, /, **fields):
        parts = [f"{utc_now()} [{self.name}] {event}"]
        for k, v in fields.items():
            s = str(v)
            quoted = not s or any(c in s for c in _NEEDS_QUOTES)
            parts.append(f"{k}={json.dumps(s) if quoted else s}")
        with _LOG_LOCK:
            print(" ".join(parts), file=self.stream, flush=True)


def zone_file(origin, soa, rrs, header):
    """A zone file in RFC 1035 master format. soa: the SOA's RDATA; rrs: (name, ttl,
    type, rdata) tuples with absolute names."""
    lines = [f"; {line}" for line in header.splitlines()]
    lines += [f"$ORIGIN {origin}", f"{origin} 900 IN SOA {soa}"]
    for name, ttl, rtype, rdata in sorted(rrs):
        lines.append(f"{name} {ttl} IN {rtype} {rdata}")
    return "\n".join(lines) + "\n"


def header(headers, name):
    """The first value of a header in [(name, value)] (names compared case-insensitively), or None."""
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


def endpoint_url(given):
    url = given or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        raise EdgeError("no AWS endpoint: give --endpoint-url http://127.0.0.1:<moto port> (or set AWS_ENDPOINT_URL); "
                        "the edge tools read moto, never AWS")
    return url


def client(service, region, endpoint):
    import boto3
    from botocore.config import Config
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20)
    return boto3.client(service, region_name=region, endpoint_url=endpoint, config=cfg,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))


def paginate(c, op, key, **kw):
    out = []
    for page in c.get_paginator(op).paginate(**kw):
        out.extend(page[key])
    return out


def list_record_sets(r53, zone_id):
    return paginate(r53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id)


def start_double(log, build, run, errors=(EdgeError,)):
    """A double's main(): build() checks its arguments and makes it; a refusal is logged as
    `fatal` with the reason and exits 2 before anything runs; otherwise run(double) serves
    until it is stopped, then 0."""
    try:
        double = build()
    except errors as e:
        log("fatal", message=str(e))
        return 2
    run(double)
    return 0


def run_cycles(cycle, interval, log, cleanup=None):
    """Runs cycle() every interval seconds until SIGTERM or SIGINT. A failing cycle keeps
    what the last good one wrote, says why, and the next one retries."""
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop["now"]:
            started = time.monotonic()
            try:
                cycle()
            except EdgeError as e:
                log("error", message=str(e))
            except Exception as e:  # moto unreachable or a bad answer: keep the last files, say so, retry
                log("error", message=f"cycle failed: {type(e).__name__}: {e}")
            pause = interval - (time.monotonic() - started)
            while pause > 0 and not stop["now"]:
                time.sleep(min(pause, 0.1))  # the cycle's pacing, not a synchronisation
                pause = interval - (time.monotonic() - started)
    finally:
        if cleanup:
            cleanup()
        log("stop")
