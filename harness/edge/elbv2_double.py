"""elbv2-target-health-double: the Elastic Load Balancing v2 API as the playbooks see it, with
target health from the NLB double's data plane instead of moto's.

moto reports every registered target `healthy` and forgets a deregistered one at once. AWS's
DescribeTargetHealth reports what the load balancer's health checks see: `initial` while a new
target has not passed its first checks, `healthy`, `unhealthy`, `draining` for the target
group's deregistration delay after DeregisterTargets, then `unused` (Target.NotRegistered).
roles/teleport/tasks/lb_drain.yml and lb_rejoin.yml wait on exactly those states; against bare
moto they return while HAProxy still drains the target or has not yet checked it.

This is a loopback HTTP proxy in front of moto for the ELBv2 endpoint only
(AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2, which boto3 and so the amazon.aws/community.aws
modules honour). Every request goes to moto unchanged; DescribeTargetHealth's answer is
rewritten from `nlb-double.json` (the targets' states as HAProxy's checks see them), in the
response shape of the AWS API, and RegisterTargets/DeregisterTargets are remembered so that
the answer never runs ahead of the data plane:

  * a target registered here is `initial` (Elb.RegistrationInProgress) until the NLB double has
    read moto after the registration (AWS: "the target is in the initial state until it passes
    the health checks");
  * a target deregistered here is `draining` (Target.DeregistrationInProgress) for the target
    group's deregistration_delay.timeout_seconds and for as long as the NLB double still drains
    it, and is listed in an unfiltered DescribeTargetHealth meanwhile, as AWS lists draining
    targets; only then `unused` (Target.NotRegistered).

Everything else (errors, unknown target groups, the registered set itself) is moto's answer.
When nlb-double.json is older than --max-state-age the double answers 503 ServiceUnavailable
rather than report health nobody measured.

  python -m harness.edge.elbv2_double --edge-dir EDGE --endpoint-url http://127.0.0.1:<moto> \
      --listen 127.0.0.1:<port>
"""
import argparse
import calendar
import http.client
import http.server
import os
import signal
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

from .common import EdgeError, Layout, Logger, endpoint_url, parse_hostport, read_json, start_double

NAME = "elbv2-target-health-double"
NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
# ELB's default deregistration delay, used when the NLB double does not know the group yet.
DEFAULT_DEREGISTRATION_DELAY_S = 300

# TargetHealth for each state (AWS API reference, TargetHealth: State, Reason, Description).
HEALTH = {
    "healthy": (None, None),
    "initial_registering": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "initial_checking": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused_not_registered": ("Target.NotRegistered", "Target is not registered to the target group"),
    "unused_not_in_use": ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
}
# NLB double target state -> our key above.
FROM_DATA_PLANE = {"up": "healthy", "down": "unhealthy", "initial": "initial_checking", "drain": "draining",
                   "unused": "unused_not_in_use"}


def _parse_time(text):
    """nlb-double.json's updated_at (2026-12-01T09:00:00.123Z) as epoch seconds."""
    base, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + (int(frac) / 1000 if frac else 0)


def _members(form, prefix):
    """Targets.member.N.Id/.Port of a query-protocol request as [(id, port or None)]."""
    out = {}
    for k, v in form.items():
        if k.startswith(prefix + ".member."):
            n, _, field = k[len(prefix) + 8:].partition(".")
            out.setdefault(int(n), {})[field] = v
    return [(m.get("Id"), int(m["Port"]) if m.get("Port") else None) for _, m in sorted(out.items())]


