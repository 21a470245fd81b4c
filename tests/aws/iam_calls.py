"""What IAM evaluates for each AWS request a playbook really made (a module, not a conftest).

harness.moto.CountingProxy keeps every request with its signing service and region (`signed`). authorizations()
turns one into the list of (action, resource ARN, request context) that AWS authorizes for it, with what the
call implies besides its own action (each named with its source below), so that iam_proof.allows() can say
whether a policy document allows the run: the table half of a proof (iam_proof.py), for the playbooks whose every
call cannot be replayed under moto's enforcement (aws-edge.yml's Route 53 calls are refused by moto whatever the
policy).

The context is pessimistic where AWS's evaluation is not documented per resource: a request's tags
(aws:RequestTag) are given only for the resource the call creates, never for the other resources it names (the VPC
of CreateSecurityGroup, the subnets RunInstances uses), so a document that counts on them there is refused here.

Resource tags (aws:ResourceTag) are read from moto when the call is evaluated, after the runs: the playbooks add
tags and never remove the cluster's, so what is read then is what the resource carried when the call was made, or
more than that only where a run added it.
"""
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET

R53 = {"r": "https://route53.amazonaws.com/doc/2013-04-01/"}
CLUSTER_TAG = "TeleportCluster"

# Calls that need no permission at all: "No permissions are required to perform this operation" (AWS STS API
# reference, GetCallerIdentity).
NO_PERMISSION = {("sts", "GetCallerIdentity")}

