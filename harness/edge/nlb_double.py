"""nlb-double: the data plane of AWS Network Load Balancers, which moto does not have.

moto stores load balancers, listeners, target groups and registered targets, and says
every target is healthy; nothing forwards a byte. This double reads moto's ELBv2 every
cycle and renders Debian's HAProxy 2.6 (the real forwarding part) in TCP mode:

- one frontend per TCP listener, bound on the address the caller assigns to the load
  balancer (--address), forwarding to the listener's target group;
- one backend per target group whose servers are exactly its registered targets
  (instance private IP or IP target, at the target's port), health-checked the way the
  target group defines (protocol, port incl. traffic-port, path, matcher, interval,
  timeout, healthy/unhealthy thresholds);
- deregistration draining, which moto skips (it deregisters at once): a target that left
  stays in HAProxy with weight 0 (no new connections, established ones continue) for the
  target group's deregistration_delay.timeout_seconds, then is removed; with
  deregistration_delay.connection_termination.enabled its remaining connections are
  closed at that moment.

Changes are applied with HAProxy's seamless reload (master-worker, SIGUSR2; the old
worker keeps its established connections), server states carried over in a
server-state file. Where AWS would refuse a configuration moto accepted, the double
refuses it too, naming it, and renders the rest.

It writes (docs/edge.md): <edge-dir>/haproxy/haproxy.cfg, <edge-dir>/zones/nlb.db (each
load balancer's DNS name as moto generated it -> its address, for CoreDNS) and
<edge-dir>/nlb-double.json (state), and logs one line per transition.

Every cycle (--interval, 1 s) reads HAProxy's health and drains and writes the state; moto is read
every --moto-interval seconds (1 by default, the sandbox 5), and at the next cycle after the elbv2
double forwarded a change (it touches <edge-dir>/nlb-double.nudge), so a registration made through
the API reaches the data plane within a cycle while moto is not asked the same questions every
second. The state's `moto_read_at` is when the last read of moto began: what it holds is at least as
new as that (the elbv2 double's "the data plane has not read it yet").

    python -m harness.edge.nlb_double --edge-dir DIR --endpoint-url URL \\
        --region us-west-2 --region eu-central-1 --address us-west-2/NAME=198.18.1.10 ...
"""
import argparse
import copy
import csv
import io
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time

from .common import (
    NLB_TTL,
    NLB_ZONE,
    EdgeError,
    Layout,
    Logger,
    client,
    dns_name,
    endpoint_url,
    is_under,
    paginate,
    read_json,
    run_cycles,
    start_double,
    utc_now,
    utc_time,
    write_if_changed,
    write_json,
)

NAME = "nlb-double"
HAPROXY = os.environ.get("HAPROXY_BIN", "/usr/sbin/haproxy")

# Network Load Balancer idle timeout for TCP flows (ELB User Guide, "Connection idle timeout": 350 s).
IDLE_TIMEOUT_S = 350
# Target group attributes and their defaults (ELBv2 API, TargetGroupAttribute).
DEFAULT_DEREGISTRATION_DELAY_S = 300
# ELBv2 API limits (botocore's service model for elbv2 and the NLB health check docs).
HC_INTERVAL = (5, 300)
HC_TIMEOUT = (2, 120)
HC_THRESHOLD = (2, 10)
DEREGISTRATION_DELAY = (0, 3600)
MATCHER_RE = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


