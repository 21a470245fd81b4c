"""The ec2-double in front of a real moto, on loopback: GetConsoleOutput as EC2 answers it, every
other call moto's, the launch template's instance profile given to the instances, IMDSv2 for
instances identified by their source address (127.56.0.0/16 stands for the region bridges), and
the STS forwarder passing a signed request through."""
import base64
import datetime
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

import boto3
import pytest
from aws_world import instance_profile
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import ROOT, Proc, free_port, wait_until
from moto_world import MotoServer
from sandboxlib import ec2 as sandbox_ec2
from sandboxlib.edge import ec2_double, ec2_metadata
from sandboxlib.edge.common import Logger

A, B = "us-west-2", "eu-central-1"
NET = {A: "127.56.1", B: "127.56.2"}
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


class World:
    """moto with an operator's role + instance profile, a launch template giving it, an ASG of two
    launched from it (moto leaves them without the profile), and one plain instance without any."""

    def __init__(self, moto, tmp):
        self.moto, self.tmp = moto, tmp
        self.profile = instance_profile(moto, "sandbox-proxy")
        self.other_profile = instance_profile(moto, "sandbox-other")
        self.subnets, self.instances = {}, {}
        for region, net in NET.items():
            ec2 = moto.client("ec2", region)
            vpc = ec2.create_vpc(CidrBlock=f"{net}.0/24")["Vpc"]["VpcId"]
            self.subnets[region] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{net}.0/24",
                                                     AvailabilityZone=region + "a")["Subnet"]["SubnetId"]
        ec2 = moto.client("ec2", A)
        self.lt = ec2.create_launch_template(LaunchTemplateName="sandbox-proxy-lt", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.small", "IamInstanceProfile": {"Name": "sandbox-proxy"},
            "MetadataOptions": {"HttpTokens": "required"}})["LaunchTemplate"]["LaunchTemplateId"]
        moto.client("autoscaling", A).create_auto_scaling_group(
            AutoScalingGroupName="sandbox-proxy-us-west-2", LaunchTemplate={"LaunchTemplateId": self.lt, "Version": "1"},
            MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=self.subnets[A])
        self.asg_ids = sorted(i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"])
        self.plain = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=self.subnets[A],
                                       PrivateIpAddress=f"{NET[A]}.50")["Instances"][0]["InstanceId"]
        self.consoles = os.path.join(tmp, "consoles")
        os.makedirs(self.consoles)

    def ip(self, iid, region=A):
        return self.moto.client("ec2", region).describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
            "PrivateIpAddress"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("ec2"))
    moto = MotoServer(log_path=os.path.join(tmp, "moto.log")).start()
    try:
        yield World(moto, tmp)
    finally:
        moto.stop()


@pytest.fixture(scope="module")
def double(world):
    ports = {k: free_port() for k in ("api", "imds_a", "imds_b", "sts")}
    log = os.path.join(world.tmp, "ec2-double.log")
    p = Proc("ec2", [sys.executable, "-m", "sandboxlib.edge.ec2_double", "--listen", f"127.0.0.1:{ports['api']}",
                     "--consoles", world.consoles, f"--imds={A}={NET[A]}.1:{ports['imds_a']}",
                     f"--imds={B}={NET[B]}.1:{ports['imds_b']}", "--sts", f"{NET[A]}.1:{ports['sts']}",
                     "--reconcile-interval", "0.5"],
             log, env=world.moto.env(PYTHONPATH=os.path.join(ROOT, "sandbox")))
    d = {"proc": p, "api": f"http://127.0.0.1:{ports['api']}", "imds": f"{NET[A]}.1:{ports['imds_a']}",
         "imds_b": f"{NET[B]}.1:{ports['imds_b']}", "sts": f"http://{NET[A]}.1:{ports['sts']}"}
    try:
        wait_until("the ec2-double to answer", lambda: p.alive() and _ec2(d["api"]).describe_regions(), 30)
        yield d
    finally:
        p.stop()


def _ec2(endpoint, region=A):
    return boto3.client("ec2", region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


def _signed(endpoint, service, region, params, host=None):
    """A query-protocol POST signed as boto3 signs it; (status, body text)."""
    body = urllib.parse.urlencode(params)
    url = urllib.parse.urlsplit(endpoint)
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("testing", "testing"), service, region).add_auth(req)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers))
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def _console(world, iid, data):
    path = os.path.join(world.tmp, f"{iid}.console.log")
    with open(path, "wb") as f:
        f.write(data)
    link = os.path.join(world.consoles, iid)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(path, link)
    return path