class TargetHealth:
    """Decides each target's state from moto's registrations, the NLB double's state and the
    registrations and deregistrations made through this double."""

    def __init__(self, layout, lag, max_state_age, log):
        self.layout, self.lag, self.max_state_age, self.log = layout, lag, max_state_age, log
        self.lock = threading.Lock()
        self.registered = {}    # (tg arn, id, port) -> wall time of RegisterTargets
        self.deregistered = {}  # (tg arn, id, port) -> wall time of DeregisterTargets
        self.answered = {}      # (tg arn, id, port) -> last state answered (to log transitions)

    def data_plane(self):
        state = read_json(self.layout.nlb_state)
        if not state:
            raise EdgeError(f"{self.layout.nlb_state}: missing; start the NLB double (harness.edge.nlb_double) first")
        age = time.time() - _parse_time(state["updated_at"])
        if age > self.max_state_age:
            raise EdgeError(f"{self.layout.nlb_state}: last written {age:.0f} s ago (more than {self.max_state_age:.0f} s): "
                            "the NLB double is not running; its target health is unknown")
        return state

    def note(self, action, tg_arn, targets, port_default):
        now = time.time()
        with self.lock:
            for tid, port in targets:
                key = (tg_arn, tid, port or port_default)
                if action == "RegisterTargets":
                    self.registered[key] = now
                    self.deregistered.pop(key, None)
                else:
                    self.deregistered[key] = now
                    self.registered.pop(key, None)
                self.log("registered" if action == "RegisterTargets" else "deregistered",
                         target_group=tg_arn.rsplit(":", 1)[-1], target=f"{tid}:{key[2]}")

    def decide(self, tg_arn, tid, port, in_moto, state):
        """(our HEALTH key, why) for one target."""
        now = time.time()
        # When the NLB double last began a read of moto (an older one: its last write); what the data plane
        # holds is at least that new. A double that says when it read needs no lag.
        read = state.get("moto_read_at")
        updated, lag = (_parse_time(read), 0.0) if read else (_parse_time(state["updated_at"]), self.lag)
        tg = next((g for g in state.get("target_groups", []) if g["arn"] == tg_arn), None)
        seen = next((t for t in (tg or {}).get("targets", []) if t["id"] == tid and t["port"] == port), None)
        key = (tg_arn, tid, port)
        with self.lock:
            reg, dereg = self.registered.get(key), self.deregistered.get(key)
        if in_moto:
            if reg is not None and updated <= reg + lag:
                return "initial_registering", "registered; the data plane has not read it yet"
            if seen is None:
                return "initial_registering", "registered; not in the data plane yet"
            if seen["state"] == "drain":
                return "initial_registering", "registered again while the data plane still drains it"
            return FROM_DATA_PLANE.get(seen["state"], "unhealthy"), f"data plane: {seen['state']}"
        if seen is not None and seen["state"] == "drain":
            return "draining", "data plane: drain"
        delay = (tg or {}).get("deregistration_delay_s", DEFAULT_DEREGISTRATION_DELAY_S)
        if dereg is not None and now < dereg + delay:
            return "draining", f"deregistered {now - dereg:.1f} s ago, delay {delay} s"
        if seen is not None and (dereg is None or updated <= dereg + lag):
            # Still served by HAProxy: the NLB double has not read the deregistration yet.
            return "draining", f"data plane: {seen['state']}, deregistration not read yet"
        return "unused_not_registered", "not registered"

    def draining_targets(self, tg_arn, state):
        """Targets deregistered but still draining: AWS lists them in an unfiltered call."""
        out = []
        with self.lock:
            keys = [k for k in self.deregistered if k[0] == tg_arn]
        for d in state.get("draining", []):
            if d["target_group_arn"] == tg_arn:
                keys.append((tg_arn, d["target"]["id"], d["target"]["port"]))
        for k in sorted(set(keys)):
            out.append((k[1], k[2]))
        return out

    def logged(self, key, answer, why):
        if self.answered.get(key) != answer:
            self.log("target_health", target_group=key[0].rsplit(":", 1)[-1], target=f"{key[1]}:{key[2]}",
                     transition=f"{self.answered.get(key, 'new')}->{answer}", why=why)
            self.answered[key] = answer


def _text(el, name):
    found = el.find(f"{{{NS}}}{name}")
    return found.text if found is not None else None


def rewrite(body, form, health):
    """moto's DescribeTargetHealth response with each TargetHealth from the data plane."""
    ET.register_namespace("", NS)
    root = ET.fromstring(body)
    descs = root.find(f"{{{NS}}}DescribeTargetHealthResult/{{{NS}}}TargetHealthDescriptions")
    if descs is None:
        return body
    tg_arn = form["TargetGroupArn"]
    state = health.data_plane()
    asked = _members(form, "Targets")
    members = list(descs)
    listed = set()
    hc_port = None
    for m in members:
        tid = _text(m.find(f"{{{NS}}}Target"), "Id")
        port = int(_text(m.find(f"{{{NS}}}Target"), "Port"))
        hc_port = hc_port or _text(m, "HealthCheckPort")
        moto_state = _text(m.find(f"{{{NS}}}TargetHealth"), "State")
        listed.add((tid, port))
        _set_health(m, health, tg_arn, tid, port, moto_state != "unused", state)
    if not asked:
        for tid, port in health.draining_targets(tg_arn, state):
            if (tid, port) in listed:
                continue
            answer, _ = health.decide(tg_arn, tid, port, False, state)
            if answer != "draining":
                continue
            m = ET.SubElement(descs, f"{{{NS}}}member")
            t = ET.SubElement(m, f"{{{NS}}}Target")
            ET.SubElement(t, f"{{{NS}}}Id").text = tid
            ET.SubElement(t, f"{{{NS}}}Port").text = str(port)
            if hc_port:
                ET.SubElement(m, f"{{{NS}}}HealthCheckPort").text = hc_port
            ET.SubElement(m, f"{{{NS}}}TargetHealth")
            _set_health(m, health, tg_arn, tid, port, False, state)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _set_health(member, health, tg_arn, tid, port, in_moto, state):
    answer, why = health.decide(tg_arn, tid, port, in_moto, state)
    th = member.find(f"{{{NS}}}TargetHealth")
    for child in list(th):
        th.remove(child)
    ET.SubElement(th, f"{{{NS}}}State").text = answer.split("_", 1)[0]
    reason, description = HEALTH[answer]
    if reason:
        ET.SubElement(th, f"{{{NS}}}Reason").text = reason
        ET.SubElement(th, f"{{{NS}}}Description").text = description
    health.logged((tg_arn, tid, port), answer.split("_", 1)[0], why)


