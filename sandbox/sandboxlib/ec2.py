"""The ec2-double in the sandbox (docs/sandbox.md, "The EC2 double's interfaces"; the double itself is
sandboxlib/edge/ec2_double.py): started after the bridges exist and before the hosts boot, it is

  * the EC2 API endpoint the sandbox's own tools use (state["ec2_double"]["endpoint"], loopback):
    moto for every service, GetConsoleOutput from the hosts' consoles; the inventory service's
    whole aws.endpoint_url (its config has no per-service endpoints);
  * IMDSv2 per region on the bridge gateway (state["ec2_double"]["imds"][region], world.imds_url);
  * the STS forwarder for the Teleport double's auth (state["ec2_double"]["sts"], world.sts_url);
  * the reconciler giving instances their launch template's instance profile
    (aws.give_instance_profiles, which seed() calls once after aws-pools.yml; the double repeats it
    every RECONCILE_INTERVAL_S).

For the next steps: console(state, h) is a host's console as EC2 returns it, and
host_keys(state, h) the SSH host keys cloud-init printed there (sandboxlib/hostkeys.py)."""
import http.client
import os
import re
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import aws, hostkeys, hosts, world
from .util import REPO, STATE_DIR, SandboxError, alive, free_port, log, spawn, stop_pid, tcp_open, wait_until

LOG = os.path.join(STATE_DIR, "ec2-double.log")
# New instances get their profile within this; the sandbox's own reconcile runs before the hosts boot.
RECONCILE_INTERVAL_S = 10


def start(state, endpoint):
    os.makedirs(hosts.CONSOLES, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    sts = urllib.parse.urlsplit(world.sts_url())
    argv = [os.path.join(REPO, ".venv", "bin", "python"), "-m", "sandboxlib.edge.ec2_double",
            "--endpoint-url", endpoint, "--listen", f"127.0.0.1:{port}", "--consoles", hosts.CONSOLES,
            *[f"--imds={r['name']}={r['gateway']}:{world.IMDS_PORT}" for r in world.REGIONS],
            "--sts", sts.netloc, "--reconcile-interval", str(RECONCILE_INTERVAL_S)]
    env = aws.aws_env(endpoint)
    env["PYTHONPATH"] = os.path.join(REPO, "sandbox")
    pid = spawn(argv, LOG, env=env)
    state["ec2_double"] = {"pid": pid, "endpoint": api, "log": LOG, "consoles": hosts.CONSOLES,
                           "imds": {r["name"]: world.imds_url(r["name"]) for r in world.REGIONS},
                           "sts": world.sts_url()}

    def answering():
        if not alive(pid):
            raise SandboxError(f"the ec2-double exited; its log: {LOG}")
        aws.client("ec2", world.REGIONS[0]["name"], api).describe_regions()
        for r in world.REGIONS:
            tcp_open(r["gateway"], world.IMDS_PORT)
        return tcp_open(sts.hostname, sts.port)
    wait_until("the ec2-double (EC2 API, IMDS, STS forwarder)", answering, 30, 0.2)
    log(f"ec2-double: EC2 API {api}; IMDSv2 " + ", ".join(f"{r}={u}" for r, u in state["ec2_double"]["imds"].items())
        + f"; STS forwarder {state['ec2_double']['sts']} (pid {pid})")


def stop(state):
    stop_pid((state or {}).get("ec2_double", {}).get("pid"), "ec2-double")


def console(state, h):
    """h's console as EC2's GetConsoleOutput returns it (the most recent 64 KB), through the double."""
    return hostkeys.console_output(state["ec2_double"]["endpoint"], h["region"], h["instance_id"])


def console_reader(state):
    """console(state, ·) for hosts.wait_ssh and hosts.learn_host_keys."""
    return lambda h: console(state, h)


def host_keys(state, h):
    """The SSH host keys h's console printed (cloud-init's block), as ["type base64", ...]."""
    return hostkeys.parse(console(state, h))


def get_caller_identity(sts_url, credentials, region):
    """sts:GetCallerIdentity signed with credentials ({AccessKeyId, SecretAccessKey, Token}, as IMDS
    serves them) for sts.<region>.amazonaws.com, as Teleport's IAM join builds it, sent to sts_url
    (the ec2-double's STS forwarder) with that Host: (status, the caller's ARN or None, body)."""
    host = f"sts.{region}.amazonaws.com"
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    req = AWSRequest(method="POST", url=f"https://{host}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                              "Accept": "application/json", "Host": host})
    SigV4Auth(Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials.get("Token")),
              "sts", region).add_auth(req)
    target = urllib.parse.urlsplit(sts_url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for k, v in req.headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body.encode())
        r = conn.getresponse()
        out = r.read().decode(errors="replace")
    finally:
        conn.close()
    m = re.search(r"<Arn>([^<]+)</Arn>", out) or re.search(r'"Arn"\s*:\s*"([^"]+)"', out)
    return r.status, (m.group(1) if m else None), out