# --- the API -----------------------------------------------------------------------------------

def test_every_call_but_console_output_is_motos_whatever_the_service(world, double):
    ours, motos = _ec2(double["api"]), world.moto.client("ec2", A)

    def strip(d):
        return json.dumps({k: v for k, v in d.items() if k != "ResponseMetadata"}, default=str, sort_keys=True)
    assert strip(ours.describe_instances()) == strip(motos.describe_instances())
    # One endpoint for every service, as the inventory service's aws.endpoint_url is: Auto Scaling
    # (query protocol), SSM (JSON protocol) and STS reach moto by their credential scope.
    asg = boto3.client("autoscaling", region_name=A, endpoint_url=double["api"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    assert [g["AutoScalingGroupName"] for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]] == [
        "sandbox-proxy-us-west-2"]
    ssm = boto3.client("ssm", region_name=A, endpoint_url=double["api"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    ssm.put_parameter(Name="/ec2-double/probe", Value="through the double", Type="String")
    assert world.moto.client("ssm", A).get_parameter(Name="/ec2-double/probe")["Parameter"]["Value"] == "through the double"
    with pytest.raises(ClientError) as e:
        ours.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert e.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_console_output_is_the_hosts_console_in_ec2s_shape(world, double):
    iid = world.asg_ids[0]
    text = "systemd[1]: Started ssh.service.\r\nCloud-init v. 22.4.2 finished\r\n".encode()
    path = _console(world, iid, text)
    mtime = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc)
    out = _ec2(double["api"]).get_console_output(InstanceId=iid, Latest=True)
    assert out["InstanceId"] == iid
    assert out["Output"] == text.decode()  # boto3 decodes the base64
    assert abs((out["Timestamp"] - mtime).total_seconds()) < 1, "Timestamp is when the output was last updated"
    assert "Sample" not in out["Output"] and "Xen" not in out["Output"]  # not moto's fixed boot log
    status, body = _signed(double["api"], "ec2", A, {"Action": "GetConsoleOutput", "Version": "2016-11-15", "InstanceId": iid})
    assert status == 200
    m = re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?>\n<GetConsoleOutputResponse xmlns="(.+?)">'
                     r"<requestId>[0-9a-f-]{36}</requestId><instanceId>(i-[0-9a-f]+)</instanceId>"
                     r"<timestamp>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)</timestamp><output>([A-Za-z0-9+/=]+)</output>"
                     r"</GetConsoleOutputResponse>", body)
    assert m, body
    assert m.group(1) == EC2_NS and m.group(2) == iid
    assert base64.b64decode(m.group(4)) == text
    assert f"console_output instance={iid} status=200 bytes={len(text)}" in double["proc"].text()


def test_console_output_is_the_most_recent_64_kb(world, double):
    iid = world.asg_ids[1]
    data = b"".join(b"line %06d of a long boot\r\n" % n for n in range(5000))  # 130,000 bytes
    assert len(data) > 2 * 65536
    _console(world, iid, data)
    out = _ec2(double["api"]).get_console_output(InstanceId=iid)
    assert out["Output"].encode() == data[-65536:]


def test_a_known_instance_that_printed_nothing_has_no_output_element(world, double):
    status, body = _signed(double["api"], "ec2", A, {"Action": "GetConsoleOutput", "Version": "2016-11-15",
                                                     "InstanceId": world.plain})
    assert status == 200 and "<instanceId>%s</instanceId>" % world.plain in body and "<output>" not in body, body
    assert "Output" not in _ec2(double["api"]).get_console_output(InstanceId=world.plain)
    _console(world, world.plain, b"")  # booted, nothing printed yet
    assert "Output" not in _ec2(double["api"]).get_console_output(InstanceId=world.plain)
    os.unlink(os.path.join(world.consoles, world.plain))


def test_an_unknown_instance_is_motos_error_and_latest_must_be_a_boolean(world, double):
    with pytest.raises(ClientError) as e:
        _ec2(double["api"]).get_console_output(InstanceId="i-0123456789abcdef0")
    assert e.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    status, body = _signed(double["api"], "ec2", A, {"Action": "GetConsoleOutput", "Version": "2016-11-15",
                                                     "InstanceId": world.asg_ids[0], "Latest": "maybe"})
    assert status == 400 and "<Code>InvalidParameterValue</Code>" in body


def test_a_hostile_instance_id_names_no_file(tmp_path):
    (tmp_path / "secret").write_text("not a console")
    (tmp_path / "consoles").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "consoles" / "i-0123456789abcdef0")
    consoles = ec2_double.Consoles(str(tmp_path / "consoles"))
    assert consoles.tail("i-0123456789abcdef0")[0] == b"not a console"
    for hostile in ("../secret", "i-0123456789abcdef0/../../secret", "i-0123456789abcdef0\n", "I-0123456789ABCDEF0"):
        assert consoles.tail(hostile) == (None, None), hostile


