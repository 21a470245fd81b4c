"""ec2-double: the parts of EC2 that moto does not emulate and the sandbox needs, in front of moto.

One process, named `ec2-double` in every line it prints, with three listeners and a reconciler:

  * **API** (loopback; `AWS_ENDPOINT_URL_EC2`, or a whole `AWS_ENDPOINT_URL`): every request, of
    any service, goes to moto unchanged (moto serves every service on one port and tells them
    apart by the Authorization header's credential scope), so a client whose configuration has
    only one endpoint (the inventory service's `aws.endpoint_url`) can use it for everything.
    Only EC2's `GetConsoleOutput` is answered here: moto returns a fixed Xen boot log for every
    instance; EC2 returns what the instance printed on its console. For an instance the sandbox
    booted, the answer holds the base64 of the most recent 64 KB of its host's console
    (systemd-nspawn --console=read-only), in EC2's response shape:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetConsoleOutput.html
  * **IMDSv2** on each region's gateway address, for that region's instances (ec2_metadata.py).
  * **STS forwarder** on region A's gateway, for the Teleport double's auth
    (`TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE`): STS requests passed to moto byte for byte.
  * **Instance profiles** (reconcile_instance_profiles): EC2 gives an instance launched from a
    launch template the template's IamInstanceProfile; moto's Auto Scaling does not.
  * **Auto Scaling lifecycle** (opt-in, --autoscaling-lifecycle; harness/edge/autoscaling_double.py):
    the API answers CompleteLifecycleAction, RecordLifecycleActionHeartbeat and
    TerminateInstanceInAutoScalingGroup as Auto Scaling does with lifecycle hooks, and shows
    Pending:Wait and Terminating:Wait in DescribeAutoScalingGroups/Instances; scale-in through
    SetDesiredCapacity/UpdateAutoScalingGroup by the termination policy and the termination hook;
    health-based replacement (SetInstanceHealth, EC2 state, and target health read from
    --elbv2-endpoint for HealthCheckType ELB); IMDS serves `autoscaling/target-lifecycle-state`.
    Without the flag, Auto Scaling is moto's, unchanged.

The API listens on loopback or on a sandbox bridge address (198.18.0.0/15), where instances reach
it as they reach AWS's regional endpoints.

The sandbox's hypervisor (harness/machines.py) tells the double where each instance's console
is: `<consoles dir>/<instance id>` is a link to the host's console log. Nothing else is kept
here: instances, profiles and roles are read from moto at each request.

  python -m harness.edge.ec2_double --endpoint-url http://127.0.0.1:<moto> --listen 127.0.0.1:<port> \\
      --consoles DIR [--imds us-west-2=198.18.1.1:8791 ...] [--sts 198.18.1.1:8792] \\
      [--region us-west-2 ... --reconcile-interval 10] [--autoscaling-lifecycle [--elbv2-endpoint URL]]
"""
import argparse
import base64
import http.client
import http.server
import ipaddress
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

from . import autoscaling_double
from .common import EdgeError, Logger, client, endpoint_url, header, paginate, parse_hostport, start_double

NAME = "ec2-double"
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
# GetConsoleOutput: "The returned output is limited to 64 KB" (the most recent output).
CONSOLE_MAX_BYTES = 64 * 1024
# EC2 instance ids: i- and 8 (older) or 17 hex digits. Anything else never names a file here.
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
LAUNCH_TEMPLATE_ID = re.compile(r"lt-[0-9a-f]{8,17}")
# RFC 9110 7.6.1: connection-specific fields a proxy does not forward.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
# Set again by this server (http.server writes its own Server and Date, the length is recomputed).
OWN_RESPONSE_FIELDS = HOP_BY_HOP | {"content-length", "server", "date"}
MAX_BODY = 16 * 1024 * 1024
# Every host STS answers on (regional, global, FIPS, China), as Teleport's allow-list has them.
STS_HOST = re.compile(r"sts(?:-fips)?(?:\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?")
_SAFE = re.compile(r"[A-Za-z0-9._:/@+-]{0,200}")


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def safe(value):
    """A value from the network as a log field: as is when plain, else its repr, cut short."""
    text = "" if value is None else str(value)
    return text if _SAFE.fullmatch(text) else repr(text[:200])


