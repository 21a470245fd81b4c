#!/usr/bin/python
# -*- coding: utf-8 -*-
"""A Teleport Network Load Balancer with its TCP listeners.

Why not community.aws.elb_network_lb (9.x): it does not support check mode (skipped
under --check) and has no --diff; and it deletes listeners it was not given
(purge_listeners defaults to true). Here a listener that is not wanted is only reported,
unless purge_listeners is set, and nothing else is ever deleted.
"""

DOCUMENTATION = r"""
module: teleport_aws_nlb
short_description: A network load balancer with exactly the given attributes and listeners
description:
  - Creates the NLB when missing; its scheme cannot change in ELBv2, so a difference fails.
  - Listeners are created or modified by port; one not given is left (and warned about) unless I(purge_listeners).
  - Check mode and --diff supported; no mutating call when nothing differs.
options:
  name: {type: str, required: true, description: NLB name (at most 32 characters).}
  scheme: {type: str, required: true, choices: [internet-facing, internal], description: Scheme.}
  subnets: {type: list, elements: str, required: true, description: One subnet per zone.}
  security_groups: {type: list, elements: str, default: [], description: Security group ids of the NLB.}
  attributes: {type: dict, default: {}, description: Load balancer attributes to set.}
  listeners:
    type: list
    elements: dict
    default: []
    description: Listeners with port, protocol (default TCP) and target_group_arn (forward).
  purge_listeners: {type: bool, default: false, description: Delete listeners on ports not listed.}
  tags: {type: dict, default: {}, description: Tags to add.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
load_balancer_arn: {description: ARN (placeholder in check mode when it would be created), type: str, returned: always}
dns_name: {description: DNS name (placeholder in check mode when it would be created), type: str, returned: always}
canonical_hosted_zone_id: {description: Route 53 zone of the DNS name (for alias records), type: str, returned: always}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import any_pending, owner_conflict, pending, result, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def listener_view(listener):
    actions = listener.get("DefaultActions") or []
    target = actions[0].get("TargetGroupArn") if len(actions) == 1 and actions[0].get("Type") == "forward" else actions
    return {"protocol": listener["Protocol"], "target_group_arn": target}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            scheme=dict(type="str", required=True, choices=["internet-facing", "internal"]),
            subnets=dict(type="list", elements="str", required=True),
            security_groups=dict(type="list", elements="str", default=[]),
            attributes=dict(type="dict", default={}),
            listeners=dict(type="list", elements="dict", default=[]),
            purge_listeners=dict(type="bool", default=False),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    if len(name) > 32:
        module.fail_json(msg="load balancer name %s is longer than 32 characters" % name)
    if (any_pending(p["security_groups"]) or any_pending(p["listeners"])) and not module.check_mode:
        module.fail_json(msg="check-mode placeholders outside check mode: %s %s" % (p["security_groups"], p["listeners"]))
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    attrs = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in p["attributes"].items()}
    wanted_listeners = {}
    for i, lst in enumerate(p["listeners"]):
        if lst.get("port") is None or not lst.get("target_group_arn"):
            module.fail_json(msg="listeners[%d]: port and target_group_arn are required" % i)
        wanted_listeners[int(lst["port"])] = {"protocol": lst.get("protocol", "TCP"), "target_group_arn": lst["target_group_arn"]}
    sgs = sorted(p["security_groups"])

    try:
        current = elbv2.describe_load_balancers(aws_retry=True, Names=[name])["LoadBalancers"][0]
    except is_boto3_error_code("LoadBalancerNotFound"):
        current = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="describing load balancer %s" % name)

    after = {"scheme": p["scheme"], "subnets": sorted(p["subnets"]), "security_groups": sgs, "attributes": attrs,
             "listeners": wanted_listeners, "tags": p["tags"]}
    if current is None:
        if module.check_mode:
            module.exit_json(**result(True, None, after, load_balancer_arn=pending("load-balancer", name),
                                      dns_name=pending("load-balancer-dns", name), canonical_hosted_zone_id=""))
        try:
            current = elbv2.create_load_balancer(
                aws_retry=True, Name=name, Type="network", Scheme=p["scheme"], Subnets=p["subnets"],
                SecurityGroups=sgs, IpAddressType="ipv4", Tags=tag_list(p["tags"]))["LoadBalancers"][0]
            arn = current["LoadBalancerArn"]
            if attrs:
                elbv2.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn, Attributes=[
                    {"Key": k, "Value": v} for k, v in sorted(attrs.items())])
            for port, lst in sorted(wanted_listeners.items()):
                elbv2.create_listener(aws_retry=True, LoadBalancerArn=arn, Protocol=lst["protocol"], Port=port,
                                      DefaultActions=[{"Type": "forward", "TargetGroupArn": lst["target_group_arn"]}])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating load balancer %s" % name)
        module.exit_json(**result(True, None, after, load_balancer_arn=arn, dns_name=current["DNSName"],
                                  canonical_hosted_zone_id=current["CanonicalHostedZoneId"]))

    arn = current["LoadBalancerArn"]
    if current.get("Type") != "network" or current.get("Scheme") != p["scheme"]:
        module.fail_json(msg="load balancer %s exists as a %s %s load balancer, not an %s network one; ELBv2 cannot "
                             "change that: delete it or choose another aws_cluster_short_name"
                             % (name, current.get("Scheme"), current.get("Type"), p["scheme"]))
    try:
        have_attrs = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
            aws_retry=True, LoadBalancerArn=arn)["Attributes"]}
        have_tags = tag_dict(elbv2.describe_tags(aws_retry=True, ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
        listeners = elbv2.describe_listeners(aws_retry=True, LoadBalancerArn=arn)["Listeners"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing load balancer %s" % name)
    conflict = owner_conflict(have_tags, p["tags"], "load balancer %s" % name)
    if conflict:
        module.fail_json(msg=conflict)
    have_listeners = {lst["Port"]: lst for lst in listeners}
    have_subnets = sorted(z["SubnetId"] for z in current.get("AvailabilityZones") or [])
    have_sgs = sorted(current.get("SecurityGroups") or [])

    subnet_change = have_subnets != sorted(p["subnets"])
    sg_change = have_sgs != sgs
    attr_change = {k: v for k, v in attrs.items() if have_attrs.get(k) != v}
    add_tags = tags_to_set(have_tags, p["tags"])
    create = {port: lst for port, lst in wanted_listeners.items() if port not in have_listeners}
    modify = {port: lst for port, lst in wanted_listeners.items()
              if port in have_listeners and listener_view(have_listeners[port]) != lst}
    extra = sorted(set(have_listeners) - set(wanted_listeners))
    if extra and not p["purge_listeners"]:
        module.warn("load balancer %s has listeners on ports %s that are not wanted; they are left in place "
                    "(set aws_edge_purge_listeners: true to delete them)" % (name, ", ".join(map(str, extra))))
    purge = extra if p["purge_listeners"] else []
    changed = bool(subnet_change or sg_change or attr_change or add_tags or create or modify or purge)
    if changed and not module.check_mode:
        try:
            if subnet_change:
                elbv2.set_subnets(aws_retry=True, LoadBalancerArn=arn, Subnets=p["subnets"])
            if sg_change:
                elbv2.set_security_groups(aws_retry=True, LoadBalancerArn=arn, SecurityGroups=sgs)
            if attr_change:
                elbv2.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn, Attributes=[
                    {"Key": k, "Value": v} for k, v in sorted(attr_change.items())])
            if add_tags:
                elbv2.add_tags(aws_retry=True, ResourceArns=[arn], Tags=tag_list(add_tags))
            for port, lst in sorted(modify.items()):
                elbv2.modify_listener(aws_retry=True, ListenerArn=have_listeners[port]["ListenerArn"], Protocol=lst["protocol"],
                                      Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": lst["target_group_arn"]}])
            for port, lst in sorted(create.items()):
                elbv2.create_listener(aws_retry=True, LoadBalancerArn=arn, Protocol=lst["protocol"], Port=port,
                                      DefaultActions=[{"Type": "forward", "TargetGroupArn": lst["target_group_arn"]}])
            for port in purge:
                elbv2.delete_listener(aws_retry=True, ListenerArn=have_listeners[port]["ListenerArn"])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="updating load balancer %s" % name)
    before = {"scheme": current["Scheme"], "subnets": have_subnets, "security_groups": have_sgs,
              "attributes": {k: have_attrs.get(k) for k in attrs},
              "listeners": {port: listener_view(lst) for port, lst in sorted(have_listeners.items())}, "tags": have_tags}
    after["tags"] = dict(have_tags, **add_tags)
    after["listeners"] = dict(wanted_listeners, **({} if purge else {port: before["listeners"][port] for port in extra}))
    module.exit_json(**result(changed, before, after, load_balancer_arn=arn, dns_name=current["DNSName"],
                              canonical_hosted_zone_id=current["CanonicalHostedZoneId"]))


if __name__ == "__main__":
    main()
