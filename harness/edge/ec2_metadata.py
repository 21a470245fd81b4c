"""The ec2-double's instance metadata service: IMDSv2 for one region's instances, on the region's
gateway address (EC2's is 169.254.169.254, which the sandbox never uses; the hosts' SDKs are
pointed here with AWS_EC2_METADATA_SERVICE_ENDPOINT).

It mirrors the EC2 user guide, "Use the Instance Metadata Service to access instance metadata"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html)
and "How Instance Metadata Service Version 2 works"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-v2-how-it-works.html):

  * `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` of 1 to 21600 answers a
    session token (and the TTL in the same header); no header or another value is 400 Bad Request;
    a PUT carrying `X-Forwarded-For` is refused (403), as IMDS refuses token requests that came
    through a proxy.
  * Every GET needs `X-aws-ec2-metadata-token` holding a token that was issued to this instance
    and has not expired, else 401 Unauthorized. That is IMDSv2 only, what HttpTokens=required
    gives, and every launch template aws-pools.yml writes says required: an IMDSv1 GET is 401.
  * `meta-data/`: `instance-id`, `local-ipv4`, `placement/region`, `placement/availability-zone`,
    `iam/info` and `iam/security-credentials/[<role>]` (only for an instance with an instance
    profile; otherwise 404, as EC2 has no iam/ then), and `dynamic/instance-identity/document`.
    Directories answer their listing, one entry a line, sub-directories ending in "/".
  * `meta-data/autoscaling/target-lifecycle-state` when the ec2-double runs with
    --autoscaling-lifecycle: the Auto Scaling lifecycle double's answer (autoscaling_double.py:
    InService, Terminated); 404 without the flag or for an instance it holds nothing for.
  * The role's credentials are moto STS AssumeRole(RoleArn=<the profile's role>,
    RoleSessionName=<instance id>), so that GetCallerIdentity with them answers
    arn:aws:sts::<account>:assumed-role/<role>/<instance id> as on EC2; they are kept until five
    minutes before they expire (EC2 makes new ones available at least five minutes before).

The instance is the one moto holds, running, with the request's source address as its private IP
in this region. Not modelled: the hop limit (HttpPutResponseHopLimit bounds the IP TTL of the token
answer so that a container behind the instance cannot get one; here every host is one hop from its
gateway and nothing lower the TTL), HttpEndpoint=disabled and HttpTokens=optional (see above),
that only the instance itself can reach its IMDS (here: any address on the bridge; a host that
forged another's source address would be believed), IPv6, and the other metadata categories.
"""
import base64
import json
import secrets
import threading
import time

from botocore.exceptions import ClientError

from .common import client, header

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_MIN, TTL_MAX = 1, 21600
# Instance profile credentials are replaced at least five minutes before they expire.
REFRESH_BEFORE_S = 300
TEXT = [("Content-Type", "text/plain")]


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _answer(status, text, extra=()):
    body = text if isinstance(text, bytes) else text.encode()
    return status, TEXT + list(extra), body


NOT_FOUND = (404, "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<title>404 - Not Found</title>\n")


class RoleCredentials:
    """Each (instance, role)'s credentials from moto STS, kept until REFRESH_BEFORE_S before they expire."""

    def __init__(self, region, endpoint, clock=time.time):
        self.region, self.endpoint, self.clock = region, endpoint, clock
        self.lock = threading.Lock()
        self.cache = {}  # (instance id, role arn) -> credentials dict as served

    def get(self, instance_id, role_arn):
        key = (instance_id, role_arn)
        with self.lock:
            have = self.cache.get(key)
            if have and self.clock() < have["_expires"] - REFRESH_BEFORE_S:
                return have
        got = client("sts", self.region, self.endpoint).assume_role(RoleArn=role_arn, RoleSessionName=instance_id)
        c = got["Credentials"]
        fresh = {"Code": "Success", "LastUpdated": _iso(self.clock()), "Type": "AWS-HMAC",
                 "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"], "Token": c["SessionToken"],
                 "Expiration": _iso(c["Expiration"].timestamp()), "_expires": c["Expiration"].timestamp()}
        with self.lock:
            self.cache[key] = fresh
        return fresh