def utc(epoch):
    """EC2's timestamps: 2026-12-06T08:48:23.000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


# --- HTTP plumbing shared by the three listeners ------------------------------------------------

def serve(listen, handle, log, what):
    """A threaded HTTP server on listen calling handle(method, path, headers, body, peer_ip) ->
    (status, [(name, value)], body); returns the server (not yet serving)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _any(self):
            try:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    raise HttpError(411, "chunked request bodies are not accepted here; send Content-Length")
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise HttpError(400, "Content-Length is not a number") from None
                if n < 0 or n > MAX_BODY:
                    raise HttpError(413, f"request body of {n} bytes (at most {MAX_BODY})")
                body = self.rfile.read(n) if n else b""
                status, headers, out = handle(self.command, self.path, list(self.headers.items()), body,
                                              self.client_address[0])
            except HttpError as e:
                status, headers, out = e.status, [("Content-Type", "text/plain")], f"({NAME}) {e}\n".encode()
            except Exception as e:  # an upstream failure: answer it, say so, keep serving
                log("error", listener=what, message=f"{type(e).__name__}: {e}")
                status, headers, out = 502, [("Content-Type", "text/plain")], f"({NAME}) upstream failed: {e}\n".encode()
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in OWN_RESPONSE_FIELDS:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _any

    server = http.server.ThreadingHTTPServer(listen, Handler)
    server.daemon_threads = True
    return server


def forward(upstream, method, path, headers, body, keep_host):
    """One request to upstream as it came: method, path, every end-to-end header in order (the
    Host too when keep_host), the body; returns (status, [(name, value)], body)."""
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=keep_host, skip_accept_encoding=True)
        for k, v in headers:
            low = k.lower()
            if low in HOP_BY_HOP or low == "content-length" or (low == "host" and not keep_host):
                continue
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def query_params(path, headers, body):
    """The parameters of an AWS query-protocol request: the URL's query and a form body."""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query, keep_blank_values=True))
    if "x-www-form-urlencoded" in (header(headers, "Content-Type") or ""):
        try:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            pass
    return params


def credential_scope(headers, params):
    """(region, service) a SigV4 request is signed for: the Authorization header's Credential
    (or a presigned URL's X-Amz-Credential): <key>/<date>/<region>/<service>/aws4_request."""
    cred = params.get("X-Amz-Credential")
    auth = header(headers, "Authorization") or ""
    m = re.search(r"Credential=([^,\s]+)", auth)
    if m:
        cred = m.group(1)
    parts = (cred or "").split("/")
    return (parts[2], parts[3]) if len(parts) == 5 and parts[4] == "aws4_request" else (None, None)