# --- instance profiles ---------------------------------------------------------------------------

def _profile_of(moto, iid, region=A):
    inst = moto.client("ec2", region).describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return (inst.get("IamInstanceProfile") or {}).get("Arn")


@pytest.fixture
def fresh_world(tmp_path):
    """A world of its own, which no running double's reconcile loop touches."""
    moto = MotoServer(log_path=str(tmp_path / "moto.log")).start()
    try:
        yield World(moto, str(tmp_path))
    finally:
        moto.stop()


def test_instances_get_the_instance_profile_of_the_launch_template_version_they_were_launched_from(fresh_world):
    world = fresh_world
    moto = world.moto
    ec2 = moto.client("ec2", A)
    # A version 2 naming another profile: instances launched from version 1 keep version 1's.
    ec2.create_launch_template_version(LaunchTemplateId=world.lt, SourceVersion="1", LaunchTemplateData={
        "IamInstanceProfile": {"Arn": world.other_profile["arn"]}})
    fresh = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=world.subnets[A],
                              LaunchTemplate={"LaunchTemplateId": world.lt, "Version": "2"})["Instances"][0]["InstanceId"]
    wanted = {iid: world.profile["arn"] for iid in world.asg_ids} | {fresh: world.other_profile["arn"]}
    assert {iid: _profile_of(moto, iid) for iid in wanted} == dict.fromkeys(wanted)  # moto's gap, measured
    lines = []
    done = ec2_double.reconcile_instance_profiles(moto.endpoint, [A, B], lambda event, **f: lines.append((event, f)))
    assert sorted(i for _, i, _ in done) == sorted(wanted)
    assert {iid: _profile_of(moto, iid) for iid in wanted} == wanted
    assert _profile_of(moto, world.plain) is None, "an instance from no launch template gets nothing"
    assert ec2_double.reconcile_instance_profiles(moto.endpoint, [A, B], lambda *a, **k: None) == []  # idempotent
    assert any(f.get("associated") == "sandbox-proxy" for _, f in lines)


@pytest.fixture(scope="module")
def profiled(world):
    ec2_double.reconcile_instance_profiles(world.moto.endpoint, [A], lambda *a, **k: None)
    return world


def test_the_double_gives_new_instances_their_profile(profiled, double):
    moto = profiled.moto
    moto.client("autoscaling", A).set_desired_capacity(AutoScalingGroupName="sandbox-proxy-us-west-2", DesiredCapacity=3)
    ids = [i["InstanceId"] for i in moto.client("autoscaling", A).describe_auto_scaling_groups(
        AutoScalingGroupNames=["sandbox-proxy-us-west-2"])["AutoScalingGroups"][0]["Instances"]]
    new = (set(ids) - set(profiled.asg_ids)).pop()
    wait_until("the double's reconcile loop to give the new instance its profile",
               lambda: _profile_of(moto, new) == profiled.profile["arn"], 10, 0.1)
    assert f"reconcile region={A} instance={new}" in double["proc"].text()


# --- IMDSv2 ----------------------------------------------------------------------------------------