# S3 bucket subresources (the query's key) to (GET action, PUT action, DELETE action), from the Amazon S3 API
# reference's "Permissions" of each operation.
S3_BUCKET_SUBRESOURCES = {
    "tagging": ("s3:GetBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"),
    "policy": ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    "encryption": ("s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration", "s3:PutEncryptionConfiguration"),
    "publicAccessBlock": ("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
                          "s3:PutBucketPublicAccessBlock"),
    "ownershipControls": ("s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls",
                          "s3:PutBucketOwnershipControls"),
    "versioning": ("s3:GetBucketVersioning", "s3:PutBucketVersioning", None),
    "lifecycle": ("s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
}


class World:
    """What an evaluation reads of the resources (an unenforced moto): tags, a launch template's data, an instance
    profile's role. moto_client(service, region) gives a boto3 client."""

    def __init__(self, moto_client, partition, account):
        self.client, self.partition, self.account = moto_client, partition, account
        self._cache = {}

    def _once(self, key, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def security_group_tags(self, region, group_id):
        def fetch():
            found = self.client("ec2", region).describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
            return {t["Key"]: t["Value"] for t in found[0].get("Tags", [])}
        return self._once(("sg", region, group_id), fetch)

    def launch_template(self, region, by_id=None, by_name=None):
        """(id, tags, latest version's data)."""
        def fetch():
            ec2 = self.client("ec2", region)
            kw = {"LaunchTemplateIds": [by_id]} if by_id else {"LaunchTemplateNames": [by_name]}
            lt = ec2.describe_launch_templates(**kw)["LaunchTemplates"][0]
            data = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"],
                                                         Versions=["$Latest"])["LaunchTemplateVersions"][0]
            return lt["LaunchTemplateId"], {t["Key"]: t["Value"] for t in lt.get("Tags", [])}, data["LaunchTemplateData"]
        return self._once(("lt", region, by_id, by_name), fetch)

    def instance_profile_role(self, profile):
        def fetch():
            roles = self.client("iam", "us-east-1").get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
            return roles[0]["RoleName"] if roles else None
        return self._once(("ip", profile), fetch)

    def arn(self, service, region, resource):
        return "arn:%s:%s:%s:%s:%s" % (self.partition, service, region, self.account, resource)


def _form(body):
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _members(form, prefix):
    """Values of a query-protocol list: Prefix.1, Prefix.2 (EC2) or Prefix.member.1 (Auto Scaling, ELBv2)."""
    out = []
    for i in range(1, 1000):
        v = form.get("%s.%d" % (prefix, i), form.get("%s.member.%d" % (prefix, i)))
        if v is None:
            return out
        out.append(v)
    return out


def _tags(form, prefix):
    """{key: value} of a query-protocol tag list at prefix (e.g. TagSpecification.1.Tag, Tags.member)."""
    out = {}
    for i in range(1, 1000):
        key = form.get("%s.%d.Key" % (prefix, i))
        if key is None:
            return out
        out[key] = form.get("%s.%d.Value" % (prefix, i), "")
    return out


def _request_tags(tags):
    ctx = {"aws:RequestTag/" + k: v for k, v in tags.items()}
    if tags:
        ctx["aws:TagKeys"] = sorted(tags)
    return ctx


def _resource_tags(tags):
    return {"aws:ResourceTag/" + k: v for k, v in tags.items()}


def _nlb(arn):
    """moto names a network load balancer's ARNs .../app/... (docs/aws.md, "What moto does differently"); AWS
    names them .../net/..., which is what a policy names. The playbooks make network load balancers only."""
    return re.sub(r":(loadbalancer|listener)/app/", r":\1/net/", arn)


def authorizations(call, world):
    """[(action, resource, context)] that AWS authorizes for one recorded request (a dict of CountingProxy.signed).
    Every context has aws:RequestedRegion, the region the request was signed for (a global condition key)."""
    return [(a, r, dict(c, **{"aws:RequestedRegion": call["region"]})) for a, r, c in _authorizations(call, world)]


def _authorizations(call, world):
    service, region, action = call["service"], call["region"], call["action"]
    if (service, action) in NO_PERMISSION:
        return []
    if service == "s3":
        return _s3(call, world)
    if service == "route53":
        return _route53(call, world)
    if service == "ssm":
        name = json.loads(call["body"] or b"{}").get("Name") or json.loads(call["body"]).get("Names")[0]
        return [("ssm:" + action, world.arn("ssm", region, "parameter/" + name.lstrip("/")), {})]
    form = _form(call["body"])
    fn = {"ec2": _ec2, "autoscaling": _autoscaling, "elasticloadbalancing": _elb, "iam": _iam}.get(service)
    if fn is None:
        raise AssertionError("a call the table does not know: %s %s" % (service, action))
    return fn(action, form, region, world)


def _ec2(action, form, region, world):
    a = "ec2:" + action
    if action.startswith("Describe"):
        return [(a, "*", {})]
    if action == "CreateSecurityGroup":
        tags = _tags(form, "TagSpecification.1.Tag")
        out = [(a, world.arn("ec2", region, "security-group/*"), _request_tags(tags)),
               (a, world.arn("ec2", region, "vpc/" + form["VpcId"]), {})]
        if tags:  # tag on create: ec2:CreateTags with ec2:CreateAction (Amazon EC2 User Guide, "Grant permission
            # to tag resources during creation")
            out.append(("ec2:CreateTags", world.arn("ec2", region, "security-group/*"),
                        dict(_request_tags(tags), **{"ec2:CreateAction": "CreateSecurityGroup"})))
        return out
    if action in ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
                  "RevokeSecurityGroupEgress", "UpdateSecurityGroupRuleDescriptionsIngress",
                  "UpdateSecurityGroupRuleDescriptionsEgress"):
        group = form["GroupId"]
        return [(a, world.arn("ec2", region, "security-group/" + group),
                 _resource_tags(world.security_group_tags(region, group)))]
    if action == "CreateTags":
        out = []
        for rid in _members(form, "ResourceId"):
            if rid.startswith("sg-"):
                res, have = "security-group/" + rid, world.security_group_tags(region, rid)
            elif rid.startswith("lt-"):
                res, have = "launch-template/" + rid, world.launch_template(region, by_id=rid)[1]
            else:
                raise AssertionError("CreateTags on a resource the table does not know: " + rid)
            out.append((a, world.arn("ec2", region, res), dict(_resource_tags(have),
                                                               **_request_tags(_tags(form, "Tag")))))
        return out
    if action == "CreateLaunchTemplate":
        tags = {}
        for i in range(1, 10):
            if form.get("TagSpecification.%d.ResourceType" % i) == "launch-template":
                tags = _tags(form, "TagSpecification.%d.Tag" % i)
        out = [(a, world.arn("ec2", region, "launch-template/*"), _request_tags(tags))]
        if tags:
            out.append(("ec2:CreateTags", world.arn("ec2", region, "launch-template/*"),
                        dict(_request_tags(tags), **{"ec2:CreateAction": "CreateLaunchTemplate"})))
        return out
    if action in ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate"):
        lt_id, tags, _ = world.launch_template(region, by_id=form.get("LaunchTemplateId"),
                                               by_name=form.get("LaunchTemplateName"))
        return [(a, world.arn("ec2", region, "launch-template/" + lt_id), _resource_tags(tags))]
    raise AssertionError("an EC2 call the table does not know: " + action)