def _int(v, default=None):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _validate_target_group(tg, attrs):
    """What CreateTargetGroup/ModifyTargetGroup(Attributes) refuse for a Network Load
    Balancer target group, and what this double cannot model. Returns error strings."""
    errs = []
    where = f"target group {tg['TargetGroupName']}"
    if tg.get("Protocol") != "TCP":
        errs.append(f"{where}: protocol {tg.get('Protocol')} is not modelled (the double forwards TCP only; TLS needs the "
                    "NLB to terminate TLS, UDP has no HAProxy equivalent)")
    if tg.get("TargetType", "instance") not in ("instance", "ip"):
        errs.append(f"{where}: target type {tg.get('TargetType')} is not modelled (instance and ip are)")
    proto = (tg.get("HealthCheckProtocol") or "TCP").upper()
    if proto not in ("TCP", "HTTP", "HTTPS"):
        errs.append(f"{where}: HealthCheckProtocol {proto}: Network Load Balancers check with TCP, HTTP or HTTPS")
    checks = (("HealthCheckIntervalSeconds", HC_INTERVAL), ("HealthCheckTimeoutSeconds", HC_TIMEOUT),
              ("HealthyThresholdCount", HC_THRESHOLD), ("UnhealthyThresholdCount", HC_THRESHOLD))
    for key, (lo, hi) in checks:
        v = _int(tg.get(key))
        if v is None or not lo <= v <= hi:
            errs.append(f"{where}: {key}={tg.get(key)} outside {lo}..{hi} (ELBv2 API)")
    port = tg.get("HealthCheckPort") or "traffic-port"
    if port != "traffic-port" and not 1 <= (_int(port) or 0) <= 65535:
        errs.append(f"{where}: HealthCheckPort={port!r} is neither traffic-port nor 1..65535")
    if proto in ("HTTP", "HTTPS"):
        path = tg.get("HealthCheckPath") or "/"
        if not path.startswith("/") or len(path) > 1024 or any(c.isspace() for c in path):
            errs.append(f"{where}: HealthCheckPath={path!r} must start with / and hold no spaces (ELBv2 API)")
        code = (tg.get("Matcher") or {}).get("HttpCode", "200-399")
        if not MATCHER_RE.match(code) or any(not 200 <= int(c) <= 599 for c in re.split("[-,]", code)):
            errs.append(f"{where}: Matcher HttpCode={code!r}: a Network Load Balancer accepts codes 200-599 as "
                        "'200', '200,202' or '200-399'")
    delay = _int(attrs.get("deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY_S))
    if delay is None or not DEREGISTRATION_DELAY[0] <= delay <= DEREGISTRATION_DELAY[1]:
        errs.append(f"{where}: deregistration_delay.timeout_seconds="
                    f"{attrs.get('deregistration_delay.timeout_seconds')!r} outside 0..3600")
    for key in ("deregistration_delay.connection_termination.enabled", "proxy_protocol_v2.enabled", "preserve_client_ip.enabled"):
        if key in attrs and attrs[key] not in ("true", "false"):
            errs.append(f"{where}: {key}={attrs[key]!r} must be true or false")
    return errs


def read_world(endpoint, regions):
    """moto's network load balancers, listeners, target groups and targets, as plain
    dicts; errors lists what AWS would have refused (or what is not modelled)."""
    lbs, tgs, errors = [], {}, []
    instance_ips = {}
    for region in regions:
        elb = client("elbv2", region, endpoint)
        ec2 = client("ec2", region, endpoint)
        for r in paginate(ec2, "describe_instances", "Reservations"):
            for i in r["Instances"]:
                if i.get("PrivateIpAddress") and i["State"]["Name"] != "terminated":
                    instance_ips[i["PrivateIpAddress"]] = f"{region}/{i['InstanceId']}"
        for tg in paginate(elb, "describe_target_groups", "TargetGroups"):
            attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
                TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
            health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
            tgs[tg["TargetGroupArn"]] = {"raw": tg, "region": region, "attrs": attrs, "registered": health,
                                         "errors": _validate_target_group(tg, attrs), "load_balancers": set()}
        instance_ids = sorted({h["Target"]["Id"] for t in tgs.values() if t["region"] == region
                               and t["raw"].get("TargetType", "instance") == "instance" for h in t["registered"]})
        instances = {}
        if instance_ids:
            for r in paginate(ec2, "describe_instances", "Reservations", InstanceIds=instance_ids):
                for i in r["Instances"]:
                    instances[i["InstanceId"]] = i
        for t in (t for t in tgs.values() if t["region"] == region):
            t["targets"] = []
            for h in t["registered"]:
                tid, port = h["Target"]["Id"], h["Target"].get("Port", t["raw"]["Port"])
                if t["raw"].get("TargetType", "instance") == "ip":
                    addr = tid
                else:
                    inst = instances.get(tid)
                    # ELB: a target on a stopped or terminated instance is "unused" (Target.InvalidState).
                    if not inst or inst["State"]["Name"] != "running" or not inst.get("PrivateIpAddress"):
                        continue
                    addr = inst["PrivateIpAddress"]
                t["targets"].append({"id": tid, "port": port, "address": addr})
        for lb in paginate(elb, "describe_load_balancers", "LoadBalancers"):
            if lb.get("Type") != "network":
                continue  # application/gateway load balancers are not this double's
            entry = {"raw": lb, "region": region, "listeners": [], "errors": []}
            for lst in paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]):
                where = f"load balancer {region}/{lb['LoadBalancerName']} listener {lst['Port']}"
                if lst.get("Protocol") != "TCP":
                    entry["errors"].append(f"{where}: protocol {lst.get('Protocol')} is not modelled (TCP only)")
                    continue
                fwd = [a for a in lst.get("DefaultActions", []) if a.get("Type") == "forward"]
                arns = set()
                for a in fwd:
                    if a.get("TargetGroupArn"):
                        arns.add(a["TargetGroupArn"])
                    for g in (a.get("ForwardConfig") or {}).get("TargetGroups", []):
                        arns.add(g["TargetGroupArn"])
                # ELBv2: a Network Load Balancer listener forwards to exactly one target group.
                if len(fwd) != 1 or len(arns) != 1:
                    entry["errors"].append(f"{where}: a Network Load Balancer listener needs exactly one forward action "
                                           f"to one target group (found {len(arns)})")
                    continue
                arn = arns.pop()
                if arn not in tgs:
                    entry["errors"].append(f"{where}: target group {arn} does not exist in {region}")
                    continue
                tgs[arn]["load_balancers"].add(lb["LoadBalancerArn"])
                entry["listeners"].append({"port": lst["Port"], "protocol": "TCP", "target_group": arn})
            lbs.append(entry)
    for t in tgs.values():
        # ELBv2: a target group of a Network Load Balancer serves only that load balancer.
        if len(t["load_balancers"]) > 1:
            t["errors"].append(f"target group {t['raw']['TargetGroupName']}: used by {len(t['load_balancers'])} load "
                               "balancers; ELBv2 lets a target group serve one")
    for lb in lbs:
        errors.extend(lb["errors"])
    for t in tgs.values():
        errors.extend(t["errors"])
    return lbs, tgs, errors, instance_ips