class Imds:
    """An instance's own requests to its IMDS: from its private IP (a loopback address here)."""

    def __init__(self, addr, source):
        self.host, port = addr.split(":")
        self.port, self.source = int(port), source

    def request(self, method, path, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10, source_address=(self.source, 0))
        try:
            conn.request(method, path, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            conn.close()

    def token(self, ttl="60"):
        status, headers, body = self.request("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        assert status == 200 and headers["X-aws-ec2-metadata-token-ttl-seconds"] == ttl
        return body

    def get(self, path, token):
        status, _, body = self.request("GET", "/latest/meta-data/" + path, {"X-aws-ec2-metadata-token": token})
        return status, body


def test_imds_hands_out_tokens_by_its_rules_and_answers_only_with_one(profiled, double):
    iid = profiled.asg_ids[0]
    me = Imds(double["imds"], profiled.ip(iid))
    for bad in (None, "0", "21601", "abc", "-5", ""):
        headers = {} if bad is None else {"X-aws-ec2-metadata-token-ttl-seconds": bad}
        assert me.request("PUT", "/latest/api/token", headers)[0] == 400, bad
    assert me.request("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                                   "X-Forwarded-For": "198.18.1.9"})[0] == 403
    assert me.request("GET", "/latest/api/token")[0] == 405
    assert me.token("21600")
    token = me.token("60")
    assert me.request("GET", "/latest/meta-data/instance-id")[0] == 401  # IMDSv1: HttpTokens=required
    assert me.get("instance-id", "not-a-token")[0] == 401
    assert me.get("instance-id", token) == (200, iid)
    other = Imds(double["imds"], profiled.ip(profiled.asg_ids[1]))
    assert other.get("instance-id", token)[0] == 401, "a token works only for the instance it was issued to"
    assert other.get("instance-id", other.token()) == (200, profiled.asg_ids[1])
    short = me.token("1")
    assert me.get("instance-id", short)[0] == 200
    wait_until("the 1 s token to expire", lambda: me.get("instance-id", short)[0] == 401, 5, 0.1)
    stranger = Imds(double["imds"], f"{NET[A]}.200")
    assert stranger.request("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 403
    # Region B's IMDS knows only region B's instances.
    assert Imds(double["imds_b"], profiled.ip(iid)).request(
        "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 403
    log = double["proc"].text()
    assert "[ec2-double] imds region=us-west-2" in log and token not in log


def test_imds_serves_the_instance_and_its_roles_credentials_which_are_the_instance_to_sts(profiled, double):
    iid = profiled.asg_ids[0]
    ip = profiled.ip(iid)
    me = Imds(double["imds"], ip)
    t = me.token()
    assert me.get("placement/region", t) == (200, A)
    assert me.get("placement/availability-zone", t) == (200, A + "a")
    assert me.get("local-ipv4", t) == (200, ip)
    status, listing = me.get("", t)
    assert status == 200 and {"iam/", "instance-id", "local-ipv4", "placement/"} <= set(listing.split("\n"))
    status, info = me.get("iam/info", t)
    assert status == 200 and json.loads(info)["InstanceProfileArn"] == profiled.profile["arn"]
    assert json.loads(info)["Code"] == "Success"
    assert me.get("iam/security-credentials/", t) == (200, "sandbox-proxy")
    assert me.get("iam/security-credentials/someone-else", t)[0] == 404
    status, body = me.get("iam/security-credentials/sandbox-proxy", t)
    creds = json.loads(body)
    assert status == 200 and set(creds) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token",
                                            "Expiration"}
    assert (creds["Code"], creds["Type"]) == ("Success", "AWS-HMAC")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["Expiration"])
    sts = boto3.client("sts", region_name=A, endpoint_url=profiled.moto.endpoint, aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["Token"])
    arn = sts.get_caller_identity()["Arn"]
    assert re.fullmatch(rf"arn:aws:sts::\d{{12}}:assumed-role/sandbox-proxy/{iid}", arn), arn
    again = json.loads(me.get("iam/security-credentials/sandbox-proxy", me.token())[1])
    assert again["AccessKeyId"] == creds["AccessKeyId"], "kept until five minutes before they expire"
    doc = json.loads(Imds(double["imds"], ip).request("GET", "/latest/dynamic/instance-identity/document",
                                                      {"X-aws-ec2-metadata-token": t})[2])
    assert (doc["instanceId"], doc["region"], doc["privateIp"]) == (iid, A, ip)
    assert creds["SecretAccessKey"] not in double["proc"].text()


def test_an_instance_without_a_profile_has_no_iam(profiled, double):
    me = Imds(double["imds"], profiled.ip(profiled.plain))
    t = me.token()
    assert me.get("instance-id", t) == (200, profiled.plain)
    assert me.get("iam/", t)[0] == 404
    assert me.get("iam/info", t)[0] == 404
    assert me.get("iam/security-credentials/", t)[0] == 404
    assert "iam/" not in me.get("", t)[1].split("\n")


def test_role_credentials_are_renewed_five_minutes_before_they_expire(profiled):
    now = [time.time()]
    creds = ec2_metadata.RoleCredentials(A, profiled.moto.endpoint, clock=lambda: now[0])
    first = creds.get("i-00000000000000001", profiled.profile["role_arn"])
    expires = datetime.datetime.strptime(first["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    now[0] = expires - 301
    assert creds.get("i-00000000000000001", profiled.profile["role_arn"])["AccessKeyId"] == first["AccessKeyId"]
    now[0] = expires - 299
    assert creds.get("i-00000000000000001", profiled.profile["role_arn"])["AccessKeyId"] != first["AccessKeyId"]


# --- the STS forwarder -----------------------------------------------------------------------------

def test_the_sts_forwarder_takes_a_signed_get_caller_identity_to_moto(profiled, double):
    iid = profiled.asg_ids[1]
    me = Imds(double["imds"], profiled.ip(iid))
    t = me.token()
    creds = json.loads(me.get("iam/security-credentials/sandbox-proxy", t)[1])
    status, arn, _ = sandbox_ec2.get_caller_identity(double["sts"], creds, A)
    assert status == 200 and arn.endswith(f":assumed-role/sandbox-proxy/{iid}"), arn
    assert re.search(r"\[ec2-double\] sts peer=127\.0\.0\.1 method=POST path=/ host=sts\.us-west-2\.amazonaws\.com "
                     r"action=GetCallerIdentity status=200", double["proc"].text())


def test_the_sts_forwarder_passes_the_request_byte_for_byte_and_only_sts(tmp_path):
    import http.server
    import threading
    seen = []
    answer = b"<GetCallerIdentityResponse>recorded</GetCallerIdentityResponse>"

    class Recorder(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.command, self.path, list(self.headers.items()), body))
            out = answer
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("X-Amzn-RequestId", "rec-1")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    lines = []

    def log(event, **f):
        lines.append((event, f))
    fwd = ec2_double.StsForwarder(urllib.parse.urlsplit("http://127.0.0.1:%d" % upstream.server_address[1]), log)
    server = ec2_double.serve(("127.0.0.1", 0), fwd.handle, Logger("test"), "sts")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = "Action=GetCallerIdentity&Version=2011-06-15"
        req = AWSRequest(method="POST", url="https://sts.us-west-2.amazonaws.com/", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Accept": "application/json",
            "X-Teleport-Challenge": "challenge-123", "Host": "sts.us-west-2.amazonaws.com"})
        SigV4Auth(Credentials("ASIAEXAMPLE", "secret", "session"), "sts", A).add_auth(req)
        sent = list(req.headers.items()) + [("Content-Length", str(len(body)))]
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for k, v in sent:
            conn.putheader(k, v)
        conn.endheaders(body.encode())
        r = conn.getresponse()
        assert (r.status, r.read(), r.getheader("X-Amzn-RequestId")) == (200, answer, "rec-1")
        conn.close()
        (method, path, headers, got), = seen
        assert (method, path, got) == ("POST", "/", body.encode())
        assert [(k.lower(), v) for k, v in headers] == [(k.lower(), v) for k, v in sent], "every header, in order"
        assert ("sts", {"peer": "127.0.0.1", "method": "POST", "path": "/", "host": "sts.us-west-2.amazonaws.com",
                        "action": "GetCallerIdentity", "status": 200, "bytes": len(answer)}) in lines

        # Not STS: refused, nothing reaches moto.
        for host, service in (("ec2.us-west-2.amazonaws.com", "ec2"), ("sts.us-west-2.amazonaws.com", "iam"),
                              ("127.0.0.1", "sts")):
            req = AWSRequest(method="POST", url=f"https://{host}/", data="Action=CreateUser&UserName=x",
                             headers={"Content-Type": "application/x-www-form-urlencoded", "Host": host})
            SigV4Auth(Credentials("AKIAEXAMPLE", "secret"), service, A).add_auth(req)
            c = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
            c.request("POST", "/", body=req.body, headers=dict(req.headers))
            assert c.getresponse().status == 403, (host, service)
            c.close()
        assert len(seen) == 1
    finally:
        server.shutdown()
        upstream.shutdown()


def test_a_token_dies_with_its_instance(profiled, double):
    ec2 = profiled.moto.client("ec2", A)
    iid = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=profiled.subnets[A],
                            PrivateIpAddress=f"{NET[A]}.61")["Instances"][0]["InstanceId"]
    me = Imds(double["imds"], f"{NET[A]}.61")
    t = me.token()
    assert me.get("instance-id", t) == (200, iid)
    ec2.terminate_instances(InstanceIds=[iid])
    assert me.get("instance-id", t)[0] == 401
    assert me.request("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 403
