#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The security groups of one VPC, each with exactly the rules given.

Why not amazon.aws.ec2_security_group (9.5.2): the edge's groups reference each other
(the NLB's group allows egress to the proxies' group, the proxies' group allows ingress
from the NLB's). ec2_security_group resolves a group_name reference by creating the
missing group half-way through the task, or fails ("not found and would be
automatically created"), on a first run and in check mode alike (measured). This module
takes all the groups of a VPC at once: it creates the missing ones first, then writes
every group's rules, resolving references by name; in check mode a group it would
create is referenced by a placeholder, so a --check run on an empty account shows every
rule it would write. One module run per VPC also keeps a run fast.
"""

DOCUMENTATION = r"""
module: teleport_aws_security_group
short_description: Security groups of a VPC with exactly the given rules
description:
  - Creates each group if missing (name and VPC identify it) and adds missing tags (never removes tags).
  - When a group's I(ingress) or I(egress) is given, missing rules are authorized and the module's own rules that
    are no longer listed are revoked; when omitted (null), that direction is left as it is. Never deletes a group.
  - Its own rules carry I(rule_marker) at the end of their description. A rule without it whose description is one
    this run writes (a rule written before the marker existed) is adopted (its description updated in place, no
    revoke). Every other rule (a bastion, another team's scraper, added by hand) is left alone, unless
    I(purge_rules); so is AWS's default egress rule, unless the group's egress is given.
  - Check mode and --diff supported. No mutating call when nothing differs.
options:
  vpc_id: {type: str, required: true, description: VPC id.}
  rule_marker: {type: str, default: teleport-ha, description: "Marks the rules this module owns: their descriptions end in ' [rule_marker]'."}
  purge_rules: {type: bool, default: false, description: Revoke every rule not listed (also those added by hand).}
  groups:
    type: list
    elements: dict
    required: true
    description:
      - Groups with name, description (immutable in EC2; a difference is only warned about), tags, ingress, egress.
      - Rules have proto (tcp, udp or all; default tcp), from_port, to_port (default from_port), description, and one
        source or destination, cidr_ip (string or list; an empty list makes the rule open nothing) or group (a group
        name in the same VPC, possibly one of I(groups)).
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
group_ids: {description: Group name to id (a pending:... placeholder in check mode when it would be created), type: dict, returned: always}
"""

import re

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import expand_permissions, owner_conflict, pending, rule_permission, rule_text, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def flatten(rules, module, where):
    out = set()
    for i, r in enumerate(rules):
        at = "%s[%d]" % (where, i)
        proto = str(r.get("proto", "tcp")).lower()
        proto = "-1" if proto in ("all", "-1") else proto
        if proto not in ("tcp", "udp", "-1"):
            module.fail_json(msg="%s.proto: %r is not tcp, udp or all" % (at, r.get("proto")))
        if proto == "-1":
            from_port = to_port = -1
        else:
            if r.get("from_port") is None:
                module.fail_json(msg="%s.from_port is required for %s rules" % (at, proto))
            from_port = int(r["from_port"])
            to_port = int(r.get("to_port") if r.get("to_port") is not None else from_port)
        desc = r.get("description") or ""
        cidrs = r.get("cidr_ip")
        cidrs = [cidrs] if isinstance(cidrs, str) else (cidrs or [])
        group = r.get("group")
        if cidrs and group:
            module.fail_json(msg="%s: give cidr_ip or group, not both" % at)
        # A rule with an empty cidr_ip list and no group opens nothing (for example SSH
        # with no administration CIDRs configured).
        for c in cidrs:
            out.add((proto, from_port, to_port, "cidr6" if ":" in c else "cidr", c, desc))
        if group:
            out.add((proto, from_port, to_port, "group", group, desc))
    return out


# EC2's characters for a rule description (AuthorizeSecurityGroupIngress: IpRange.Description).
DESCRIPTION_CHARS = re.compile(r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*\Z")
DEFAULT_EGRESS = {("-1", -1, -1, "cidr", "0.0.0.0/0"), ("-1", -1, -1, "cidr6", "::/0")}


def mark(rules, marker):
    """The rules as this module writes them: each description ends in the marker."""
    return {r[:5] + ((r[5] + " " if r[5] else "") + marker,) for r in rules}


def plan(have, want, marker, purge, direction):
    """(revoke, authorize, describe, foreign) for one direction of one group: the module's own rules no longer
    wanted, the wanted permissions EC2 does not have, the own rules whose description is to be updated
    ((old, new) pairs), and the rules left alone because they are not the module's. EC2 identifies a
    permission without its description, so a key is the rule without it."""
    legacy = {r[5].rsplit(" " + marker, 1)[0] for r in want} - {""}

    def ours(r):
        return (purge or r[5] == marker or r[5].endswith(" " + marker) or r[5] in legacy
                or (direction == "egress" and r[:5] in DEFAULT_EGRESS and r[5] == ""))

    own = {r for r in have if ours(r)}
    foreign = have - own
    wanted = {r[:5]: r for r in want}
    have_keys = {r[:5] for r in have}
    revoke = sorted(r for r in own if r[:5] not in wanted)
    describe = sorted((r, wanted[r[:5]]) for r in own if r[:5] in wanted and r != wanted[r[:5]])
    authorize = sorted(r for r in want if r[:5] not in have_keys)
    return revoke, authorize, describe, foreign


def describe(ec2, vpc_id, names):
    if not names:
        return []
    return ec2.describe_security_groups(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                                 {"Name": "group-name", "Values": sorted(names)}])["SecurityGroups"]


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(vpc_id=dict(type="str", required=True), groups=dict(type="list", elements="dict", required=True),
                           rule_marker=dict(type="str", default="teleport-ha"), purge_rules=dict(type="bool", default=False)),
        supports_check_mode=True,
    )
    vpc_id = module.params["vpc_id"]
    marker = "[%s]" % module.params["rule_marker"]
    if not re.match(r"^[A-Za-z0-9._-]{1,40}\Z", module.params["rule_marker"]):
        module.fail_json(msg="rule_marker: %r must be 1 to 40 letters, digits, '.', '_' or '-'" % module.params["rule_marker"])
    specs = module.params["groups"]
    for i, g in enumerate(specs):
        if not g.get("name") or not g.get("description"):
            module.fail_json(msg="groups[%d]: name and description are required" % i)
    names = [g["name"] for g in specs]
    if len(set(names)) != len(names):
        module.fail_json(msg="groups: a name is given twice: %s" % names)
    wanted = {g["name"]: {d: mark(flatten(g[d], module, "%s.%s" % (g["name"], d)), marker) if g.get(d) is not None else None
                          for d in ("ingress", "egress")} for g in specs}
    for name, w in wanted.items():
        for d, rules in w.items():
            for r in rules or ():
                if len(r[5]) > 255 or not DESCRIPTION_CHARS.match(r[5]):
                    module.fail_json(msg="%s.%s: the description %r (with its marker) is not one EC2 accepts: at most 255"
                                         " of letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*" % (name, d, r[5]))
    refs = {r[4] for w in wanted.values() for rules in w.values() if rules for r in rules if r[3] == "group"}
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())

    try:
        found = {g["GroupName"]: g for g in describe(ec2, vpc_id, set(names) | refs)}
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="describing security groups in %s" % vpc_id)
    missing_refs = sorted(refs - set(names) - set(found))
    if missing_refs:
        module.fail_json(msg="rules reference security groups %s, which do not exist in %s; create them first"
                             % (", ".join(missing_refs), vpc_id))

    changed = False
    existed = set(found)
    ids = {n: g["GroupId"] for n, g in found.items()}
    # 1. Every missing group first, so that the rules below can reference any of them.
    for g in specs:
        if g["name"] in found:
            continue
        changed = True
        if module.check_mode:
            ids[g["name"]] = pending("security-group", g["name"])
            continue
        try:
            gid = ec2.create_security_group(
                aws_retry=True, GroupName=g["name"], Description=g["description"], VpcId=vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(g.get("tags"))}] if g.get("tags") else [],
            )["GroupId"]
            found[g["name"]] = ec2.describe_security_groups(aws_retry=True, GroupIds=[gid])["SecurityGroups"][0]
            ids[g["name"]] = gid
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating security group %s in %s" % (g["name"], vpc_id))
    names_by_id = {v: k for k, v in ids.items()}

    # 2. Tags and rules of each group.
    before, after = {}, {}
    for g in specs:
        name, tags = g["name"], {k: str(v) for k, v in (g.get("tags") or {}).items()}
        current = found.get(name)
        if current is None:  # check mode, would be created with AWS's default egress rule
            have_tags, have = {}, {"ingress": set(), "egress": {("-1", -1, -1, "cidr", "0.0.0.0/0", "")}}
        else:
            have_tags = tag_dict(current.get("Tags"))
            conflict = owner_conflict(have_tags, tags, "security group %s (%s)" % (name, current["GroupId"]))
            if conflict:
                module.fail_json(msg=conflict)
            if current.get("Description") != g["description"]:
                module.warn("security group %s: description is %r, not %r; EC2 cannot change it, so it is left as is"
                            % (name, current.get("Description"), g["description"]))
            have = {"ingress": expand_permissions(current.get("IpPermissions"), names_by_id),
                    "egress": expand_permissions(current.get("IpPermissionsEgress"), names_by_id)}
        b = {"group_id": ids[name], "tags": have_tags}
        a = {"group_id": ids[name], "tags": dict(have_tags, **tags)}
        add_tags = tags_to_set(have_tags, tags) if name in existed else {}
        if add_tags:
            changed = True
            if not module.check_mode:
                try:
                    ec2.create_tags(aws_retry=True, Resources=[ids[name]], Tags=tag_list(add_tags))
                except (BotoCoreError, ClientError) as e:
                    module.fail_json_aws(e, msg="tagging security group %s" % name)
        for direction in ("ingress", "egress"):
            word = "from" if direction == "ingress" else "to"
            b[direction] = sorted(rule_text(r, word) for r in have[direction])
            want = wanted[name][direction]
            if want is None:
                a[direction] = b[direction]
                continue
            revoke, authorize, redescribe, foreign = plan(have[direction], want, marker, module.params["purge_rules"], direction)
            a[direction] = sorted(rule_text(r, word) for r in want | foreign)
            for r in sorted(foreign):
                if r[:5] in {w[:5] for w in want}:
                    module.warn("security group %s: %s is also a rule not made here (%r); it is left as it is"
                                % (name, rule_text(r[:5] + ("",), word), r[5]))
            if not (revoke or authorize or redescribe):
                continue
            changed = True
            if module.check_mode:
                continue
            revoke_call, authorize_call, describe_call = {
                "ingress": (ec2.revoke_security_group_ingress, ec2.authorize_security_group_ingress,
                            ec2.update_security_group_rule_descriptions_ingress),
                "egress": (ec2.revoke_security_group_egress, ec2.authorize_security_group_egress,
                           ec2.update_security_group_rule_descriptions_egress)}[direction]
            try:
                # A rule whose description changed is the same permission to EC2: its description is updated in
                # place, so the permission never lapses.
                if redescribe:
                    describe_call(aws_retry=True, GroupId=ids[name], IpPermissions=[rule_permission(new, ids) for _, new in redescribe])
                if revoke:
                    revoke_call(aws_retry=True, GroupId=ids[name], IpPermissions=[rule_permission(r, ids) for r in revoke])
                if authorize:
                    authorize_call(aws_retry=True, GroupId=ids[name], IpPermissions=[rule_permission(r, ids) for r in authorize])
            except (BotoCoreError, ClientError) as e:
                module.fail_json_aws(e, msg="setting %s rules of security group %s" % (direction, name))
        if name in existed:
            before[name] = b
        after[name] = a
    module.exit_json(changed=changed, group_ids=ids, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