def parse_addresses(items):
    out = {}
    for item in items:
        key, sep, ip = item.partition("=")
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise EdgeError(f"--address {item!r}: give KEY=IPv4, KEY being the load balancer's ARN, "
                            "<region>/<name> or DNS name") from None
        if not sep or not key:
            raise EdgeError(f"--address {item!r}: give KEY=IPv4")
        if key in out:
            raise EdgeError(f"--address {key}: given twice")
        out[key] = ip
    return out


def assign_addresses(lbs, addresses, instance_ips):
    """Maps each load balancer to its --address; returns (errors, unused keys)."""
    errors, used = [], set()
    by_ip = {}
    for lb in lbs:
        raw = lb["raw"]
        keys = [raw["LoadBalancerArn"], f"{lb['region']}/{raw['LoadBalancerName']}", dns_name(raw["DNSName"]).rstrip(".")]
        hit = [k for k in addresses if k in keys or dns_name(k) == dns_name(raw["DNSName"])]
        lb["address"] = addresses[hit[0]] if hit else None
        used.update(hit)
        if lb["address"] in instance_ips:
            # moto picks instance addresses at random anywhere in a subnet: an NLB address
            # inside one can collide with an instance launched later.
            errors.append(f"--address {hit[0]}={lb['address']}: that is the private IP of instance "
                          f"{instance_ips[lb['address']]}; give the load balancer an address outside the VPC subnets")
            lb["address"] = None
        if lb["address"]:
            by_ip.setdefault(lb["address"], []).append(f"{lb['region']}/{raw['LoadBalancerName']}")
    for ip, names in by_ip.items():
        if len(names) > 1:
            errors.append(f"--address: {ip} is given to {len(names)} load balancers ({', '.join(names)}); each needs its own")
            for lb in lbs:
                if lb["address"] == ip:
                    lb["address"] = None
    return errors, sorted(set(addresses) - used)


def _sid(target):
    # HAProxy server names allow letters, digits, '-', '_', '.' and ':'; the port is part
    # of the identity because ELB registers an instance once per port.
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{target['id']}-{target['port']}")


def backend_name(tg):
    return f"tg-{tg['region']}-{tg['raw']['TargetGroupName']}"


