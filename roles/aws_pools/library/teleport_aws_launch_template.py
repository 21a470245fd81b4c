#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The launch template of one Teleport pool: IMDSv2 required, encrypted root volume.

Why not amazon.aws.ec2_launch_template (9.5.2): against moto it created a new template
version on a second run with unchanged inputs (measured: CreateLaunchTemplateVersion and
ModifyLaunchTemplate on every run after the first), and it has no --diff. This module
builds the whole LaunchTemplateData from typed options, compares it with the latest
version, and writes a new version (made the default) only when they differ.
"""

DOCUMENTATION = r"""
module: teleport_aws_launch_template
short_description: A launch template whose latest version holds exactly the given data
description:
  - Creates the template, or a new version when the latest differs (the new version becomes the default).
  - Never deletes a template or a version. Check mode and --diff supported.
options:
  name: {type: str, required: true, description: Template name.}
  image_id: {type: str, required: true, description: "An AMI id, or resolve:ssm:PARAMETER (EC2 resolves it at each launch)."}
  instance_type: {type: str, required: true, description: Instance type.}
  security_group_ids: {type: list, elements: str, default: [], description: Security groups of the instances.}
  iam_instance_profile: {type: str, default: "", description: Instance profile name or ARN (empty for none).}
  key_name: {type: str, default: "", description: EC2 key pair (empty for none).}
  metadata_hop_limit: {type: int, default: 1, description: IMDSv2 PUT response hop limit.}
  root_device_name: {type: str, required: true, description: The AMI's root device name.}
  root_volume_size: {type: int, required: true, description: Root volume size in GiB.}
  root_volume_type: {type: str, default: gp3, description: Root volume type.}
  root_volume_kms_key_id: {type: str, default: "", description: KMS key for the root volume (empty for the account's default EBS key).}
  instance_tags: {type: dict, default: {}, description: Tags of the instances' volumes (the ASG propagates instance tags).}
  user_data:
    type: str
    default: ""
    description: "User data (plain text; sent base64), run by cloud-init at first boot. Never a secret: anyone with
      ec2:DescribeLaunchTemplateVersions reads it."
  tags: {type: dict, default: {}, description: Tags of the template itself (added, never removed).}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
launch_template_id: {description: Template id (a placeholder in check mode when it would be created), type: str, returned: always}
latest_version: {description: Latest version number after the run, type: int, returned: always}
"""

import base64

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import any_pending, owner_conflict, pending, result, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def template_data(p):
    ebs = {"Encrypted": True, "DeleteOnTermination": True, "VolumeSize": p["root_volume_size"],
           "VolumeType": p["root_volume_type"]}
    if p["root_volume_kms_key_id"]:
        ebs["KmsKeyId"] = p["root_volume_kms_key_id"]
    data = {
        "ImageId": p["image_id"],
        "InstanceType": p["instance_type"],
        # IMDSv2 only: a stolen SSRF cannot read the instance role's credentials with a
        # plain GET. Teleport's IAM join and the inventory use IMDS, so it stays enabled.
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled",
                            "HttpPutResponseHopLimit": p["metadata_hop_limit"]},
        "BlockDeviceMappings": [{"DeviceName": p["root_device_name"], "Ebs": ebs}],
    }
    if p["security_group_ids"]:
        data["SecurityGroupIds"] = sorted(p["security_group_ids"])
    if p["iam_instance_profile"]:
        key = "Arn" if p["iam_instance_profile"].startswith("arn:") else "Name"
        data["IamInstanceProfile"] = {key: p["iam_instance_profile"]}
    if p["key_name"]:
        data["KeyName"] = p["key_name"]
    if p["user_data"]:
        data["UserData"] = base64.b64encode(p["user_data"].encode()).decode()
    if p["instance_tags"]:
        data["TagSpecifications"] = [{"ResourceType": "volume", "Tags": tag_list(p["instance_tags"])}]
    return data


def canonical(data):
    """Data as compared: security groups and tags in a stable order."""
    data = dict(data)
    if "SecurityGroupIds" in data:
        data["SecurityGroupIds"] = sorted(data["SecurityGroupIds"])
    if "TagSpecifications" in data:
        # moto copies CreateLaunchTemplate's own tags into the version's data as a
        # "launch-template" entry; EC2 does not, and refuses that type inside
        # LaunchTemplateData, so such an entry is never ours to compare.
        specs = [{"ResourceType": t["ResourceType"], "Tags": sorted(t.get("Tags", []), key=lambda x: x["Key"])}
                 for t in data["TagSpecifications"] if t.get("ResourceType") != "launch-template"]
        data["TagSpecifications"] = sorted(specs, key=lambda t: t["ResourceType"])
        if not specs:
            del data["TagSpecifications"]
    return data


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            image_id=dict(type="str", required=True),
            instance_type=dict(type="str", required=True),
            security_group_ids=dict(type="list", elements="str", default=[]),
            iam_instance_profile=dict(type="str", default=""),
            key_name=dict(type="str", default=""),
            metadata_hop_limit=dict(type="int", default=1),
            root_device_name=dict(type="str", required=True),
            root_volume_size=dict(type="int", required=True),
            root_volume_type=dict(type="str", default="gp3"),
            root_volume_kms_key_id=dict(type="str", default="", no_log=False),
            instance_tags=dict(type="dict", default={}),
            tags=dict(type="dict", default={}),
            user_data=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    if any_pending(p["security_group_ids"]) and not module.check_mode:
        module.fail_json(msg="security_group_ids holds check-mode placeholders outside check mode")
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    wanted = canonical(template_data(p))

    try:
        current = ec2.describe_launch_templates(aws_retry=True, LaunchTemplateNames=[name])["LaunchTemplates"][0]
    except is_boto3_error_code("InvalidLaunchTemplateName.NotFoundException"):
        current = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="describing launch template %s" % name)

    if current is None:
        if module.check_mode:
            module.exit_json(**result(True, None, {"version": 1, "data": wanted},
                                      launch_template_id=pending("launch-template", name), latest_version=1))
        try:
            made = ec2.create_launch_template(
                aws_retry=True, LaunchTemplateName=name, LaunchTemplateData=wanted,
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list(p["tags"])}] if p["tags"] else [],
            )["LaunchTemplate"]
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating launch template %s" % name)
        module.exit_json(**result(True, None, {"version": 1, "data": wanted},
                                  launch_template_id=made["LaunchTemplateId"], latest_version=1))

    conflict = owner_conflict(tag_dict(current.get("Tags")), p["tags"], "launch template %s" % name)
    if conflict:
        module.fail_json(msg=conflict)
    latest = current["LatestVersionNumber"]
    try:
        version = ec2.describe_launch_template_versions(
            aws_retry=True, LaunchTemplateName=name, Versions=[str(latest)])["LaunchTemplateVersions"][0]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing version %s of launch template %s" % (latest, name))
    have = canonical(version.get("LaunchTemplateData") or {})
    add_tags = tags_to_set(tag_dict(current.get("Tags")), p["tags"])
    changed = have != wanted or bool(add_tags)
    new_version = latest
    if changed and not module.check_mode:
        try:
            if have != wanted:
                new_version = ec2.create_launch_template_version(
                    aws_retry=True, LaunchTemplateName=name, LaunchTemplateData=wanted,
                    VersionDescription="written by aws-pools.yml")["LaunchTemplateVersion"]["VersionNumber"]
                # The ASGs launch $Latest; the default follows so that a console or CLI
                # launch from the template gets the same instance.
                ec2.modify_launch_template(aws_retry=True, LaunchTemplateName=name, DefaultVersion=str(new_version))
            if add_tags:
                ec2.create_tags(aws_retry=True, Resources=[current["LaunchTemplateId"]], Tags=tag_list(add_tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="writing a new version of launch template %s" % name)
    elif have != wanted:
        new_version = latest + 1
    module.exit_json(**result(changed, {"version": latest, "data": have, "tags": tag_dict(current.get("Tags"))},
                              {"version": new_version, "data": wanted,
                               "tags": dict(tag_dict(current.get("Tags")), **add_tags)},
                              launch_template_id=current["LaunchTemplateId"], latest_version=new_version))


if __name__ == "__main__":
    main()
