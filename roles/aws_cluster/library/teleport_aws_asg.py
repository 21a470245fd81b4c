#!/usr/bin/python
# -*- coding: utf-8 -*-
"""An Auto Scaling group, managing only the fields given.

Why not amazon.aws.autoscaling_group (9.5.2): in check mode it reports "changed" for
every existing group ("Would have modified AutoScalingGroup if required"), so a --check
run after converge can never show changed=0; and target_group_arns replaces the whole
list, detaching target groups someone else attached. Here every field is optional (the
edge playbook uses the module only to attach its target groups), target groups are only
ever attached, tags only added or updated, and the group is never deleted.
"""

DOCUMENTATION = r"""
module: teleport_aws_asg
short_description: Create an Auto Scaling group or converge the fields given
description:
  - Fields left out (null) are not managed. Check mode and --diff supported; no mutating call when nothing differs.
options:
  name: {type: str, required: true, description: Group name.}
  create: {type: bool, default: true, description: Create the group when missing (else fail naming it).}
  launch_template: {type: dict, description: "name and version (default $Latest) of the launch template."}
  min_size: {type: int, description: Minimum size.}
  max_size: {type: int, description: Maximum size.}
  desired_capacity: {type: int, description: Desired capacity.}
  subnets: {type: list, elements: str, description: Subnet ids (VPCZoneIdentifier).}
  health_check_type: {type: str, choices: [EC2, ELB], description: Health check type.}
  health_check_grace_period: {type: int, description: Seconds after launch before health checks count.}
  tags: {type: dict, description: Tags added or updated, all propagated at launch; never removed.}
  target_group_arns: {type: list, elements: str, description: Target groups attached when missing; never detached.}
  lifecycle_hooks:
    type: list
    elements: dict
    description:
      - "Hooks by name: transition (launch or terminate), default_result (CONTINUE or ABANDON), heartbeat_timeout
        (30-7200 s). Given to CreateAutoScalingGroup with the group, so no instance ever launches without them; on a
        group that exists, missing or different hooks are put (instances already launching miss them). Hooks not
        listed are left alone."
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
name: {description: Group name, type: str, returned: always}
target_group_arns: {description: Target groups attached after the run, type: list, returned: always}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import any_pending, owner_conflict, result
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

TRANSITIONS = {"launch": "autoscaling:EC2_INSTANCE_LAUNCHING", "terminate": "autoscaling:EC2_INSTANCE_TERMINATING"}

SCALARS = (("min_size", "MinSize"), ("max_size", "MaxSize"), ("desired_capacity", "DesiredCapacity"),
           ("health_check_type", "HealthCheckType"), ("health_check_grace_period", "HealthCheckGracePeriod"))


def view(group):
    """The managed fields of a described group, in the module's terms."""
    lt = group.get("LaunchTemplate") or {}
    return {
        "launch_template": {"name": lt.get("LaunchTemplateName"), "version": lt.get("Version")} if lt else None,
        "min_size": group["MinSize"], "max_size": group["MaxSize"], "desired_capacity": group["DesiredCapacity"],
        "subnets": sorted(s for s in (group.get("VPCZoneIdentifier") or "").split(",") if s),
        "health_check_type": group.get("HealthCheckType"),
        "health_check_grace_period": group.get("HealthCheckGracePeriod"),
        "tags": {t["Key"]: t["Value"] for t in group.get("Tags") or []},
        "propagate": {t["Key"]: bool(t.get("PropagateAtLaunch")) for t in group.get("Tags") or []},
        "target_group_arns": sorted(group.get("TargetGroupARNs") or []),
    }


def hook_specs(hooks):
    """The wanted hooks in the API's terms, by name, checked as Auto Scaling checks them."""
    out = {}
    for h in hooks or []:
        name, transition = h.get("name"), h.get("transition")
        if transition not in TRANSITIONS:
            raise ValueError("lifecycle_hooks: %s: transition must be launch or terminate, not %r" % (name, transition))
        result_ = h.get("default_result", "ABANDON")
        if result_ not in ("CONTINUE", "ABANDON"):
            raise ValueError("lifecycle_hooks: %s: default_result must be CONTINUE or ABANDON" % name)
        timeout = int(h.get("heartbeat_timeout", 3600))
        if not 30 <= timeout <= 7200:  # PutLifecycleHook: HeartbeatTimeout 30-7200
            raise ValueError("lifecycle_hooks: %s: heartbeat_timeout must be 30-7200 s, not %d" % (name, timeout))
        out[name] = {"LifecycleHookName": name, "LifecycleTransition": TRANSITIONS[transition],
                     "DefaultResult": result_, "HeartbeatTimeout": timeout}
    return out


def hooks_to_put(client, name, wanted):
    """The wanted hooks the group lacks or has otherwise, and the group's current ones (by name)."""
    have = {h["LifecycleHookName"]: {k: h.get(k) for k in ("LifecycleHookName", "LifecycleTransition", "DefaultResult",
                                                            "HeartbeatTimeout")}
            for h in client.describe_lifecycle_hooks(aws_retry=True, AutoScalingGroupName=name)["LifecycleHooks"]}
    return [spec for hook, spec in sorted(wanted.items()) if have.get(hook) != spec], have