def _launch(form, region, world):
    """What a group made or updated with a launch template implies for its caller (Amazon EC2 Auto Scaling User
    Guide, "Launch template permissions"): ec2:RunInstances on the template and on what it launches, ec2:CreateTags
    when the template tags what it launches, iam:PassRole on the role of its instance profile."""
    lt_id, lt_name = form.get("LaunchTemplate.LaunchTemplateId"), form.get("LaunchTemplate.LaunchTemplateName")
    if not (lt_id or lt_name):
        return []
    lt_id, tags, data = world.launch_template(region, by_id=lt_id, by_name=lt_name)
    run = "ec2:RunInstances"
    out = [(run, world.arn("ec2", region, "launch-template/" + lt_id), _resource_tags(tags)),
           (run, world.arn("ec2", region, "instance/*"), {}), (run, world.arn("ec2", region, "volume/*"), {}),
           (run, world.arn("ec2", region, "network-interface/*"), {})]
    out += [(run, world.arn("ec2", region, "subnet/" + s), {})
            for s in form.get("VPCZoneIdentifier", "").split(",") if s]
    for ni in data.get("NetworkInterfaces", []):
        out += [(run, world.arn("ec2", region, "security-group/" + g), {}) for g in ni.get("Groups", [])]
    out += [(run, world.arn("ec2", region, "security-group/" + g), {}) for g in data.get("SecurityGroupIds", [])]
    image = data.get("ImageId", "")
    if image.startswith("ami-"):
        out.append((run, "arn:%s:ec2:%s::image/%s" % (world.partition, region, image), {}))
    # moto repeats the template's own tags as a "launch-template" entry of its data, which EC2 refuses there
    # (docs/aws.md, "What moto does differently"): nothing launches one.
    for spec in [t for t in data.get("TagSpecifications", []) if t["ResourceType"] != "launch-template"]:
        out.append(("ec2:CreateTags", world.arn("ec2", region, "%s/*" % spec["ResourceType"]),
                    {"ec2:CreateAction": "RunInstances"}))
    profile = data.get("IamInstanceProfile", {})
    name = profile.get("Name") or (profile.get("Arn", "").rsplit("/", 1)[-1] if profile.get("Arn") else None)
    if name:
        role = world.instance_profile_role(name)
        out.append(("iam:PassRole", "arn:%s:iam::%s:role/%s" % (world.partition, world.account, role),
                    {"iam:PassedToService": "ec2.amazonaws.com"}))
    return out


def _group(world, region, name):
    # A group's ARN holds a UUID the policy cannot know (it names it *): any stands for it here.
    return world.arn("autoscaling", region,
                     "autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName/" + name)


def _autoscaling(action, form, region, world):
    a = "autoscaling:" + action
    if action.startswith("Describe"):
        return [(a, "*", {})]
    if action == "CreateOrUpdateTags":
        names = sorted({form["Tags.member.%d.ResourceId" % i] for i in range(1, 100)
                        if "Tags.member.%d.ResourceId" % i in form})
        return [(a, _group(world, region, n), _request_tags(_tags(form, "Tags.member"))) for n in names]
    name = form["AutoScalingGroupName"]
    out = [(a, _group(world, region, name), {})]
    if action == "CreateAutoScalingGroup":
        tags = _tags(form, "Tags.member")
        out[0] = (a, out[0][1], _request_tags(tags))
        if tags:  # tag on create: autoscaling:CreateOrUpdateTags (Amazon EC2 Auto Scaling User Guide, "Tag
            # permissions")
            out.append(("autoscaling:CreateOrUpdateTags", _group(world, region, name), _request_tags(tags)))
        # The account's first group creates Auto Scaling's service-linked role with the caller's permission; moto
        # makes none, so every creation here counts as the first.
        out.append(("iam:CreateServiceLinkedRole",
                    "arn:%s:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
                    % (world.partition, world.account), {"iam:AWSServiceName": "autoscaling.amazonaws.com"}))
    if action in ("CreateAutoScalingGroup", "UpdateAutoScalingGroup"):
        out += _launch(form, region, world)
    if action not in ("CreateAutoScalingGroup", "UpdateAutoScalingGroup", "PutLifecycleHook",
                      "AttachLoadBalancerTargetGroups"):
        raise AssertionError("an Auto Scaling call the table does not know: " + action)
    return out