def render(lbs, tgs, drains, layout, known_servers):
    """(haproxy.cfg text, {(backend, server)}) for the current world. drains: {(tg arn,
    sid): target} still draining; known_servers: the servers the running HAProxy has."""
    lines = [
        "# Rendered by nlb-double (the AWS NLB data plane double) from moto's ELBv2; rewritten every change.",
        "global",
        "    master-worker",
        f"    stats socket {layout.haproxy}/admin.sock mode 600 level admin",
        f"    server-state-file {layout.haproxy}/server-state",
        "    log stderr format short local0 notice",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option dontlognull",
        # NLB: a TCP flow idle for 350 s is closed; the connect timeout bounds a dead target.
        "    timeout connect 10s",
        f"    timeout client {IDLE_TIMEOUT_S}s",
        f"    timeout server {IDLE_TIMEOUT_S}s",
        "    load-server-state-from-file global",
    ]
    used_tgs, servers_out, sources = set(), set(), {}
    for lb in sorted(lbs, key=lambda b: (b["region"], b["raw"]["LoadBalancerName"])):
        if not lb.get("address"):
            continue
        for lst in sorted(lb["listeners"], key=lambda x: x["port"]):
            tg = tgs[lst["target_group"]]
            if tg["errors"]:
                continue
            used_tgs.add(lst["target_group"])
            sources[lst["target_group"]] = lb["address"]
            lines += [f"frontend lb-{lb['region']}-{lb['raw']['LoadBalancerName']}-{lst['port']}",
                      f"    bind {lb['address']}:{lst['port']}",
                      f"    default_backend {backend_name(tg)}"]
    for arn in sorted(used_tgs, key=lambda a: backend_name(tgs[a])):
        tg = tgs[arn]
        raw, attrs = tg["raw"], tg["attrs"]
        proto = (raw.get("HealthCheckProtocol") or "TCP").upper()
        lines += [f"backend {backend_name(tg)}", "    balance roundrobin",
                  # ELB fails open: "If a target group contains only unhealthy registered targets, the
                  # load balancer routes requests to all those targets" (ELB, target group health).
                  # Every registered target is also a backup server without checks, all used at once
                  # when no checked server is up.
                  "    option allbackups",
                  # NLB: health checks come from the load balancer's own addresses, and its targets'
                  # security groups admit it by naming the NLB's group (the security-group double
                  # maps the group to this address).
                  f"    source {sources[arn]}"]
        if proto in ("HTTP", "HTTPS"):
            lines += ["    option httpchk",
                      f"    http-check send meth GET uri {raw.get('HealthCheckPath') or '/'} ver HTTP/1.1 "
                      "hdr Host %[srv_name] hdr User-Agent ELB-HealthChecker/2.0",
                      f"    http-check expect status {(raw.get('Matcher') or {}).get('HttpCode', '200-399')}"]
        lines.append(f"    timeout check {raw['HealthCheckTimeoutSeconds']}s")
        hc_port = raw.get("HealthCheckPort") or "traffic-port"
        extra = " send-proxy-v2" if attrs.get("proxy_protocol_v2.enabled") == "true" else ""
        check = (f"check inter {raw['HealthCheckIntervalSeconds']}s rise {raw['HealthyThresholdCount']} "
                 f"fall {raw['UnhealthyThresholdCount']}" + (" check-ssl verify none" if proto == "HTTPS" else ""))
        servers = {(_sid(t)): (t, False) for t in tg["targets"]}
        for (tarn, sid), t in drains.items():
            if tarn == arn and sid not in servers:
                servers[sid] = (t, True)
        for sid in sorted(servers):
            t, draining = servers[sid]
            port = f" port {hc_port}" if hc_port != "traffic-port" else ""
            # Draining: weight 0 takes no new connection; established ones continue.
            # New: ELB holds a newly registered target in "initial" until it passed
            # HealthyThresholdCount checks; HAProxy starts a server UP, so a new one starts
            # in maintenance and the double marks it ready-but-down (HAProxy.mark_initial).
            new = (backend_name(tg), sid) not in known_servers
            lines.append(f"    server {sid} {t['address']}:{t['port']} {check}{port}{extra}"
                         + (" weight 0" if draining else "") + (" disabled" if new else ""))
            servers_out.add((backend_name(tg), sid))
            if not draining:
                lines.append(f"    server {sid}.failopen {t['address']}:{t['port']} backup{extra}")
    return "\n".join(lines) + "\n", servers_out


