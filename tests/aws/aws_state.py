"""Reads what the playbooks made back from moto, in the terms the tests assert."""


def tags(pairs):
    return {t["Key"]: t["Value"] for t in pairs or []}


def security_group(ec2, vpc_id, name):
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                  {"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    assert len(found) == 1, f"security group {name} in {vpc_id}: found {len(found)}"
    return found[0]


def rules(ec2, group):
    """(ingress, egress) as sets of (proto, from_port, to_port, source) with group ids as names."""
    names = {g["GroupId"]: g["GroupName"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [group["VpcId"]]}])["SecurityGroups"]}

    def flat(perms):
        out = set()
        for p in perms:
            proto = p["IpProtocol"]
            ports = (p.get("FromPort"), p.get("ToPort")) if proto != "-1" else (None, None)
            for r in p.get("IpRanges", []):
                out.add((proto, *ports, r["CidrIp"]))
            for r in p.get("UserIdGroupPairs", []):
                out.add((proto, *ports, "sg:" + names[r["GroupId"]]))
        return out
    return flat(group.get("IpPermissions", [])), flat(group.get("IpPermissionsEgress", []))


def tcp(port, source):
    return ("tcp", port, port, source)


ALL_OUT = {("-1", None, None, "0.0.0.0/0")}


def load_balancer(elbv2, name):
    lb = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    lb["attributes"] = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    lb["listeners"] = {lst["Port"]: lst for lst in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]}
    lb["tags"] = tags(elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
    return lb


def target_group(elbv2, arn):
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    tg["attributes"] = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    tg["tags"] = tags(elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
    return tg


def listener_targets(elbv2, name):
    """{NLB port: (target group name, target group port)}"""
    lb = load_balancer(elbv2, name)
    out = {}
    for port, lst in lb["listeners"].items():
        (action,) = lst["DefaultActions"]
        assert action["Type"] == "forward" and lst["Protocol"] == "TCP", lst
        tg = elbv2.describe_target_groups(TargetGroupArns=[action["TargetGroupArn"]])["TargetGroups"][0]
        out[port] = (tg["TargetGroupName"], tg["Port"])
    return out


def asg(autoscaling, name):
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return group


def latest_template_data(ec2, name):
    lt = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"][0]
    version = ec2.describe_launch_template_versions(LaunchTemplateName=name, Versions=[str(lt["LatestVersionNumber"])])
    return lt, version["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def records(r53, zone_id, names):
    """{(name, set identifier): record} for the names given (wildcards as '*')."""
    out = {}
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rr in page["ResourceRecordSets"]:
            name = rr["Name"].replace("\\052", "*").rstrip(".")
            if name in names:
                out[(name, rr.get("SetIdentifier", ""))] = rr
    return out


def health_checks(r53):
    """{Name tag: (health check, tags)}"""
    checks = r53.list_health_checks()["HealthChecks"]
    out = {}
    for i in range(0, len(checks), 10):
        ids = [c["Id"] for c in checks[i:i + 10]]
        for s in r53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=ids)["ResourceTagSets"]:
            t = tags(s["Tags"])
            out[t.get("Name")] = (next(c for c in checks if c["Id"] == s["ResourceId"]), t)
    return out


def mutating_actions(run):
    return [action for _, action, _ in run.mutating]