def _elb(action, form, region, world):
    a = "elasticloadbalancing:" + action
    if action.startswith("Describe"):
        return [(a, "*", {})]
    tags = _tags(form, "Tags.member")
    if action in ("CreateLoadBalancer", "CreateTargetGroup"):
        assert action != "CreateLoadBalancer" or form.get("Type") == "network", form
        kind = "loadbalancer/net" if action == "CreateLoadBalancer" else "targetgroup"
        res = world.arn("elasticloadbalancing", region, "%s/%s/*" % (kind, form["Name"]))
        out = [(a, res, _request_tags(tags))]
        if tags:  # tag on create needs elasticloadbalancing:AddTags (Elastic Load Balancing API reference,
            # CreateLoadBalancer and CreateTargetGroup, "Tags")
            out.append(("elasticloadbalancing:AddTags", res, dict(_request_tags(tags), **{
                "elasticloadbalancing:CreateAction": action})))
        if action == "CreateLoadBalancer":  # the account's first, as Auto Scaling's above
            out.append(("iam:CreateServiceLinkedRole",
                        "arn:%s:iam::%s:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
                        "AWSServiceRoleForElasticLoadBalancing" % (world.partition, world.account),
                        {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}))
        return out
    for key in ("ListenerArn", "LoadBalancerArn", "TargetGroupArn"):
        if key in form and action in ("CreateListener", "ModifyListener", "DeleteListener",
                                      "ModifyLoadBalancerAttributes", "SetSubnets", "SetSecurityGroups",
                                      "ModifyTargetGroup", "ModifyTargetGroupAttributes"):
            return [(a, _nlb(form[key]), _request_tags(tags))]
    if action == "AddTags":
        return [(a, _nlb(arn), _request_tags(tags)) for arn in _members(form, "ResourceArns")]
    raise AssertionError("an Elastic Load Balancing call the table does not know: " + action)


def _iam(action, form, region, world):
    a = "iam:" + action
    if action == "GetInstanceProfile":
        return [(a, "arn:%s:iam::%s:instance-profile/%s" % (world.partition, world.account, form["InstanceProfileName"]), {})]
    if action in ("GetRole", "GetRolePolicy", "PutRolePolicy", "DeleteRolePolicy"):
        return [(a, "arn:%s:iam::%s:role/%s" % (world.partition, world.account, form["RoleName"]), {})]
    raise AssertionError("an IAM call the table does not know: " + action)


def _s3(call, world):
    split = urllib.parse.urlsplit(call["path"])
    parts = split.path.lstrip("/").split("/", 1)
    bucket, key = parts[0], (parts[1] if len(parts) > 1 else "")
    query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
    method = call["method"]
    if key:
        action = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject"}[method]
        return [(action, "arn:%s:s3:::%s/%s" % (world.partition, bucket, key), {})]
    arn = "arn:%s:s3:::%s" % (world.partition, bucket)
    sub = [q for q in query if q in S3_BUCKET_SUBRESOURCES]
    if sub:
        get, put, delete = S3_BUCKET_SUBRESOURCES[sub[0]]
        action = {"GET": get, "PUT": put, "DELETE": delete}[method]
        assert action, call
        return [(action, arn, {})]
    if method == "HEAD":  # HeadBucket needs s3:ListBucket (Amazon S3 API reference, HeadBucket, "Permissions")
        return [("s3:ListBucket", arn, {})]
    if method == "PUT" and not query:
        return [("s3:CreateBucket", arn, {})]
    if method == "GET" and ("list-type" in query or not query):
        return [("s3:ListBucket", arn, {})]
    raise AssertionError("an S3 call the table does not know: %s %s" % (method, call["path"]))