def render_zone(lbs):
    rrs = []
    for lb in lbs:
        if lb.get("address") and is_under(lb["raw"]["DNSName"], NLB_ZONE):
            rrs.append((dns_name(lb["raw"]["DNSName"]), NLB_TTL, "A", lb["address"]))
    lines = ["; Written by nlb-double (the AWS NLB data plane double): each load balancer's DNS name -> its address.",
             f"$ORIGIN {NLB_ZONE}",
             f"{NLB_ZONE} {NLB_TTL} IN SOA ns.nlb-double.invalid. hostmaster.nlb-double.invalid. 1 7200 900 1209600 {NLB_TTL}"]
    lines += [f"{n} {ttl} IN {t} {v}" for n, ttl, t, v in sorted(rrs)]
    return "\n".join(lines) + "\n"


def cli_command(sock_path, command, timeout=5.0):
    """One command on an HAProxy CLI socket (admin or master); returns its output."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    return b"".join(chunks).decode(errors="replace")


class HAProxy:
    """Debian's HAProxy in master-worker mode, owned by the double."""

    def __init__(self, layout, log):
        self.layout = layout
        self.log = log
        self.cfg = os.path.join(layout.haproxy, "haproxy.cfg")
        self.master_sock = os.path.join(layout.haproxy, "master.sock")
        self.admin_sock = os.path.join(layout.haproxy, "admin.sock")
        self.proc = None
        self.reloads = 0

    def validate(self, text):
        candidate = self.cfg + ".new"
        with open(candidate, "w") as f:
            f.write(text)
        p = subprocess.run([HAPROXY, "-c", "-q", "-f", candidate], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            os.unlink(candidate)
            raise EdgeError("HAProxy refused the rendered configuration: " + (p.stdout + p.stderr).strip()[-1500:])
        return candidate

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def apply(self, text, reason):
        candidate = self.validate(text)
        if self.running():
            self.save_server_state()
        os.replace(candidate, self.cfg)
        if not self.running():
            if self.proc is not None:
                self.log("haproxy", event="exited", code=self.proc.returncode, action="starting it again")
            logf = open(os.path.join(self.layout.haproxy, "haproxy.log"), "ab")
            self.proc = subprocess.Popen([HAPROXY, "-W", "-S", f"{self.master_sock},mode,600", "-f", self.cfg],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            logf.close()
            self.log("haproxy", event="started", pid=self.proc.pid, reason=reason)
            self.wait_worker(None)
            return
        before = self.worker_pid()
        self.proc.send_signal(signal.SIGUSR2)  # HAProxy master-worker: USR2 = seamless reload
        self.reloads += 1
        self.wait_worker(before)
        self.log("haproxy", event="reloaded", reloads=self.reloads, reason=reason)

    def save_server_state(self):
        try:
            state = cli_command(self.admin_sock, "show servers state")
        except OSError:
            return
        with open(os.path.join(self.layout.haproxy, "server-state"), "w") as f:
            f.write(state)

    def worker_pid(self):
        try:
            for line in cli_command(self.admin_sock, "show info").splitlines():
                if line.startswith("Pid:"):
                    return int(line.split(":", 1)[1])
        except (OSError, ValueError):
            return None
        return None

    def wait_worker(self, old_pid, timeout=15.0):
        """Waits until a worker other than old_pid answers on the admin socket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.worker_pid()
            if pid and pid != old_pid:
                return pid
            if not self.running():
                raise EdgeError(f"HAProxy exited (code {self.proc.returncode}); see {self.layout.haproxy}/haproxy.log")
            time.sleep(0.1)  # the new worker binds the admin socket within milliseconds; bounded by the deadline
        raise EdgeError(f"HAProxy's new worker did not answer within {timeout:.0f} s; see {self.layout.haproxy}/haproxy.log")

    def all_worker_pids(self):
        """Current and old workers (old ones still hold their established connections)."""
        pids = []
        try:
            for line in cli_command(self.master_sock, "show proc").splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[1] == "worker" and parts[0].isdigit():
                    pids.append(int(parts[0]))
        except OSError:
            pass
        return pids

    def mark_initial(self, servers):
        """Leaves maintenance and forces the health check state down in one CLI batch, so
        the server needs `rise` passing checks before it takes traffic (ELB's "initial")."""
        for be, sid in sorted(servers):
            out = cli_command(self.admin_sock, f"set server {be}/{sid} state ready; set server {be}/{sid} health down")
            if out.strip():
                raise EdgeError(f"HAProxy refused to mark {be}/{sid} initial: {out.strip()}")

    def shutdown_sessions(self, backend, server):
        """Closes the server's connections in every worker, old ones included (a reload
        leaves established connections in the old worker, whose proxies are disabled, so
        `shutdown sessions server` is refused there: each session is shut by its id).
        Returns how many were closed."""
        closed = 0
        for pid in self.all_worker_pids():
            try:
                sessions = cli_command(self.master_sock, f"@!{pid} show sess")
            except OSError:
                continue
            for line in sessions.splitlines():
                fields = line.split()
                if fields and fields[0].endswith(":") and f"be={backend}" in fields and f"srv={server}" in fields:
                    out = cli_command(self.master_sock, f"@!{pid} shutdown session {fields[0].rstrip(':')}").strip()
                    if out:
                        self.log("haproxy", event="shutdown_session_refused", worker=pid, server=f"{backend}/{server}",
                                 output=out)
                    else:
                        closed += 1
        return closed

    def stats(self):
        """{(backend, server): row} from the current worker's `show stat`."""
        try:
            text = cli_command(self.admin_sock, "show stat")
        except OSError:
            return {}
        text = text.lstrip("# ")
        return {(r["pxname"], r["svname"]): r for r in csv.DictReader(io.StringIO(text)) if r.get("pxname")}

    def stop(self):
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def haproxy_state(row):
    """ELB-like target state from HAProxy's server status column."""
    if row is None:
        return "initial"
    status = row.get("status", "")
    if status.startswith("UP") or status == "no check":
        return "up"
    return "down"


class NLBDouble:
    def __init__(self, layout, endpoint, regions, addresses, log=None):
        self.layout = layout.make()
        self.endpoint = endpoint
        self.regions = regions
        self.addresses = addresses
        self.log = log or Logger(NAME)
        self.haproxy = HAProxy(self.layout, self.log)
        self.drains = {}   # (tg arn, sid) -> {"target":..., "until": wall time, "since": wall time, "backend":..}
        self.known = {}    # (tg arn, sid) -> last reported state
        self.errors = []
        self.last_cfg = None
        self._registered = {}  # (tg arn, sid) -> target, as registered in moto last cycle
        self.servers = set()   # (backend, server) in the running HAProxy
        self.added = {}        # (backend, server) -> monotonic time it was added, until first UP
        self.moto_interval = 1.0
        self._world = None     # the last read of moto, and when it began (wall time)
        self._world_read_at = None
        self._next_read = 0.0  # monotonic time of the next periodic read
        self._nudge_seen = None
        self._load_drains()

    def _read_moto(self):
        """read_world's answer: read again when the last read is --moto-interval old or the elbv2 double
        nudged; otherwise the last one (each cycle gets its own copy: the cycle adds to it)."""
        try:
            nudge = os.stat(self.layout.nlb_nudge).st_mtime_ns
        except FileNotFoundError:
            nudge = None
        if self._world is None or time.monotonic() >= self._next_read or nudge != self._nudge_seen:
            read_at = time.time()
            self._nudge_seen = nudge
            self._world = read_world(self.endpoint, self.regions)
            self._world_read_at = read_at
            self._next_read = time.monotonic() + self.moto_interval
        return copy.deepcopy(self._world)

    def _load_drains(self):
        """Drains survive a restart of the double: their deadlines are in its state file."""
        state = read_json(self.layout.nlb_state, {}) or {}
        now = time.time()
        for d in state.get("draining", []):
            if d.get("until", 0) > now:
                self.drains[(d["target_group_arn"], d["server"])] = d

    def cycle(self):
        lbs, tgs, errors, instance_ips = self._read_moto()
        addr_errors, unused = assign_addresses(lbs, self.addresses, instance_ips)
        errors += addr_errors
        errors += [f"--address {k}: no network load balancer in {', '.join(self.regions)} has that ARN, "
                   "<region>/<name> or DNS name" for k in unused]
        for lb in lbs:
            if not lb["address"]:
                errors.append(f"load balancer {lb['region']}/{lb['raw']['LoadBalancerName']} has no --address: "
                              "not served (give --address <region>/<name>=<IPv4>)")
            elif not is_under(lb["raw"]["DNSName"], NLB_ZONE):
                errors.append(f"load balancer {lb['raw']['DNSName']}: DNS name outside {NLB_ZONE}, not in the zone file")
        now = time.time()
        current = {(arn, _sid(t)): t for arn, tg in tgs.items() for t in tg.get("targets", [])}
        # A target registered last cycle and gone now was deregistered: "Elastic Load
        # Balancing stops sending requests to targets that are deregistering" and keeps
        # them draining for the deregistration delay (ELB, Deregistration delay).
        for key, target in self._registered.items():
            if key in current or key in self.drains or key[0] not in tgs:
                continue
            tg = tgs[key[0]]
            delay = _int(tg["attrs"].get("deregistration_delay.timeout_seconds"), DEFAULT_DEREGISTRATION_DELAY_S)
            if delay == 0:
                continue
            self.drains[key] = {"target_group_arn": key[0], "server": key[1], "backend": backend_name(tg),
                                "target": target, "since": now, "until": now + delay,
                                "terminate": tg["attrs"].get("deregistration_delay.connection_termination.enabled") == "true"}
            self.log("deregistered", target_group=f"{tg['region']}/{tg['raw']['TargetGroupName']}",
                     target=f"{target['id']}:{target['port']}", draining_for_s=delay,
                     connection_termination=str(self.drains[key]["terminate"]).lower())
        self._registered = dict(current)
        for key in list(self.drains):
            d = self.drains[key]
            if key in current:
                del self.drains[key]  # registered again: a normal target once more
            elif d["until"] <= now or key[0] not in tgs:
                if d.get("terminate") and self.haproxy.running():
                    # deregistration_delay.connection_termination.enabled: "the load balancer
                    # terminates connections at the end of the deregistration timeout".
                    closed = self.haproxy.shutdown_sessions(d["backend"], d["server"])
                    self.log("connections_terminated", backend=d["backend"], server=d["server"], closed=closed)
                del self.drains[key]
        drains_for_render = {k: d["target"] for k, d in self.drains.items()}
        known = self.servers if self.haproxy.running() else set()
        cfg, servers = render(lbs, tgs, drains_for_render, self.layout, known)
        if cfg != self.last_cfg or not self.haproxy.running():
            try:
                self.haproxy.apply(cfg, reason="moto's ELBv2 changed" if self.last_cfg else "first configuration")
                self.last_cfg, self.servers = cfg, servers
                fresh = servers - known
                self.haproxy.mark_initial(fresh)
                for be, sid in fresh:
                    self.added[(be, sid)] = time.monotonic()
            except EdgeError as e:
                errors.append(str(e))
        if write_if_changed(self.layout.nlb_zone, render_zone(lbs)):
            self.log("zone", file=self.layout.nlb_zone,
                     names=",".join(f"{dns_name(b['raw']['DNSName'])}={b['address']}" for b in lbs if b["address"]) or "-")
        self._report(lbs, tgs, current, errors)

    def _report(self, lbs, tgs, current, errors):
        stats = self.haproxy.stats() if self.haproxy.running() else {}
        served = {lst["target_group"] for lb in lbs if lb.get("address") for lst in lb["listeners"]}
        tg_out = []
        states = {}
        for arn, tg in sorted(tgs.items(), key=lambda kv: backend_name(kv[1])):
            be = backend_name(tg)
            targets = []
            keys = sorted({k for k in current if k[0] == arn} | {k for k in self.drains if k[0] == arn})
            for key in keys:
                t = current.get(key) or self.drains[key]["target"]
                row = stats.get((be, key[1]))
                if key in self.drains:
                    state = "drain"
                elif arn not in served or tg["errors"]:
                    state = "unused"
                else:
                    state = haproxy_state(row)
                    added = self.added.get((be, key[1]))
                    if state == "up":
                        self.added.pop((be, key[1]), None)
                    elif added is not None:
                        # ELB: "initial" until the target passed the healthy threshold, or
                        # failed the unhealthy threshold's worth of checks.
                        fail_after = tg["raw"]["HealthCheckIntervalSeconds"] * tg["raw"]["UnhealthyThresholdCount"]
                        state = "initial" if time.monotonic() - added < fail_after else "down"
                states[key] = state
                entry = {"id": t["id"], "port": t["port"], "address": t["address"], "server": key[1], "state": state,
                         "haproxy_status": row.get("status") if row else None,
                         "current_connections": _int(row.get("scur"), 0) if row else 0}
                if key in self.drains:
                    entry["draining_until"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.drains[key]["until"]))
                targets.append(entry)
            raw = tg["raw"]
            tg_out.append({
                "arn": arn, "name": raw["TargetGroupName"], "region": tg["region"], "backend": be, "port": raw["Port"],
                "served": arn in served and not tg["errors"], "errors": tg["errors"],
                "health_check": {k: raw.get(k) for k in ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath",
                                                         "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                                                         "HealthyThresholdCount", "UnhealthyThresholdCount")}
                | {"Matcher": (raw.get("Matcher") or {}).get("HttpCode")},
                "deregistration_delay_s": _int(tg["attrs"].get("deregistration_delay.timeout_seconds"),
                                               DEFAULT_DEREGISTRATION_DELAY_S),
                "connection_termination": tg["attrs"].get("deregistration_delay.connection_termination.enabled") == "true",
                "targets": targets})
        for key, state in states.items():
            was = self.known.get(key)
            if was != state:
                t = current.get(key) or self.drains[key]["target"]
                tg = tgs[key[0]]
                self.log("target", target_group=f"{tg['region']}/{tg['raw']['TargetGroupName']}", target=f"{t['id']}:{t['port']}",
                         address=f"{t['address']}:{t['port']}", transition=f"{was or 'new'}->{state}")
        for key in set(self.known) - set(states):
            tg = tgs.get(key[0])
            self.log("target", target_group=f"{tg['region']}/{tg['raw']['TargetGroupName']}" if tg else key[0],
                     target=key[1], transition=f"{self.known[key]}->removed")
        self.known = states
        if errors != self.errors:
            for e in errors:
                if e not in self.errors:
                    self.log("error", message=e)
            self.errors = errors
        lb_out = [{"arn": lb["raw"]["LoadBalancerArn"], "name": lb["raw"]["LoadBalancerName"], "region": lb["region"],
                   "scheme": lb["raw"].get("Scheme"), "dns_name": dns_name(lb["raw"]["DNSName"]).rstrip("."),
                   "address": lb.get("address"),
                   "listeners": [{"port": x["port"], "protocol": x["protocol"], "target_group_arn": x["target_group"]}
                                 for x in lb["listeners"]]} for lb in lbs]
        write_json(self.layout.nlb_state, {
            "double": NAME, "updated_at": utc_now(), "moto_read_at": utc_time(self._world_read_at), "errors": errors,
            "haproxy": {"pid": self.haproxy.proc.pid if self.haproxy.running() else None, "reloads": self.haproxy.reloads,
                        "config": self.haproxy.cfg},
            "load_balancers": lb_out, "target_groups": tg_out,
            "draining": list(self.drains.values()),
        })

    def run(self, interval):
        self.log("start", endpoint=self.endpoint, regions=",".join(self.regions), edge_dir=self.layout.dir,
                 note="AWS NLB data plane double: HAProxy forwards, the double mirrors ELB's behaviour")
        run_cycles(self.cycle, interval, self.log, cleanup=self.haproxy.stop)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nlb_double", description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge-dir", required=True, help="directory for haproxy/, zones/nlb.db and nlb-double.json")
    ap.add_argument("--endpoint-url", help="moto's endpoint (default: $AWS_ENDPOINT_URL)")
    ap.add_argument("--region", action="append", required=True, help="an AWS region to read (repeat)")
    ap.add_argument("--address", action="append", default=[],
                    help="KEY=IPv4: the address a load balancer's listeners bind on; KEY is its ARN, <region>/<name> "
                         "or DNS name (repeat)")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between cycles: HAProxy's health, drains, the state file (default 1)")
    ap.add_argument("--moto-interval", type=float, default=None,
                    help="seconds between reads of moto when nothing nudged the double (default: --interval)")
    a = ap.parse_args(argv)
    log = Logger(NAME)

    def build():
        if a.interval <= 0:
            raise EdgeError("--interval: must be > 0")
        moto_interval = a.interval if a.moto_interval is None else a.moto_interval
        if moto_interval < a.interval:
            raise EdgeError(f"--moto-interval ({moto_interval}) must be at least --interval ({a.interval})")
        double = NLBDouble(Layout(a.edge_dir), endpoint_url(a.endpoint_url), a.region, parse_addresses(a.address), log)
        double.moto_interval = moto_interval
        return double
    return start_double(log, build, lambda double: double.run(a.interval))


if __name__ == "__main__":
    sys.exit(main())
