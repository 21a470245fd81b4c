#!/usr/bin/python
# -*- coding: utf-8 -*-
"""A region's Teleport Network Load Balancers with their TCP listeners.

Why not community.aws.elb_network_lb (9.x): it does not support check mode (skipped
under --check) and has no --diff; and it deletes listeners it was not given
(purge_listeners defaults to true). Here a listener that is not wanted is only reported,
unless purge_listeners is set, and nothing else is ever deleted. It takes all of a
region's NLBs at once (one module run, and one listing, instead of one per NLB).
"""

DOCUMENTATION = r"""
module: teleport_aws_nlb
short_description: Network load balancers with exactly the given attributes and listeners
description:
  - Creates each NLB when missing; its scheme cannot change in ELBv2, so a difference fails.
  - Listeners are created or modified by port; one not given is left (and warned about) unless I(purge_listeners).
  - Check mode and --diff supported; no mutating call when nothing differs.
options:
  load_balancers:
    type: list
    elements: dict
    required: true
    description:
      - NLBs with name (at most 32 characters), scheme (internet-facing or internal), subnets (one per zone),
        security_groups (ids), attributes (key to value), listeners (port, protocol default TCP, target_group_arn
        to forward to) and tags (added).
  purge_listeners: {type: bool, default: false, description: Delete listeners on ports not listed.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
load_balancers:
  description: >-
    Name to arn, dns_name and canonical_hosted_zone_id (the Route 53 zone of the DNS name, for alias records);
    placeholders in check mode for an NLB that would be created.
  type: dict
  returned: always
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import any_pending, combined, elbv2_listing, owner_conflict, pending, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def listener_view(listener):
    actions = listener.get("DefaultActions") or []
    target = actions[0].get("TargetGroupArn") if len(actions) == 1 and actions[0].get("Type") == "forward" else actions
    return {"protocol": listener["Protocol"], "target_group_arn": target}


def converge(module, elbv2, spec, current, have_tags, purge_listeners):
    """One NLB: returns (changed, before or None, after, {arn, dns_name, canonical_hosted_zone_id})."""
    name = spec["name"]
    if not name or len(name) > 32:
        module.fail_json(msg="load balancer name %r must be 1-32 characters" % name)
    scheme = spec.get("scheme")
    if scheme not in ("internet-facing", "internal"):
        module.fail_json(msg="load balancer %s: scheme %r is not internet-facing or internal" % (name, scheme))
    subnets = sorted(spec.get("subnets") or [])
    if not subnets:
        module.fail_json(msg="load balancer %s: subnets are required" % name)
    tags = {k: str(v) for k, v in (spec.get("tags") or {}).items()}
    attrs = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (spec.get("attributes") or {}).items()}
    wanted_listeners = {}
    for i, lst in enumerate(spec.get("listeners") or []):
        if lst.get("port") is None or not lst.get("target_group_arn"):
            module.fail_json(msg="load balancer %s: listeners[%d] needs port and target_group_arn" % (name, i))
        wanted_listeners[int(lst["port"])] = {"protocol": lst.get("protocol", "TCP"), "target_group_arn": lst["target_group_arn"]}
    sgs = sorted(spec.get("security_groups") or [])
    after = {"scheme": scheme, "subnets": subnets, "security_groups": sgs, "attributes": attrs,
             "listeners": wanted_listeners, "tags": tags}

    if current is None:
        if module.check_mode:
            return True, None, after, {"arn": pending("load-balancer", name), "dns_name": pending("load-balancer-dns", name),
                                       "canonical_hosted_zone_id": ""}
        try:
            current = elbv2.create_load_balancer(
                aws_retry=True, Name=name, Type="network", Scheme=scheme, Subnets=subnets,
                SecurityGroups=sgs, IpAddressType="ipv4", Tags=tag_list(tags))["LoadBalancers"][0]
            arn = current["LoadBalancerArn"]
            if attrs:
                elbv2.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn, Attributes=[
                    {"Key": k, "Value": v} for k, v in sorted(attrs.items())])
            for port, lst in sorted(wanted_listeners.items()):
                elbv2.create_listener(aws_retry=True, LoadBalancerArn=arn, Protocol=lst["protocol"], Port=port,
                                      DefaultActions=[{"Type": "forward", "TargetGroupArn": lst["target_group_arn"]}])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating load balancer %s" % name)
        return True, None, after, info(current)

    arn = current["LoadBalancerArn"]
    if current.get("Type") != "network" or current.get("Scheme") != scheme:
        module.fail_json(msg="load balancer %s exists as a %s %s load balancer, not an %s network one; ELBv2 cannot "
                             "change that: delete it or choose another aws_cluster_short_name"
                             % (name, current.get("Scheme"), current.get("Type"), scheme))
    conflict = owner_conflict(have_tags, tags, "load balancer %s" % name)
    if conflict:
        module.fail_json(msg=conflict)
    try:
        have_attrs = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
            aws_retry=True, LoadBalancerArn=arn)["Attributes"]}
        listeners = elbv2.describe_listeners(aws_retry=True, LoadBalancerArn=arn)["Listeners"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing load balancer %s" % name)
    have_listeners = {lst["Port"]: lst for lst in listeners}
    have_subnets = sorted(z["SubnetId"] for z in current.get("AvailabilityZones") or [])
    have_sgs = sorted(current.get("SecurityGroups") or [])

    subnet_change = have_subnets != subnets
    sg_change = have_sgs != sgs
    attr_change = {k: v for k, v in attrs.items() if have_attrs.get(k) != v}
    add_tags = tags_to_set(have_tags, tags)
    create = {port: lst for port, lst in wanted_listeners.items() if port not in have_listeners}
    modify = {port: lst for port, lst in wanted_listeners.items()
              if port in have_listeners and listener_view(have_listeners[port]) != lst}
    extra = sorted(set(have_listeners) - set(wanted_listeners))
    if extra and not purge_listeners:
        module.warn("load balancer %s has listeners on ports %s that are not wanted; they are left in place "
                    "(set aws_edge_purge_listeners: true to delete them)" % (name, ", ".join(map(str, extra))))
    purge = extra if purge_listeners else []
    changed = bool(subnet_change or sg_change or attr_change or add_tags or create or modify or purge)
    if changed and not module.check_mode:
        try:
            if subnet_change:
                elbv2.set_subnets(aws_retry=True, LoadBalancerArn=arn, Subnets=subnets)
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
    return changed, before, after, info(current)


def info(lb):
    return {"arn": lb["LoadBalancerArn"], "dns_name": lb["DNSName"], "canonical_hosted_zone_id": lb["CanonicalHostedZoneId"]}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(load_balancers=dict(type="list", elements="dict", required=True),
                           purge_listeners=dict(type="bool", default=False)),
        supports_check_mode=True,
    )
    specs = module.params["load_balancers"]
    if any_pending([(s.get("security_groups"), s.get("listeners")) for s in specs]) and not module.check_mode:
        module.fail_json(msg="check-mode placeholders outside check mode in security_groups or listeners")
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    names = {s.get("name") for s in specs}
    try:
        existing, tags = elbv2_listing(elbv2, "describe_load_balancers", "LoadBalancer", names)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="listing the load balancers")
    outcomes = []
    for spec in specs:
        current = existing.get(spec.get("name"))
        have_tags = tags.get(current["LoadBalancerArn"], {}) if current else {}
        outcomes.append((spec["name"], *converge(module, elbv2, spec, current, have_tags, module.params["purge_listeners"])))
    changed, lbs, diff = combined(outcomes)
    module.exit_json(changed=changed, load_balancers=lbs, diff=diff)


if __name__ == "__main__":
    main()