def ec2_error(code, message, status=400):
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{_xml_text(message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>")
    return status, [("Content-Type", "text/xml;charset=UTF-8")], body.encode()


def _xml_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- API: moto for everything, GetConsoleOutput from the host's console ---------------------------

class Consoles:
    """Where each booted instance's console is: <dir>/<instance id>, a link the hypervisor
    (harness/machines.py) makes when it boots the instance's host."""

    def __init__(self, directory):
        self.dir = directory

    def tail(self, instance_id):
        """(the most recent CONSOLE_MAX_BYTES of the console, its last write as epoch seconds),
        or (None, None) when the instance has no console here yet."""
        if not INSTANCE_ID.fullmatch(instance_id or ""):
            return None, None
        try:
            with open(os.path.join(self.dir, instance_id), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - CONSOLE_MAX_BYTES))
                data = f.read(CONSOLE_MAX_BYTES)
                mtime = os.fstat(f.fileno()).st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        return data, mtime


def console_output_response(instance_id, data, mtime, now=None):
    """GetConsoleOutputResponse as EC2 writes it (API reference, GetConsoleOutput: InstanceId,
    Timestamp "the time at which the output was last updated", Output "the console output,
    base64-encoded"). Output is absent while the instance has printed nothing: EC2 leaves it out
    until the first output is posted."""
    root = ET.Element("GetConsoleOutputResponse", xmlns=NS)
    ET.SubElement(root, "requestId").text = str(uuid.uuid4())
    ET.SubElement(root, "instanceId").text = instance_id
    ET.SubElement(root, "timestamp").text = utc(mtime if data else (now or time.time()))
    if data:
        ET.SubElement(root, "output").text = base64.b64encode(data).decode("ascii")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


class Api:
    def __init__(self, upstream, consoles, log, lifecycle=None):
        self.upstream, self.consoles, self.log, self.lifecycle = upstream, consoles, log, lifecycle

    def handle(self, method, path, headers, body, peer):
        params = query_params(path, headers, body)
        region, service = credential_scope(headers, params)
        if (self.lifecycle is not None and service == "autoscaling" and region
                and params.get("Action") in autoscaling_double.ACTIONS):
            def to_moto(changed=None):
                """The request to moto: as it came, or with the parameters the double changed (moto does not
                check signatures, so a re-encoded form body needs none)."""
                if changed is None:
                    return forward(self.upstream, method, path, headers, body, keep_host=False)
                form = [(k, v) for k, v in headers if k.lower() != "content-type"]
                form.append(("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"))
                return forward(self.upstream, "POST", urllib.parse.urlsplit(path).path or "/", form,
                               urllib.parse.urlencode(changed).encode(), keep_host=False)
            return self.lifecycle.handle(region, params, to_moto)
        if params.get("Action") != "GetConsoleOutput" or service != "ec2":
            return forward(self.upstream, method, path, headers, body, keep_host=False)
        latest = params.get("Latest")
        if latest is not None and latest.lower() not in ("true", "false"):
            return ec2_error("InvalidParameterValue", f"Value ({latest}) for parameter latest is invalid. "
                                                      "Expected a boolean.")
        status, rheaders, out = forward(self.upstream, method, path, headers, body, keep_host=False)
        instance_id = params.get("InstanceId", "")
        if status != 200:
            # moto's answer for an instance it does not know (InvalidInstanceID.NotFound), as EC2's.
            self.log("console_output", instance=safe(instance_id), status=status, answer="moto's error")
            return status, rheaders, out
        data, mtime = self.consoles.tail(instance_id)
        self.log("console_output", instance=safe(instance_id), status=200, bytes=len(data or b""),
                 latest=safe(latest or "false"), output="present" if data else "absent")
        return 200, [("Content-Type", "text/xml;charset=UTF-8")], console_output_response(instance_id, data, mtime)


# --- STS forwarder for the Teleport double's auth -------------------------------------------------

class StsForwarder:
    """The sandbox's STS for TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE (tests/teleport-double/README.md,
    "The one exception"): the auth double sends the joining node's signed sts:GetCallerIdentity here
    with the Host the node signed (sts.<region>.amazonaws.com), and it reaches moto byte for byte:
    method, path, every header (Host and Authorization included), body. moto answers for the
    credentials that signed it. Only STS requests pass (the signed Host an STS host and the
    credential scope's service sts), so the hosts reach no other service of moto through it."""

    def __init__(self, upstream, log):
        self.upstream, self.log = upstream, log

    def handle(self, method, path, headers, body, peer):
        host = (header(headers, "Host") or "").lower()
        params = query_params(path, headers, body)
        _, service = credential_scope(headers, params)
        action = params.get("Action")
        if not STS_HOST.fullmatch(host.rsplit(":", 1)[0] if ":" in host else host) or service != "sts":
            self.log("sts", peer=peer, method=safe(method), path=safe(path), host=safe(host), service=safe(service),
                     status=403, refused="not an STS request (Host sts[.<region>].amazonaws.com, signed for sts)")
            return 403, [("Content-Type", "text/plain")], (
                f"({NAME}) STS forwarder: only STS requests pass (Host sts[.<region>].amazonaws.com and a "
                "SigV4 credential scope for sts)\n").encode()
        status, rheaders, out = forward(self.upstream, method, path, headers, body, keep_host=True)
        self.log("sts", peer=peer, method=safe(method), path=safe(path), host=safe(host), action=safe(action),
                 status=status, bytes=len(out))
        return status, rheaders, out


# --- Instance profiles from launch templates ------------------------------------------------------

def reconcile_instance_profiles(endpoint, regions, log):
    """Gives every running instance launched from a launch template whose version has an
    IamInstanceProfile, and which has no profile, that profile (AssociateIamInstanceProfile).

    EC2 launches an instance from the launch template version it was given with the version's
    IamInstanceProfile (RunInstances, LaunchTemplate: "any parameters that you specify for the new
    instance overwrite the corresponding parameters included in the launch template";
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html), and tags it
    aws:ec2launchtemplate:id and aws:ec2launchtemplate:version. moto's Auto Scaling tags the
    instance but leaves it without the profile. The version is the tagged one (the one the instance
    was launched from), not the template's current one. An instance with a profile of its own is
    left alone. Returns [(region, instance id, profile)] associated now."""
    done = []
    for region in regions:
        ec2 = client("ec2", region, endpoint)
        have = {a["InstanceId"] for a in paginate(ec2, "describe_iam_instance_profile_associations",
                                                  "IamInstanceProfileAssociations")
                if a.get("State") in ("associating", "associated")}
        versions = {}
        running = [i for r in paginate(ec2, "describe_instances", "Reservations",
                                       Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
                   for i in r["Instances"]]
        for inst in running:
            iid = inst["InstanceId"]
            if iid in have or inst.get("IamInstanceProfile"):
                continue
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            lt_id, lt_version = tags.get("aws:ec2launchtemplate:id"), tags.get("aws:ec2launchtemplate:version")
            if lt_id is None:
                continue
            if not LAUNCH_TEMPLATE_ID.fullmatch(lt_id) or not (lt_version or "").isdigit():
                log("reconcile", region=region, instance=iid, skipped="malformed launch template tags",
                    launch_template=safe(lt_id), version=safe(lt_version))
                continue
            key = (lt_id, lt_version)
            if key not in versions:
                try:
                    found = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=[lt_version])
                    versions[key] = found["LaunchTemplateVersions"][0].get("LaunchTemplateData", {})
                except Exception as e:  # a deleted template: nothing to give, say so
                    log("reconcile", region=region, instance=iid, skipped=f"launch template {lt_id} "
                        f"version {lt_version} unreadable: {type(e).__name__}")
                    versions[key] = {}
            profile = versions[key].get("IamInstanceProfile") or {}
            spec = {"Arn": profile["Arn"]} if profile.get("Arn") else {"Name": profile["Name"]} if profile.get("Name") else None
            if spec is None:
                continue
            try:
                ec2.associate_iam_instance_profile(IamInstanceProfile=spec, InstanceId=iid)
            except Exception as e:
                if getattr(e, "response", {}).get("Error", {}).get("Code") == "IncorrectState":
                    continue  # associated meanwhile (another reconcile): what we wanted
                raise
            name = spec.get("Arn") or spec["Name"]
            log("reconcile", region=region, instance=iid, launch_template=f"{lt_id}:{lt_version}",
                associated=name, mirrors="RunInstances with a launch template's IamInstanceProfile")
            done.append((region, iid, name))
    return done


# --- The process -----------------------------------------------------------------------------------

def _listen(text, where):
    """host, port for a listener: loopback, or the sandbox's bridges (198.18.0.0/15, RFC 2544's
    benchmarking block, which is nobody's network); any other address is refused."""
    host, port = parse_hostport(text, where)
    ip = ipaddress.ip_address(host)
    if not (ip.is_loopback or ip in ipaddress.ip_network("198.18.0.0/15")):
        raise EdgeError(f"{where} {text}: the double serves only loopback or the sandbox's bridges (198.18.0.0/15)")
    return host, port


class Double:
    def __init__(self, endpoint, listen, consoles, imds=(), sts=None, regions=(), reconcile_interval=0.0, log=None,
                 autoscaling_lifecycle=False, lifecycle_tick=0.5, elbv2_endpoint=None):
        from .ec2_metadata import Metadata
        self.log = log or Logger(NAME)
        self.endpoint = endpoint
        upstream = urllib.parse.urlsplit(endpoint)
        self.regions = list(regions) or [r for r, _ in imds]
        self.reconcile_interval = reconcile_interval
        self.lifecycle_tick = lifecycle_tick
        self.lifecycle = autoscaling_double.Lifecycle(endpoint, self.log, regions=self.regions,
                                                      elbv2_endpoint=elbv2_endpoint) if autoscaling_lifecycle else None
        self.servers = [("api", serve(listen, Api(upstream, Consoles(consoles), self.log, self.lifecycle).handle,
                                      self.log, "api"))]
        for region, addr in imds:
            md = Metadata(region, endpoint, self.log, lifecycle=self.lifecycle)
            self.servers.append((f"imds {region}", serve(addr, md.handle, self.log, f"imds {region}")))
        if sts:
            self.servers.append(("sts", serve(sts, StsForwarder(upstream, self.log).handle, self.log, "sts")))
        self.stop = threading.Event()

    def addresses(self):
        return {what: "%s:%d" % s.server_address[:2] for what, s in self.servers}

    def _reconcile_loop(self):
        while not self.stop.is_set():
            try:
                reconcile_instance_profiles(self.endpoint, self.regions, self.log)
            except Exception as e:  # moto unreachable: say so, retry at the next interval
                self.log("error", listener="reconcile", message=f"{type(e).__name__}: {e}")
            self.stop.wait(self.reconcile_interval)

    def start(self):
        for _, s in self.servers:
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        if self.reconcile_interval > 0:
            threading.Thread(target=self._reconcile_loop, daemon=True).start()
        if self.lifecycle is not None:
            threading.Thread(target=self.lifecycle.run, args=(self.stop, self.lifecycle_tick), daemon=True).start()
            self.log("start", part=autoscaling_double.NAME, tick_s=self.lifecycle_tick,
                     note="Auto Scaling lifecycle DOUBLE: Pending:Wait, Terminating:Wait, lifecycle actions as AWS "
                          "documents them, over moto's groups and hooks")
        self.log("start", upstream=self.endpoint, reconcile_interval_s=self.reconcile_interval,
                 **{k.replace(" ", "_"): v for k, v in self.addresses().items()},
                 note="EC2 double: moto's APIs; console output, IMDSv2, instance profiles as EC2; an STS forwarder")

    def shutdown(self):
        self.stop.set()
        for _, s in self.servers:
            s.shutdown()
            s.server_close()
        self.log("stop")

    def run(self):
        done = threading.Event()

        def _stop(*_):
            done.set()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        done.wait()
        self.shutdown()


def _region_addr(text):
    region, sep, addr = text.partition("=")
    if not sep or not re.fullmatch(r"[a-z]{2}(?:-[a-z]+)+-\d", region):
        raise EdgeError(f"--imds {text!r}: give REGION=IPv4:port, e.g. us-west-2=198.18.1.1:8791")
    return region, _listen(addr, f"--imds {region}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ec2_double", description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint-url", help="moto's endpoint (default: $AWS_ENDPOINT_URL)")
    ap.add_argument("--listen", required=True,
                    help="IPv4:port for the EC2 API (loopback, or a sandbox bridge address in 198.18.0.0/15)")
    ap.add_argument("--consoles", required=True, help="directory of <instance id> links to each booted host's console log")
    ap.add_argument("--imds", action="append", default=[], metavar="REGION=IP:PORT",
                    help="serve IMDSv2 for REGION's instances on IP:PORT (the region's gateway); repeatable")
    ap.add_argument("--sts", metavar="IP:PORT", help="serve the STS forwarder on IP:PORT")
    ap.add_argument("--region", action="append", default=[], help="a region to reconcile (default: the --imds regions)")
    ap.add_argument("--reconcile-interval", type=float, default=0.0,
                    help="seconds between instance-profile reconciliations (0: never; the sandbox also calls it once)")
    ap.add_argument("--autoscaling-lifecycle", action="store_true",
                    help="the Auto Scaling lifecycle double (harness/edge/autoscaling_double.py): lifecycle hooks "
                         "hold instances in Pending:Wait and Terminating:Wait as on AWS (default: moto's, InService at once)")
    ap.add_argument("--elbv2-endpoint",
                    help="where the lifecycle double reads target health for HealthCheckType ELB groups: the ELBv2 "
                         "target health double (harness/edge/elbv2_double.py); default moto's, where every target "
                         "is healthy")
    ap.add_argument("--lifecycle-tick", type=float, default=0.5,
                    help="seconds between the lifecycle double's reads of moto (discovery and timeouts)")
    a = ap.parse_args(argv)
    log = Logger(NAME)

    def build():
        if not os.path.isdir(a.consoles):
            raise EdgeError(f"--consoles {a.consoles}: no such directory; the hypervisor (harness/machines.py) makes it")
        if a.reconcile_interval < 0:
            raise EdgeError(f"--reconcile-interval {a.reconcile_interval}: must be >= 0")
        if not 0 < a.lifecycle_tick <= 5:
            raise EdgeError(f"--lifecycle-tick {a.lifecycle_tick}: give 0 < seconds <= 5 (AWS's shortest hook timeout is 30 s)")
        return Double(endpoint_url(a.endpoint_url), _listen(a.listen, "--listen"), a.consoles,
                      [_region_addr(x) for x in a.imds], _listen(a.sts, "--sts") if a.sts else None, a.region,
                      a.reconcile_interval, log, a.autoscaling_lifecycle, a.lifecycle_tick, a.elbv2_endpoint)
    return start_double(log, build, lambda double: double.run(), errors=(EdgeError, OSError))


if __name__ == "__main__":
    sys.exit(main())
