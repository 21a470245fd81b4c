#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The cluster's membership record in one region: which Auto Scaling groups are its pools.

Tags cannot prove that an instance is the cluster's own (anyone with ec2:CreateTags or
autoscaling:CreateOrUpdateTags can write TeleportCluster), and site.yml sends every member the
join token, the license and the proxies' private key. So aws-pools.yml records, per region, each
pool's group name, role, the id of the launch template the group launches from and the ARN of
the instance profile that template gives, in an SSM parameter; the inventory service admits only
instances that match it (inventory-service discovery/Membership.java, which reads this format).
"""

DOCUMENTATION = r"""
module: teleport_aws_membership
short_description: Record which Auto Scaling groups are the cluster's pools in one region
description:
  - Reads each pool's Auto Scaling group, the launch template it launches from, and that template's
    instance profile, and writes them as one JSON document to an SSM String parameter.
  - Refuses a group that launches from another launch template than the pool's, or from a mixed
    instances policy or a launch configuration.
  - Writes only when the document differs. Check mode and --diff supported.
options:
  cluster: {type: str, required: true, description: The Teleport cluster name.}
  parameter: {type: str, required: true, description: The SSM parameter name.}
  pools:
    type: list
    elements: dict
    required: true
    description: "The region's pools: name (the group), role (auth or proxy), launch_template (its name)."
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
record: {description: The membership record as written, type: dict, returned: always}
"""

import json

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import is_pending, pending, result
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

VERSION = 1


def group_launch_template(group):
    """(id, name, version) of the template a group launches from, or None when it uses none."""
    lt = group.get("LaunchTemplate")
    if not lt:
        return None
    return lt.get("LaunchTemplateId"), lt.get("LaunchTemplateName"), str(lt.get("Version") or "$Default")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            parameter=dict(type="str", required=True),
            pools=dict(type="list", elements="dict", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    asg = module.client("autoscaling", retry_decorator=retry)
    ec2 = module.client("ec2", retry_decorator=retry)
    iam = module.client("iam", retry_decorator=retry)
    ssm = module.client("ssm", retry_decorator=retry)
    region = module.region

    groups = []
    for pool in sorted(p["pools"], key=lambda x: x["name"]):
        name, role, template = pool["name"], pool["role"], pool["launch_template"]
        if role not in ("auth", "proxy"):
            module.fail_json(msg="pools: %s has role %r; it must be auth or proxy" % (name, role))
        if is_pending(name) or is_pending(template):
            groups.append(dict(name=name, role=role, launch_template_id=pending("launch-template", template),
                               instance_profile_arn=""))
            continue
        try:
            found = asg.describe_auto_scaling_groups(aws_retry=True, AutoScalingGroupNames=[name])["AutoScalingGroups"]
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="describing Auto Scaling group %s" % name)
        if not found:
            if module.check_mode:
                groups.append(dict(name=name, role=role, launch_template_id=pending("launch-template", template),
                                   instance_profile_arn=""))
                continue
            module.fail_json(msg="Auto Scaling group %s does not exist in %s: aws-pools.yml creates it (or set "
                                 "aws_pools_*_manage_asg only where the group exists)" % (name, region))
        used = group_launch_template(found[0])
        if used is None:
            module.fail_json(msg="Auto Scaling group %s in %s does not launch from a launch template (a launch "
                                 "configuration or a mixed instances policy); point it at the pool's launch "
                                 "template %s, or its instances can never join the cluster" % (name, region, template))
        try:
            versions = ec2.describe_launch_template_versions(
                aws_retry=True, LaunchTemplateId=used[0], Versions=[used[2]]
            ) if used[0] else ec2.describe_launch_template_versions(
                aws_retry=True, LaunchTemplateName=used[1], Versions=[used[2]])
        except is_boto3_error_code(["InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException"]):
            module.fail_json(msg="Auto Scaling group %s in %s launches from launch template %s, which does not "
                                 "exist" % (name, region, used[0] or used[1]))
        except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg="describing launch template %s" % (used[0] or used[1]))
        version = versions["LaunchTemplateVersions"][0]
        if version["LaunchTemplateName"] != template:
            module.fail_json(msg="Auto Scaling group %s in %s launches from launch template %s (%s), not the pool's "
                                 "%s: someone pointed it elsewhere. Point it back (aws-pools.yml does) before it "
                                 "is recorded." % (name, region, version["LaunchTemplateName"],
                                                   version["LaunchTemplateId"], template))
        profile = (version.get("LaunchTemplateData") or {}).get("IamInstanceProfile") or {}
        arn = profile.get("Arn") or ""
        if not arn and profile.get("Name"):
            try:
                arn = iam.get_instance_profile(aws_retry=True, InstanceProfileName=profile["Name"])["InstanceProfile"]["Arn"]
            except (BotoCoreError, ClientError) as e:
                module.fail_json_aws(e, msg="reading instance profile %s of launch template %s" % (profile["Name"], template))
        groups.append(dict(name=name, role=role, launch_template_id=version["LaunchTemplateId"],
                           instance_profile_arn=arn))

    record = dict(version=VERSION, cluster=p["cluster"], region=region, groups=groups)
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    try:
        have_text = ssm.get_parameter(aws_retry=True, Name=p["parameter"])["Parameter"]["Value"]
    except is_boto3_error_code("ParameterNotFound"):
        have_text = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading SSM parameter %s" % p["parameter"])
    try:
        have = json.loads(have_text) if have_text is not None else None
    except ValueError:
        have = {"unreadable": have_text}
    changed = have != record
    if changed and not module.check_mode:
        try:
            ssm.put_parameter(aws_retry=True, Name=p["parameter"], Type="String", Overwrite=True, Value=text,
                              Description="Teleport cluster %s: the Auto Scaling groups that are its pools "
                                          "(aws-pools.yml)" % p["cluster"])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="writing SSM parameter %s" % p["parameter"])
    module.exit_json(**result(changed, have, record, record=record))


if __name__ == "__main__":
    main()