def _route53(call, world):
    """Route 53's REST paths (its API reference) to the actions and resources of its Service Authorization Reference."""
    method, body = call["method"], call["body"]
    split = urllib.parse.urlsplit(call["path"])
    parts = split.path.split("/")[2:]  # after /2013-04-01/
    zone = "arn:%s:route53:::hostedzone/" % world.partition
    check = "arn:%s:route53:::healthcheck/" % world.partition
    if parts == ["hostedzonesbyname"]:
        return [("route53:ListHostedZonesByName", "*", {})]
    if parts == ["hostedzone"]:
        if method == "GET":
            return [("route53:ListHostedZones", "*", {})]
        # A private zone's VPC is described first (Route 53 Developer Guide, "Actions on private hosted zones":
        # CreateHostedZone and AssociateVPCWithHostedZone need ec2:DescribeVpcs).
        return [("route53:CreateHostedZone", "*", {}), ("ec2:DescribeVpcs", "*", {})]
    if parts[0] == "change":
        return [("route53:GetChange", "arn:%s:route53:::change/%s" % (world.partition, parts[1]), {})]
    if parts == ["healthcheck"]:
        return [("route53:ListHealthChecks" if method == "GET" else "route53:CreateHealthCheck", "*", {})]
    if parts[0] == "healthcheck":
        action = {"GET": "route53:GetHealthCheck", "POST": "route53:UpdateHealthCheck",
                  "DELETE": "route53:DeleteHealthCheck"}[method]
        return [(action, check + parts[1], {})]
    if parts[0] == "tags":
        prefix = zone if parts[1] == "hostedzone" else check
        if len(parts) == 2:  # ListTagsForResources: POST with the ids in the body
            ids = [e.text for e in ET.fromstring(body).findall(".//r:ResourceId", R53)]
            return [("route53:ListTagsForResources", prefix + i, {}) for i in ids]
        action = "route53:ListTagsForResource" if method == "GET" else "route53:ChangeTagsForResource"
        return [(action, prefix + parts[2], {})]
    if parts[0] == "hostedzone":
        res = zone + parts[1]
        rest = parts[2:]
        if not rest and method == "GET":
            return [("route53:GetHostedZone", res, {})]
        if rest == ["rrset"] and method == "GET":
            return [("route53:ListResourceRecordSets", res, {})]
        if rest in (["rrset"], ["rrset", ""]) and method == "POST":
            changes = ET.fromstring(body).findall(".//r:Change", R53)
            return [("route53:ChangeResourceRecordSets", res, {
                "route53:ChangeResourceRecordSetsActions": sorted({c.findtext("r:Action", namespaces=R53) for c in changes}),
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
                    {normalized(c.findtext(".//r:Name", namespaces=R53)) for c in changes}),
                "route53:ChangeResourceRecordSetsRecordTypes": sorted(
                    {c.findtext(".//r:Type", namespaces=R53) for c in changes})})]
        if rest == ["associatevpc"]:
            return [("route53:AssociateVPCWithHostedZone", res, {}), ("ec2:DescribeVpcs", "*", {})]
    raise AssertionError("a Route 53 call the table does not know: %s %s" % (method, call["path"]))


def normalized(name):
    """Route 53's normalized record name for IAM (Route 53 Developer Guide, "Using IAM policy conditions for
    fine-grained access control"): lower case, no final dot, the escape \\052 read as *."""
    return name.replace("\\052", "*").lower().rstrip(".")


def evaluate(document_of, runs, world):
    """[(playbook, call, (action, resource, context), allowed)] for every authorization of every recorded run;
    document_of(playbook) gives the document a run is evaluated against."""
    from iam_proof import allows
    out = []
    for playbook, signed in runs:
        doc = document_of(playbook)
        for call in signed:
            for auth in authorizations(call, world):
                out.append((playbook, call, auth, allows(doc, *auth)))
    return out
