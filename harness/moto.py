"""moto, the AWS of every test world: the suites, the benches and the sandbox.

  from harness.moto import MotoServer, seed_asgs

MotoServer starts the real moto server (PyPI moto[server]) on a free loopback port
and stops it; seed_asgs creates Teleport-tagged Auto Scaling groups the way an
operator's Terraform or playbooks/aws-pools.yml would; CountingProxy sits in front
of moto and records every AWS API call (service, action, mutating or not), so tests
and benches can assert how many calls a run made.
"""
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

from .util import answers, free_port, record_pid, terminate, wait_until

# The harness's credentials for every moto (moto accepts any). Ansible masks every no_log value
# (the secret key) wherever it appears in module output, so the secret matches no name of any world
# (a secret "sandbox" once turned the zone sandbox.test into "********.test").
DUMMY_CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-never-printed"}


def aws_env(endpoint, base=None, **extra):
    """Environment for a child process (Ansible, the jars, the doubles) whose AWS is endpoint."""
    env = dict(os.environ if base is None else base)
    env.pop("AWS_PROFILE", None)
    env.update(DUMMY_CREDS, AWS_ENDPOINT_URL=endpoint)
    env.update(extra)
    return env


def client(service, region, endpoint):
    """A boto3 client of endpoint (moto, or a double in front of it) with the harness's credentials."""
    import boto3
    return boto3.client(service, region_name=region, endpoint_url=endpoint,
                        aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"])


def moto_binary():
    """moto_server next to the running interpreter (the repository's .venv), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "moto_server")
    found = here if os.path.exists(here) else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server not found: run scripts/install-deps.sh (make test does)")
    return found


class MotoServer:
    """A real moto server on 127.0.0.1:<free port>. Use as a context manager or start()/stop()."""

    def __init__(self, port=None, log_path=None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc = None

    def start(self, timeout=30):
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        record_pid(self.proc.pid)   # the sandbox stops it by pid (harness/sandbox/lifecycle.py)
        if out is not subprocess.DEVNULL:
            out.close()
        wait_until("moto_server to answer", lambda: self.proc.poll() is None and answers(self.endpoint + "/moto-api/"), timeout)
        return self

    def stop(self):
        terminate(self.proc)

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST"), timeout=10).close()

    def env(self, **extra):
        """Environment for a child process (ansible, the jars) that talks to this moto."""
        return aws_env(self.endpoint, **extra)

    def client(self, service, region):
        return client(service, region, self.endpoint)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def network(moto, region, cidr, zones=("a",)):
    """A VPC with one subnet per zone suffix, splitting cidr evenly; returns (vpc_id, [subnet ids])."""
    import ipaddress
    ec2 = moto.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    net = ipaddress.ip_network(cidr)
    bits = max(0, (len(zones) - 1).bit_length())
    subnets = []
    for zone, sub in zip(zones, net.subnets(prefixlen_diff=bits), strict=False):
        subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock=str(sub), AvailabilityZone=region + zone)["Subnet"]["SubnetId"])
    return vpc, subnets


def seed_asgs(moto, cluster, groups, image_id="ami-12c6146b", instance_type="t3.small"):
    """Creates Teleport-tagged ASGs and records them as the cluster's pools, as aws-pools.yml does.
    groups: dicts with region, name, role, size and subnets (list of subnet ids); optional min/max,
    and member=False for a stranger group that carries the tags but is not recorded.
    Returns {name: sorted instance ids}."""
    made = {}
    templates = set()
    for g in groups:
        region = g["region"]
        lt = g.get("launch_template", "teleport")
        if (region, lt) not in templates:
            moto.client("ec2", region).create_launch_template(
                LaunchTemplateName=lt, LaunchTemplateData={"ImageId": image_id, "InstanceType": instance_type})
            templates.add((region, lt))
        tags = [{"Key": "TeleportCluster", "Value": cluster, "PropagateAtLaunch": True},
                {"Key": "TeleportRole", "Value": g["role"], "PropagateAtLaunch": True}]
        asg = moto.client("autoscaling", region)
        asg.create_auto_scaling_group(
            AutoScalingGroupName=g["name"], LaunchTemplate={"LaunchTemplateName": lt, "Version": "$Latest"},
            MinSize=g.get("min", 0), MaxSize=g.get("max", max(g["size"] * 2, 1)), DesiredCapacity=g["size"],
            VPCZoneIdentifier=",".join(g["subnets"]), Tags=tags)
        made[g["name"]] = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[g["name"]])["AutoScalingGroups"][0]["Instances"])
        if g.get("member", True):
            record_membership(moto.client("ssm", region), moto.client("ec2", region), cluster, region, g["name"],
                              g["role"], lt)
    return made


def record_membership(ssm, ec2, cluster, region, group, role, launch_template, instance_profile_arn=""):
    """Adds a group to the region's membership record, in the shape roles/aws_pools writes it
    (library/teleport_aws_membership.py): the inventory service admits only recorded groups."""
    name = f"/teleport/{cluster}/membership"
    try:
        record = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        record = {"version": 1, "cluster": cluster, "region": region, "groups": []}
    lt_id = ec2.describe_launch_templates(LaunchTemplateNames=[launch_template])["LaunchTemplates"][0]["LaunchTemplateId"]
    record["groups"] = sorted([g for g in record["groups"] if g["name"] != group] + [
        {"name": group, "role": role, "launch_template_id": lt_id, "instance_profile_arn": instance_profile_arn}],
        key=lambda g: g["name"])
    ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value=json.dumps(record, sort_keys=True))


# --- counting the AWS calls a run makes ---------------------------------------------------

# Read-only by name: everything else (Create*, Put*, Modify*, ChangeResourceRecordSets, ...) mutates.
_READ_PREFIXES = ("Describe", "Get", "List")


def _credential_scope(headers, part):
    """A part of the SigV4 credential scope (Credential=AKID/date/REGION/SERVICE/aws4_request): 2 the region,
    3 the service; "unknown" for an unsigned request."""
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        parts = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(parts) >= 4:
            return parts[part]
    return "unknown"


def _service_of(path, headers):
    return _credential_scope(headers, 3)


def _region_of(headers):
    return _credential_scope(headers, 2)


def _action_of(method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocol: DynamoDB_20120810.PutItem, AmazonSSM.GetParameter
        return target.rsplit(".", 1)[-1]
    if body and b"Action=" in body:  # query protocol: EC2, Auto Scaling, ELBv2
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if form.get("Action"):
            return form["Action"][0]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if q.get("Action"):
        return q["Action"][0]
    # REST protocols (Route 53, S3): method and path are the action.
    return f"{method} {urllib.parse.urlsplit(path).path}"


# REST reads sent as POST: Route 53 ListTagsForResources is POST /2013-04-01/tags/<type>
# (ChangeTagsForResource is POST /2013-04-01/tags/<type>/<id>).
_REST_READ_POSTS = (re.compile(r"^POST /2013-04-01/tags/[a-z]+$"),)


def is_mutating(method, action):
    if " " in action:  # REST: reads are GET/HEAD
        if any(p.match(action) for p in _REST_READ_POSTS):
            return False
        return method not in ("GET", "HEAD")
    return not action.startswith(_READ_PREFIXES)


class CountingProxy:
    """A loopback HTTP proxy in front of moto that records each call as
    (service, action, mutating). Point AWS_ENDPOINT_URL at .endpoint."""

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.calls = []
        self.requests = []  # (method, path, body) of each call, for a test that reads what was sent
        # Each call with what IAM evaluates it by (tests/aws/iam_calls.py): the signing service and region.
        self.signed = []  # dicts: service, region, method, path, body
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = _action_of(self.command, self.path, self.headers, body)
                service = _service_of(self.path, self.headers)
                with proxy._lock:
                    proxy.calls.append((service, action, is_mutating(self.command, action)))
                    proxy.requests.append((self.command, self.path, body))
                    proxy.signed.append({"service": service, "region": _region_of(self.headers), "method": self.command,
                                         "path": self.path, "body": body, "action": action})
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                # A HEAD answer has no body but the Content-Length of the GET it stands for (RFC 9110, 9.3.2):
                # S3's HeadObject gives an object's size there, and 0 here made the publisher's unchanged kit 0 bytes.
                upstream_length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", upstream_length if upstream_length is not None else str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self._lock:
            self.calls.clear()

    def mutating(self):
        with self._lock:
            return [c for c in self.calls if c[2]]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