class Metadata:
    def __init__(self, region, endpoint, log, clock=time.time, lifecycle=None):
        self.region, self.endpoint, self.log, self.clock = region, endpoint, log, clock
        self.lifecycle = lifecycle  # autoscaling_double.Lifecycle, or None: no autoscaling/ here
        self.lock = threading.Lock()
        self.tokens = {}  # token -> (source address, instance id, expires at)
        self.credentials = RoleCredentials(region, endpoint, clock)

    # -- moto -----------------------------------------------------------------------------------

    def instance_at(self, ip):
        """The running instance whose private IP is ip in this region, as moto holds it, or None."""
        ec2 = client("ec2", self.region, self.endpoint)
        found = [(r.get("OwnerId"), i) for r in ec2.describe_instances(Filters=[
            {"Name": "private-ip-address", "Values": [ip]},
            {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"] for i in r["Instances"]]
        if len(found) != 1:
            return None
        owner, inst = found[0]
        inst["_owner"] = owner
        return inst

    def instance_by_id(self, instance_id):
        """The instance as moto holds it now, or None once moto no longer knows it."""
        ec2 = client("ec2", self.region, self.endpoint)
        try:
            found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as e:
            if e.response["Error"]["Code"] == "InvalidInstanceID.NotFound":
                return None
            raise
        for r in found:
            for i in r["Instances"]:
                i["_owner"] = r.get("OwnerId")
                return i
        return None

    def profile(self, instance_id):
        """(instance profile ARN, its id, role ARN or None) of the instance's association, or None."""
        ec2 = client("ec2", self.region, self.endpoint)
        assoc = [a for a in ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
            if a.get("State") == "associated"]
        if not assoc:
            return None
        arn = assoc[0]["IamInstanceProfile"]["Arn"]
        name = arn.rsplit("/", 1)[-1]
        ip = client("iam", self.region, self.endpoint).get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        roles = ip.get("Roles") or []
        return arn, ip["InstanceProfileId"], (roles[0]["Arn"] if roles else None)

    # -- HTTP -----------------------------------------------------------------------------------

    def handle(self, method, path, headers, body, peer):
        status, rheaders, out, who = self._handle(method, path.split("?", 1)[0], headers, peer)
        # Never the body: it holds the token or the credentials.
        self.log("imds", region=self.region, peer=peer, instance=who or "-", method=method,
                 path=path if len(path) < 200 and path.isprintable() and " " not in path else repr(path[:200]),
                 status=status)
        return status, rheaders, out

    def _handle(self, method, path, headers, peer):
        if path == TOKEN_PATH:
            if method != "PUT":
                return (*_answer(405, "Method Not Allowed\n", [("Allow", "PUT")]), None)
            return self._token(headers, peer)
        if method != "GET":
            return (*_answer(405, "Method Not Allowed\n", [("Allow", "GET")]), None)
        token = header(headers, TOKEN_HEADER)
        with self.lock:
            bound = self.tokens.get(token) if token else None
        if bound is None or bound[0] != peer or self.clock() >= bound[2]:
            # IMDSv1 (no token), an unknown or expired token, or one issued to another instance.
            return (*_answer(401, "Unauthorized\n"), None)
        inst = self.instance_by_id(bound[1])
        if inst is None or inst.get("PrivateIpAddress") != peer or inst["State"]["Name"] != "running":
            return (*_answer(401, "Unauthorized\n"), None)
        remaining = [(TTL_HEADER, str(max(0, int(bound[2] - self.clock()))))]
        value = self._value(inst, path)
        if value is None:
            return (*_answer(*NOT_FOUND, remaining), inst["InstanceId"])
        return (*_answer(200, value, remaining), inst["InstanceId"])

    def _token(self, headers, peer):
        if header(headers, "X-Forwarded-For") is not None:
            return (*_answer(403, "Forbidden\n"), None)
        ttl = header(headers, TTL_HEADER)
        if ttl is None or not ttl.strip().isdigit() or not TTL_MIN <= int(ttl) <= TTL_MAX:
            return (*_answer(400, "Bad Request\n"), None)
        inst = self.instance_at(peer)
        if inst is None:
            return (*_answer(403, f"Forbidden: no running instance of {self.region} has the private IP {peer} "
                                  "(ec2-double IMDS)\n"), None)
        token = base64.b64encode(secrets.token_bytes(42)).decode()
        now = self.clock()
        with self.lock:
            self.tokens = {t: b for t, b in self.tokens.items() if b[2] > now}
            self.tokens[token] = (peer, inst["InstanceId"], now + int(ttl))
        return (*_answer(200, token, [(TTL_HEADER, str(int(ttl)))]), inst["InstanceId"])

    def _tree(self, inst, with_iam, with_autoscaling=False):
        """Every leaf this IMDS serves for inst: path under /latest/ -> text, or a callable giving it.
        The iam/ part (two more moto calls) only when with_iam, the autoscaling/ part (the lifecycle
        double's) only when with_autoscaling."""
        iid = inst["InstanceId"]
        az = inst["Placement"]["AvailabilityZone"]
        tree = {
            "meta-data/instance-id": iid,
            "meta-data/local-ipv4": inst["PrivateIpAddress"],
            "meta-data/placement/region": self.region,
            "meta-data/placement/availability-zone": az,
            "dynamic/instance-identity/document": lambda: json.dumps({
                "accountId": inst.get("_owner"), "architecture": inst.get("Architecture", "x86_64"),
                "availabilityZone": az, "imageId": inst.get("ImageId"), "instanceId": iid,
                "instanceType": inst.get("InstanceType"), "pendingTime": _iso(inst["LaunchTime"].timestamp()),
                "privateIp": inst["PrivateIpAddress"], "region": self.region, "version": "2017-09-30"}, indent=2),
        }
        target = self.lifecycle.target_lifecycle_state(self.region, iid) \
            if with_autoscaling and self.lifecycle is not None else None
        if target:
            tree["meta-data/autoscaling/target-lifecycle-state"] = target
        profile = self.profile(iid) if with_iam else None
        if profile:
            arn, profile_id, role_arn = profile
            tree["meta-data/iam/info"] = lambda: json.dumps({
                "Code": "Success", "LastUpdated": _iso(self.clock()), "InstanceProfileArn": arn,
                "InstanceProfileId": profile_id}, indent=2)
            if role_arn:
                role = role_arn.rsplit("/", 1)[-1]
                tree[f"meta-data/iam/security-credentials/{role}"] = lambda: json.dumps(
                    {k: v for k, v in self.credentials.get(iid, role_arn).items() if not k.startswith("_")}, indent=2)
            else:
                tree["meta-data/iam/security-credentials/"] = ""
        return tree

    def _value(self, inst, path):
        if not path.startswith("/latest/"):
            return None
        rel = path[len("/latest/"):]
        listing = rel in ("", "meta-data/")
        tree = self._tree(inst, listing or rel.startswith("meta-data/iam"),
                          listing or rel.startswith("meta-data/autoscaling"))
        if rel in tree and not rel.endswith("/"):
            v = tree[rel]
            return v() if callable(v) else v
        if rel and not rel.endswith("/"):
            return None
        # A directory: its entries, one a line, sub-directories with a trailing "/".
        entries = set()
        for leaf in tree:
            if leaf.startswith(rel) and leaf != rel:
                head, slash, _ = leaf[len(rel):].partition("/")
                entries.add(head + slash)
        entries.discard("")
        if not entries and rel not in tree:
            return None
        return "\n".join(sorted(entries))