def put_hooks(client, name, specs):
    for spec in specs:
        client.put_lifecycle_hook(aws_retry=True, AutoScalingGroupName=name, **spec)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            create=dict(type="bool", default=True),
            launch_template=dict(type="dict"),
            min_size=dict(type="int"),
            max_size=dict(type="int"),
            desired_capacity=dict(type="int"),
            subnets=dict(type="list", elements="str"),
            health_check_type=dict(type="str", choices=["EC2", "ELB"]),
            health_check_grace_period=dict(type="int"),
            tags=dict(type="dict"),
            target_group_arns=dict(type="list", elements="str"),
            lifecycle_hooks=dict(type="list", elements="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    client = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    lt = None
    if p["launch_template"]:
        lt = {"name": p["launch_template"]["name"], "version": str(p["launch_template"].get("version") or "$Latest")}
    tags = {k: str(v) for k, v in (p["tags"] or {}).items()}
    tgs = sorted(set(p["target_group_arns"] or []))
    try:
        hooks = hook_specs(p["lifecycle_hooks"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    if any_pending(tgs) and not module.check_mode:
        module.fail_json(msg="target_group_arns holds check-mode placeholders %s outside check mode" % tgs)

    try:
        found = client.describe_auto_scaling_groups(aws_retry=True, AutoScalingGroupNames=[name])["AutoScalingGroups"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing Auto Scaling group %s" % name)

    if not found:
        if not p["create"]:
            module.fail_json(msg="Auto Scaling group %s does not exist in %s; create it (aws-pools.yml) or fix the name"
                                 % (name, module.region))
        missing = [k for k in ("launch_template", "min_size", "max_size", "subnets") if p[k] in (None, [])]
        if missing:
            module.fail_json(msg="Auto Scaling group %s does not exist; creating it needs %s" % (name, ", ".join(missing)))
        after = {"launch_template": lt, "subnets": sorted(p["subnets"]), "tags": tags, "target_group_arns": tgs}
        after.update({k: p[k] for k, _ in SCALARS if p[k] is not None})
        if not module.check_mode:
            args = dict(AutoScalingGroupName=name, MinSize=p["min_size"], MaxSize=p["max_size"],
                        LaunchTemplate={"LaunchTemplateName": lt["name"], "Version": lt["version"]},
                        VPCZoneIdentifier=",".join(p["subnets"]),
                        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": name,
                               "ResourceType": "auto-scaling-group"} for k, v in sorted(tags.items())])
            args.update({api: p[k] for k, api in SCALARS if p[k] is not None and k not in ("min_size", "max_size")})
            if tgs:
                args["TargetGroupARNs"] = tgs
            if hooks:
                # With the group, never after it: an instance launched before its hook exists is never held
                # (Auto Scaling user guide, "Add lifecycle hooks": hooks added later miss instances already launching).
                args["LifecycleHookSpecificationList"] = [dict(s) for _, s in sorted(hooks.items())]
            try:
                client.create_auto_scaling_group(aws_retry=True, **args)
                # Auto Scaling keeps the hooks given at creation; moto drops them (shared/notes): put what is
                # missing, which on AWS is nothing.
                if hooks:
                    put_hooks(client, name, hooks_to_put(client, name, hooks)[0])
            except (BotoCoreError, ClientError) as e:
                module.fail_json_aws(e, msg="creating Auto Scaling group %s" % name)
        if hooks:
            after["lifecycle_hooks"] = sorted(hooks)
        module.exit_json(**result(True, None, after, name=name, target_group_arns=tgs))

    group = found[0]
    have = view(group)
    conflict = owner_conflict(have["tags"], tags, "Auto Scaling group %s" % name)
    if conflict:
        module.fail_json(msg=conflict)
    before, after, update = {}, {}, {}
    if lt is not None and have["launch_template"] != lt:
        before["launch_template"], after["launch_template"] = have["launch_template"], lt
        update["LaunchTemplate"] = {"LaunchTemplateName": lt["name"], "Version": lt["version"]}
    if p["subnets"] is not None and have["subnets"] != sorted(p["subnets"]):
        before["subnets"], after["subnets"] = have["subnets"], sorted(p["subnets"])
        update["VPCZoneIdentifier"] = ",".join(p["subnets"])
    for key, api in SCALARS:
        if p[key] is not None and have[key] != p[key]:
            before[key], after[key] = have[key], p[key]
            update[api] = p[key]
    put_tags = {k: v for k, v in tags.items() if have["tags"].get(k) != v or not have["propagate"].get(k)}
    if put_tags:
        before["tags"] = {k: have["tags"][k] for k in put_tags if k in have["tags"]}
        after["tags"] = put_tags
    attach = [t for t in tgs if t not in have["target_group_arns"]]
    if attach:
        before["target_group_arns"] = have["target_group_arns"]
        after["target_group_arns"] = sorted(have["target_group_arns"] + attach)

    try:
        hooks_missing, hooks_have = hooks_to_put(client, name, hooks) if hooks else ([], {})
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing the lifecycle hooks of Auto Scaling group %s" % name)
    if hooks_missing:
        before["lifecycle_hooks"] = {h: hooks_have.get(h) for h in sorted(s["LifecycleHookName"] for s in hooks_missing)}
        after["lifecycle_hooks"] = {s["LifecycleHookName"]: s for s in hooks_missing}
    changed = bool(update or put_tags or attach or hooks_missing)
    if changed and not module.check_mode:
        try:
            if update:
                client.update_auto_scaling_group(aws_retry=True, AutoScalingGroupName=name, **update)
            if put_tags:
                client.create_or_update_tags(aws_retry=True, Tags=[
                    {"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": name,
                     "ResourceType": "auto-scaling-group"} for k, v in sorted(put_tags.items())])
            if attach:
                client.attach_load_balancer_target_groups(aws_retry=True, AutoScalingGroupName=name, TargetGroupARNs=attach)
            put_hooks(client, name, hooks_missing)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="updating Auto Scaling group %s" % name)
    module.exit_json(**result(changed, before, after, name=name,
                              target_group_arns=sorted(set(have["target_group_arns"]) | set(tgs))))


if __name__ == "__main__":
    main()
