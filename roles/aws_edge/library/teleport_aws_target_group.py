#!/usr/bin/python
# -*- coding: utf-8 -*-
"""A TCP target group of a Teleport NLB with an HTTP health check and its attributes.

Why not community.aws.elb_target_group (9.x): it does not support check mode (Ansible
skips it under --check, so a check run cannot show what would change) and has no
--diff. This module compares the health check, the attributes given and the tags, and
calls ModifyTargetGroup / ModifyTargetGroupAttributes / AddTags only for what differs.
"""

DOCUMENTATION = r"""
module: teleport_aws_target_group
short_description: A TCP instance target group with exactly the given health check and attributes
description:
  - Creates the group when missing; port, protocol, VPC and target type cannot change in ELBv2, so a difference fails.
  - Only the attributes given are managed. Tags are added, never removed. Never deletes. Check mode and --diff supported.
options:
  name: {type: str, required: true, description: Target group name (at most 32 characters).}
  vpc_id: {type: str, required: true, description: VPC of the targets.}
  port: {type: int, required: true, description: Traffic port on the instances.}
  protocol: {type: str, default: TCP, choices: [TCP, TLS, UDP, TCP_UDP], description: Protocol.}
  health_check:
    type: dict
    required: true
    description: protocol (HTTP, HTTPS or TCP), port, path, matcher (HTTP codes), interval, timeout, healthy_threshold, unhealthy_threshold.
  attributes: {type: dict, default: {}, description: Target group attributes (key to value) to set.}
  tags: {type: dict, default: {}, description: Tags to add.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
target_group_arn: {description: ARN (a pending:... placeholder in check mode when it would be created), type: str, returned: always}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import owner_conflict, pending, result, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

HEALTH = (("protocol", "HealthCheckProtocol"), ("port", "HealthCheckPort"), ("path", "HealthCheckPath"),
          ("interval", "HealthCheckIntervalSeconds"), ("timeout", "HealthCheckTimeoutSeconds"),
          ("healthy_threshold", "HealthyThresholdCount"), ("unhealthy_threshold", "UnhealthyThresholdCount"))


def wanted_health(hc):
    out = {"HealthCheckEnabled": True}
    for key, api in HEALTH:
        if hc.get(key) is not None:
            out[api] = str(hc[key]) if api == "HealthCheckPort" else hc[key]
    if hc.get("protocol", "TCP").upper() == "TCP":
        out.pop("HealthCheckPath", None)
    elif hc.get("matcher") is not None:
        out["Matcher"] = {"HttpCode": str(hc["matcher"])}
    for api in ("HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount"):
        if api in out:
            out[api] = int(out[api])
    out["HealthCheckProtocol"] = out.get("HealthCheckProtocol", "TCP").upper()
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            vpc_id=dict(type="str", required=True),
            port=dict(type="int", required=True),
            protocol=dict(type="str", default="TCP", choices=["TCP", "TLS", "UDP", "TCP_UDP"]),
            health_check=dict(type="dict", required=True),
            attributes=dict(type="dict", default={}),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    if len(name) > 32:
        module.fail_json(msg="target group name %s is longer than 32 characters" % name)
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    health = wanted_health(p["health_check"])
    attrs = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in p["attributes"].items()}

    try:
        current = elbv2.describe_target_groups(aws_retry=True, Names=[name])["TargetGroups"][0]
    except is_boto3_error_code("TargetGroupNotFound"):
        current = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="describing target group %s" % name)

    after = {"port": p["port"], "protocol": p["protocol"], "vpc_id": p["vpc_id"], "health_check": health,
             "attributes": attrs, "tags": p["tags"]}
    if current is None:
        if module.check_mode:
            module.exit_json(**result(True, None, after, target_group_arn=pending("target-group", name)))
        try:
            arn = elbv2.create_target_group(
                aws_retry=True, Name=name, Protocol=p["protocol"], Port=p["port"], VpcId=p["vpc_id"],
                TargetType="instance", Tags=tag_list(p["tags"]), **health)["TargetGroups"][0]["TargetGroupArn"]
            if attrs:
                elbv2.modify_target_group_attributes(aws_retry=True, TargetGroupArn=arn, Attributes=[
                    {"Key": k, "Value": v} for k, v in sorted(attrs.items())])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating target group %s" % name)
        module.exit_json(**result(True, None, after, target_group_arn=arn))

    arn = current["TargetGroupArn"]
    fixed = {"Port": p["port"], "Protocol": p["protocol"], "VpcId": p["vpc_id"], "TargetType": "instance"}
    wrong = ["%s is %s, not %s" % (k, current.get(k), v) for k, v in fixed.items() if current.get(k) != v]
    if wrong:
        module.fail_json(msg="target group %s exists but %s; ELBv2 cannot change that: delete it (after detaching it) "
                             "or choose another aws_cluster_short_name" % (name, "; ".join(wrong)))
    try:
        have_attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
            aws_retry=True, TargetGroupArn=arn)["Attributes"]}
        have_tags = tag_dict(elbv2.describe_tags(aws_retry=True, ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing target group %s" % name)
    conflict = owner_conflict(have_tags, p["tags"], "target group %s" % name)
    if conflict:
        module.fail_json(msg=conflict)

    have_health = {k: current.get(k) for k in health}
    health_change = {k: v for k, v in health.items() if have_health.get(k) != v}
    attr_change = {k: v for k, v in attrs.items() if have_attrs.get(k) != v}
    add_tags = tags_to_set(have_tags, p["tags"])
    changed = bool(health_change or attr_change or add_tags)
    if changed and not module.check_mode:
        try:
            if health_change:
                elbv2.modify_target_group(aws_retry=True, TargetGroupArn=arn, **health)
            if attr_change:
                elbv2.modify_target_group_attributes(aws_retry=True, TargetGroupArn=arn, Attributes=[
                    {"Key": k, "Value": v} for k, v in sorted(attr_change.items())])
            if add_tags:
                elbv2.add_tags(aws_retry=True, ResourceArns=[arn], Tags=tag_list(add_tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="updating target group %s" % name)
    before = {"port": current["Port"], "protocol": current["Protocol"], "vpc_id": current["VpcId"],
              "health_check": have_health, "attributes": {k: have_attrs.get(k) for k in attrs}, "tags": have_tags}
    after["tags"] = dict(have_tags, **add_tags)
    module.exit_json(**result(changed, before, after, target_group_arn=arn))


if __name__ == "__main__":
    main()
