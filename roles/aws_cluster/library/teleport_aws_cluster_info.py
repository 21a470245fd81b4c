#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Read-only discovery of the cluster's AWS state in every region, in one module run.

Why one module and not the bundle's info modules (ec2_vpc_subnet_info, ec2_vpc_net_info,
ec2_ami_info, autoscaling_group_info, elb_target_group_info): those run once per region
and per kind, and each run of a boto3 module costs about 0.7 s of interpreter and SDK
start-up, which made validation the slowest part of a run; elb_target_group_info also
makes two calls per target group of the account. Here each region costs the few
Describe calls it needs, and nothing is written.
"""

DOCUMENTATION = r"""
module: teleport_aws_cluster_info
short_description: The cluster's subnets, VPCs, published AMIs, ASGs and target groups per region (read-only)
options:
  cluster: {type: str, required: true, description: Value of the TeleportCluster tag.}
  regions:
    type: list
    elements: dict
    required: true
    description: Regions (region, subnets, public_subnets) to read.
  network: {type: bool, default: true, description: Read the subnets and their VPCs.}
  image_parameter: {type: str, default: "", description: SSM parameter to read in every region, with the AMI it names.}
  asgs: {type: bool, default: false, description: Find the Auto Scaling groups tagged for the cluster, by TeleportRole.}
  target_groups: {type: bool, default: false, description: Find the target groups tagged for the cluster, by TeleportRole.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
regions:
  description: >-
    Region name to vpc_id, vpc_ids, cidrs, zones, missing_subnets; image (parameter, found, image_id, state,
    architecture, root_device_name); asgs (role to a list of name and target_group_arns); target_groups (role to
    a list of name and arn).
  type: dict
  returned: always
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import elbv2_listing, tag_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def network(ec2, entry):
    wanted = list(dict.fromkeys((entry.get("subnets") or []) + (entry.get("public_subnets") or [])))
    found = ec2.describe_subnets(aws_retry=True, Filters=[{"Name": "subnet-id", "Values": wanted}])["Subnets"] if wanted else []
    by_id = {s["SubnetId"]: s for s in found}
    vpc_ids = sorted({s["VpcId"] for s in found})
    out = {"missing_subnets": [s for s in wanted if s not in by_id], "vpc_ids": vpc_ids,
           "vpc_id": vpc_ids[0] if len(vpc_ids) == 1 else "", "cidrs": [],
           "zones": sorted({by_id[s]["AvailabilityZone"] for s in entry.get("subnets") or [] if s in by_id})}
    if out["vpc_id"]:
        vpc = ec2.describe_vpcs(aws_retry=True, VpcIds=[out["vpc_id"]])["Vpcs"][0]
        out["cidrs"] = sorted(a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet") or []
                              if a.get("CidrBlockState", {}).get("State") == "associated") or [vpc["CidrBlock"]]
    return out


def image(ssm, ec2, parameter):
    out = {"parameter": parameter, "found": False, "image_id": "", "state": "", "architecture": "", "root_device_name": ""}
    try:
        out["image_id"] = ssm.get_parameter(aws_retry=True, Name=parameter)["Parameter"]["Value"]
    except is_boto3_error_code("ParameterNotFound"):
        return out
    images = ec2.describe_images(aws_retry=True, Filters=[{"Name": "image-id", "Values": [out["image_id"]]}])["Images"]
    if images:
        img = images[0]
        out.update(found=True, state=img.get("State", ""), architecture=img.get("Architecture", ""),
                   root_device_name=img.get("RootDeviceName", ""))
    return out


def asgs(autoscaling, cluster):
    out = {}
    pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": "tag:TeleportCluster", "Values": [cluster]}])
    for page in pages:
        for g in page["AutoScalingGroups"]:
            role = tag_dict(g.get("Tags")).get("TeleportRole", "")
            out.setdefault(role, []).append({"name": g["AutoScalingGroupName"],
                                             "target_group_arns": sorted(g.get("TargetGroupARNs") or [])})
    return out


def target_groups(elbv2, cluster):
    found, tags = elbv2_listing(elbv2, "describe_target_groups", "TargetGroup")
    out = {}
    for name, g in found.items():
        t = tags.get(g["TargetGroupArn"], {})
        if t.get("TeleportCluster") == cluster:
            out.setdefault(t.get("TeleportRole", ""), []).append({"name": name, "arn": g["TargetGroupArn"]})
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            regions=dict(type="list", elements="dict", required=True),
            network=dict(type="bool", default=True),
            image_parameter=dict(type="str", default=""),
            asgs=dict(type="bool", default=False),
            target_groups=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    regions = {}
    for entry in p["regions"]:
        region = entry["region"]
        info = {}
        try:
            ec2 = module.client("ec2", retry_decorator=retry, region=region)
            if p["network"]:
                info.update(network(ec2, entry))
            if p["image_parameter"]:
                info["image"] = image(module.client("ssm", retry_decorator=retry, region=region), ec2, p["image_parameter"])
            if p["asgs"]:
                info["asgs"] = asgs(module.client("autoscaling", retry_decorator=retry, region=region), p["cluster"])
            if p["target_groups"]:
                info["target_groups"] = target_groups(module.client("elbv2", retry_decorator=retry, region=region), p["cluster"])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="reading the cluster's resources in %s (check the credentials' access to that region)" % region)
        regions[region] = info
    module.exit_json(changed=False, regions=regions)


if __name__ == "__main__":
    main()
