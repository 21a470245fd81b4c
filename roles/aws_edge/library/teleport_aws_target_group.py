#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The TCP target groups of a region's Teleport NLBs, health checks and attributes.

Why not community.aws.elb_target_group (9.x): it does not support check mode (Ansible
skips it under --check, so a check run cannot show what would change) and has no
--diff. This module compares the health check, the attributes given and the tags, and
calls ModifyTargetGroup / ModifyTargetGroupAttributes / AddTags only for what differs.
It takes all of a region's target groups at once (one module run instead of one per
group: each run costs about 0.7 s of interpreter and SDK start-up).
"""

DOCUMENTATION = r"""
module: teleport_aws_target_group
short_description: TCP instance target groups with exactly the given health check and attributes
description:
  - Creates each group when missing; port, protocol, VPC and target type cannot change in ELBv2, so a difference fails.
  - Only the attributes given are managed. Tags are added, never removed. Never deletes. Check mode and --diff supported.
options:
  vpc_id: {type: str, required: true, description: VPC of the targets.}
  target_groups:
    type: list
    elements: dict
    required: true
    description:
      - Groups with name (at most 32 characters), port (traffic port on the instances), protocol (default TCP),
        health_check (protocol HTTP, HTTPS or TCP, port, path, matcher, interval, timeout, healthy_threshold,
        unhealthy_threshold), attributes (key to value) and tags (added).
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
target_group_arns: {description: Name to ARN (a pending:... placeholder in check mode when it would be created), type: dict, returned: always}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import combined, elbv2_listing, owner_conflict, pending, tag_list, tags_to_set
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


def converge(module, elbv2, vpc_id, spec, existing, existing_tags):
    """One group: returns (changed, before or None, after, arn)."""
    name = spec["name"]
    if not name or len(name) > 32:
        module.fail_json(msg="target group name %r must be 1-32 characters" % name)
    protocol = spec.get("protocol") or "TCP"
    port = int(spec["port"])
    tags = {k: str(v) for k, v in (spec.get("tags") or {}).items()}
    health = wanted_health(spec["health_check"])
    attrs = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (spec.get("attributes") or {}).items()}
    current = existing.get(name)
    after = {"port": port, "protocol": protocol, "vpc_id": vpc_id, "health_check": health, "attributes": attrs, "tags": tags}
    if current is None:
        if module.check_mode:
            return True, None, after, pending("target-group", name)
        try:
            arn = elbv2.create_target_group(
                aws_retry=True, Name=name, Protocol=protocol, Port=port, VpcId=vpc_id,
                TargetType="instance", Tags=tag_list(tags), **health)["TargetGroups"][0]["TargetGroupArn"]
            if attrs:
                elbv2.modify_target_group_attributes(aws_retry=True, TargetGroupArn=arn, Attributes=[
                    {"Key": k, "Value": v} for k, v in sorted(attrs.items())])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating target group %s" % name)
        return True, None, after, arn

    arn = current["TargetGroupArn"]
    fixed = {"Port": port, "Protocol": protocol, "VpcId": vpc_id, "TargetType": "instance"}
    wrong = ["%s is %s, not %s" % (k, current.get(k), v) for k, v in fixed.items() if current.get(k) != v]
    if wrong:
        module.fail_json(msg="target group %s exists but %s; ELBv2 cannot change that: delete it (after detaching it) "
                             "or choose another aws_cluster_short_name" % (name, "; ".join(wrong)))
    try:
        have_attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
            aws_retry=True, TargetGroupArn=arn)["Attributes"]}
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing target group %s" % name)
    have_tags = existing_tags.get(arn, {})
    conflict = owner_conflict(have_tags, tags, "target group %s" % name)
    if conflict:
        module.fail_json(msg=conflict)

    have_health = {k: current.get(k) for k in health}
    health_change = {k: v for k, v in health.items() if have_health.get(k) != v}
    attr_change = {k: v for k, v in attrs.items() if have_attrs.get(k) != v}
    add_tags = tags_to_set(have_tags, tags)
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
    return changed, before, after, arn


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(vpc_id=dict(type="str", required=True),
                           target_groups=dict(type="list", elements="dict", required=True)),
        supports_check_mode=True,
    )
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    specs = module.params["target_groups"]
    for i, spec in enumerate(specs):
        for key in ("name", "port", "health_check"):
            if spec.get(key) in (None, ""):
                module.fail_json(msg="target_groups[%d].%s is required" % (i, key))
    # The region's groups in a few calls rather than three per group.
    try:
        existing, existing_tags = elbv2_listing(elbv2, "describe_target_groups", "TargetGroup", {spec["name"] for spec in specs})
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="listing the target groups")
    changed, arns, diff = combined(
        (spec["name"], *converge(module, elbv2, module.params["vpc_id"], spec, existing, existing_tags)) for spec in specs)
    module.exit_json(changed=changed, target_group_arns=arns, diff=diff)


if __name__ == "__main__":
    main()
