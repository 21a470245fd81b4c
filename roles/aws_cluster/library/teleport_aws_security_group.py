#!/usr/bin/python
# -*- coding: utf-8 -*-
"""A VPC security group whose rules are exactly the ones given.

Why not amazon.aws.ec2_security_group: the edge's groups reference each other (the NLB's
group allows egress to the proxies' group, the proxies' group allows ingress from the
NLB's). ec2_security_group resolves a group_name reference by creating the missing group
half-way through the task, or fails ("not found and would be automatically created"), in
check mode and on a first run alike (measured with the pinned amazon.aws 9.5.2). This
module resolves references by name in the same VPC and, in check mode, to a placeholder
for a group an earlier task would create, so a --check run on an empty account shows
every rule it would write.
"""

DOCUMENTATION = r"""
module: teleport_aws_security_group
short_description: A security group in a VPC with exactly the given rules
description:
  - Creates the group if missing (name and VPC identify it) and adds missing tags (never removes tags).
  - When I(ingress) or I(egress) is given, rules not listed are revoked and missing ones authorized;
    when omitted (null), that direction is left as it is.
  - Check mode and --diff supported. No mutating call when nothing differs.
options:
  name: {type: str, required: true, description: Group name (unique in the VPC).}
  vpc_id: {type: str, required: true, description: VPC id.}
  description: {type: str, required: true, description: Group description (immutable in EC2; a difference is only warned about).}
  tags: {type: dict, default: {}, description: Tags to add.}
  ingress:
    type: list
    elements: dict
    description:
      - Rules with proto (tcp, udp or all), from_port, to_port (default from_port), and one source,
        cidr_ip (string or list) or group (a group name in the same VPC); description optional.
  egress: {type: list, elements: dict, description: Same shape as I(ingress), with the destination in cidr_ip or group.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
group_id: {description: The group id (a pending:... placeholder in check mode when it would be created), type: str, returned: always}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import (
    expand_permissions, is_pending, owner_conflict, pending, result, rule_permission, rule_text, tag_dict,
    tag_list, tags_to_set)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def flatten(rules, module, field):
    out = set()
    for i, r in enumerate(rules):
        where = "%s[%d]" % (field, i)
        proto = str(r.get("proto", "tcp")).lower()
        proto = "-1" if proto in ("all", "-1") else proto
        if proto not in ("tcp", "udp", "-1"):
            module.fail_json(msg="%s.proto: %r is not tcp, udp or all" % (where, r.get("proto")))
        if proto == "-1":
            from_port = to_port = -1
        else:
            if r.get("from_port") is None:
                module.fail_json(msg="%s.from_port is required for %s rules" % (where, proto))
            from_port = int(r["from_port"])
            to_port = int(r.get("to_port") if r.get("to_port") is not None else from_port)
        desc = r.get("description") or ""
        cidrs = r.get("cidr_ip")
        cidrs = [cidrs] if isinstance(cidrs, str) else (cidrs or [])
        group = r.get("group")
        if cidrs and group:
            module.fail_json(msg="%s: give cidr_ip or group, not both" % where)
        # A rule with an empty cidr_ip list and no group opens nothing (for example SSH
        # with no administration CIDRs configured).
        for c in cidrs:
            out.add((proto, from_port, to_port, "cidr6" if ":" in c else "cidr", c, desc))
        if group:
            out.add((proto, from_port, to_port, "group", group, desc))
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            vpc_id=dict(type="str", required=True),
            description=dict(type="str", required=True),
            tags=dict(type="dict", default={}),
            ingress=dict(type="list", elements="dict"),
            egress=dict(type="list", elements="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    wanted = {d: flatten(p[d], module, d) if p[d] is not None else None for d in ("ingress", "egress")}

    try:
        found = ec2.describe_security_groups(
            aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [p["vpc_id"]]},
                                     {"Name": "group-name", "Values": [p["name"]]}])["SecurityGroups"]
        # Referenced groups by name, in the same VPC.
        refs = sorted({r[4] for d in wanted.values() if d for r in d if r[3] == "group"} - {p["name"]})
        named = ec2.describe_security_groups(
            aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [p["vpc_id"]]},
                                     {"Name": "group-name", "Values": refs}])["SecurityGroups"] if refs else []
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing security groups %s in %s" % (p["name"], p["vpc_id"]))

    ids = {g["GroupName"]: g["GroupId"] for g in named}
    for ref in refs:
        if ref not in ids:
            if not module.check_mode:
                module.fail_json(msg="security group %s: rule references group %s, which does not exist in %s; "
                                     "create it first" % (p["name"], ref, p["vpc_id"]))
            ids[ref] = pending("security-group", ref)

    current = found[0] if found else None
    existed = current is not None
    changed = False
    if current is None:
        changed = True
        if module.check_mode:
            gid = pending("security-group", p["name"])
            have = {"ingress": set(), "egress": {("-1", -1, -1, "cidr", "0.0.0.0/0", "")}}
            have_tags = {}
        else:
            try:
                gid = ec2.create_security_group(
                    aws_retry=True, GroupName=p["name"], Description=p["description"], VpcId=p["vpc_id"],
                    TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(p["tags"])}] if p["tags"] else [],
                )["GroupId"]
                current = ec2.describe_security_groups(aws_retry=True, GroupIds=[gid])["SecurityGroups"][0]
            except (BotoCoreError, ClientError) as e:
                module.fail_json_aws(e, msg="creating security group %s in %s" % (p["name"], p["vpc_id"]))
    if current is not None:
        gid = current["GroupId"]
        have_tags = tag_dict(current.get("Tags"))
        conflict = owner_conflict(have_tags, p["tags"], "security group %s (%s)" % (p["name"], gid))
        if conflict:
            module.fail_json(msg=conflict)
        if current.get("Description") != p["description"]:
            module.warn("security group %s: description is %r, not %r; EC2 cannot change it, so it is left as is"
                        % (p["name"], current.get("Description"), p["description"]))
        names = {v: k for k, v in ids.items()}
        names[gid] = p["name"]
        have = {"ingress": expand_permissions(current.get("IpPermissions"), names),
                "egress": expand_permissions(current.get("IpPermissionsEgress"), names)}
    ids[p["name"]] = gid

    before = {"tags": have_tags}
    after = {"tags": dict(have_tags, **{k: str(v) for k, v in p["tags"].items()})}
    add_tags = tags_to_set(have_tags, p["tags"]) if existed else {}
    if add_tags:
        changed = True
        if not module.check_mode:
            try:
                ec2.create_tags(aws_retry=True, Resources=[gid], Tags=tag_list(add_tags))
            except (BotoCoreError, ClientError) as e:
                module.fail_json_aws(e, msg="tagging security group %s" % p["name"])

    for direction in ("ingress", "egress"):
        word = "from" if direction == "ingress" else "to"
        before[direction] = sorted(rule_text(r, word) for r in have[direction])
        if wanted[direction] is None:
            after[direction] = before[direction]
            continue
        after[direction] = sorted(rule_text(r, word) for r in wanted[direction])
        revoke = sorted(have[direction] - wanted[direction])
        authorize = sorted(wanted[direction] - have[direction])
        if not (revoke or authorize):
            continue
        changed = True
        if module.check_mode or is_pending(gid):
            continue
        call = {"ingress": (ec2.revoke_security_group_ingress, ec2.authorize_security_group_ingress),
                "egress": (ec2.revoke_security_group_egress, ec2.authorize_security_group_egress)}[direction]
        try:
            # Revoke first: a rule whose description changed is the same permission to EC2,
            # which refuses to authorize it twice.
            if revoke:
                call[0](aws_retry=True, GroupId=gid, IpPermissions=[rule_permission(r, ids) for r in revoke])
            if authorize:
                call[1](aws_retry=True, GroupId=gid, IpPermissions=[rule_permission(r, ids) for r in authorize])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="setting %s rules of security group %s" % (direction, p["name"]))

    module.exit_json(**result(changed, before if existed else None, after, group_id=gid, group_name=p["name"]))


if __name__ == "__main__":
    main()