def _error(code, message, status):
    body = (f'<ErrorResponse xmlns="{NS}"><Error><Type>Receiver</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{NAME}</RequestId></ErrorResponse>").encode()
    return status, {"Content-Type": "text/xml"}, body


class Double:
    def __init__(self, layout, endpoint, listen, lag=1.5, max_state_age=10.0, log=None):
        self.layout = layout
        self.log = log or Logger(NAME)
        self.upstream = urllib.parse.urlsplit(endpoint)
        self.health = TargetHealth(layout, lag, max_state_age, self.log)
        self.ports = {}  # tg arn -> its port (RegisterTargets without Port uses the group's)
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, headers, out = double.handle(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        host, port = listen
        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    def forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def _group_port(self, tg_arn, headers):
        if tg_arn not in self.ports:
            form = {"Action": "DescribeTargetGroups", "Version": "2015-12-01", "TargetGroupArns.member.1": tg_arn}
            status, _, body = self.forward("POST", "/", {**headers, "Content-Type": "application/x-www-form-urlencoded"},
                                           urllib.parse.urlencode(form).encode())
            if status == 200:
                port = ET.fromstring(body).find(f".//{{{NS}}}TargetGroups/{{{NS}}}member/{{{NS}}}Port")
                if port is not None:
                    self.ports[tg_arn] = int(port.text)
        return self.ports.get(tg_arn)

    def handle(self, method, path, headers, body):
        form = {}
        if method == "POST" and "x-www-form-urlencoded" in headers.get("Content-Type", headers.get("content-type", "")):
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        action = form.get("Action")
        status, rheaders, out = self.forward(method, path, headers, body)
        if status == 200 and action and not action.startswith("Describe"):
            self.nudge()
        if status != 200 or action not in ("DescribeTargetHealth", "RegisterTargets", "DeregisterTargets"):
            return status, rheaders, out
        if action in ("RegisterTargets", "DeregisterTargets"):
            self.health.note(action, form["TargetGroupArn"], _members(form, "Targets"),
                             self._group_port(form["TargetGroupArn"], headers))
            return status, rheaders, out
        try:
            return status, rheaders, rewrite(out, form, self.health)
        except EdgeError as e:
            self.log("error", message=str(e))
            return _error("ServiceUnavailable", f"({NAME}) {e}", 503)

    def nudge(self):
        """A change moto accepted: the NLB double reads moto at its next cycle (harness/edge/nlb_double.py)."""
        try:
            with open(self.layout.nlb_nudge, "a"):
                pass
            os.utime(self.layout.nlb_nudge)
        except OSError as e:
            self.log("error", message=f"cannot touch {self.layout.nlb_nudge}: {e}")

    def run(self):
        self.log("start", listen="%s:%d" % self.server.server_address, upstream=self.upstream.geturl(),
                 edge_dir=self.layout.dir, note="AWS ELBv2 target health double: moto's API, the NLB double's health")
        stop = threading.Event()

        def _stop(*_):
            stop.set()
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.server.serve_forever(poll_interval=0.2)
        self.server.server_close()
        self.log("stop")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="elbv2_double", description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge-dir", required=True, help="the edge directory holding the NLB double's nlb-double.json")
    ap.add_argument("--endpoint-url", help="moto's endpoint (default: $AWS_ENDPOINT_URL)")
    ap.add_argument("--listen", required=True, help="IPv4:port to serve the ELBv2 API on (loopback)")
    ap.add_argument("--lag", type=float, default=1.5,
                    help="seconds after a registration before the NLB double's state counts for it (default 1.5: "
                         "its 1 s cycle plus its write)")
    ap.add_argument("--max-state-age", type=float, default=10.0,
                    help="seconds after which nlb-double.json counts as stale (default 10)")
    a = ap.parse_args(argv)
    log = Logger(NAME)

    def build():
        listen = parse_hostport(a.listen, "--listen")
        if not listen[0].startswith("127."):
            raise EdgeError(f"--listen {a.listen}: the double serves loopback only; give 127.0.0.1:<port>")
        layout = Layout(a.edge_dir)
        if not os.path.isdir(layout.dir):
            raise EdgeError(f"--edge-dir {a.edge_dir}: no such directory; give the NLB double's --edge-dir")
        return Double(layout, endpoint_url(a.endpoint_url), listen, a.lag, a.max_state_age, log)
    return start_double(log, build, lambda double: double.run(), errors=(EdgeError, OSError))


if __name__ == "__main__":
    sys.exit(main())
