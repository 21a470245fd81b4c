# -*- coding: utf-8 -*-
"""Shared helpers of the teleport_aws_* modules (roles aws_cluster, aws_pools, aws_edge).

Mostly pure functions, so tests/aws/ can unit-test them directly: check-mode
placeholders, tags, result/diff shaping, Route 53 record normalisation and change
planning. elbv2_listing() alone takes a client.
"""
import re

# In check mode a resource that a task before would create has no id yet. That task
# returns a placeholder instead, and a later module given one knows the resource is
# "created by this run": it reports a change for it and never sends it to AWS.
PENDING = "pending:"


def pending(kind, name):
    return "%s%s/%s" % (PENDING, kind, name)


def is_pending(value):
    return isinstance(value, str) and value.startswith(PENDING)


def any_pending(values):
    if isinstance(values, dict):
        return any(any_pending(v) for v in values.values())
    if isinstance(values, (list, tuple)):
        return any(any_pending(v) for v in values)
    return is_pending(values)


def tag_list(tags, key="Key", value="Value"):
    return [{key: k, value: str(v)} for k, v in sorted((tags or {}).items())]


def tag_dict(tags, key="Key", value="Value"):
    return {t[key]: t[value] for t in tags or []}


def tags_to_set(current, wanted):
    """Tags to add or change so that current contains wanted; never removes a tag
    (tags someone else set are theirs)."""
    return {k: str(v) for k, v in (wanted or {}).items() if current.get(k) != str(v)}


def owner_conflict(current_tags, wanted_tags, what, key="TeleportCluster"):
    """A message when an existing resource with our name belongs to another cluster.

    Names are deterministic, so a resource with the name but another cluster's tag is
    not ours to change; one without the tag (made by hand, or by a run interrupted
    before tagging) is adopted and tagged."""
    have, want = current_tags.get(key), (wanted_tags or {}).get(key)
    if have is not None and want is not None and have != want:
        return ("%s already exists with %s=%s, not %s: it belongs to another cluster. Rename it, or set "
                "aws_cluster_short_name so this cluster's names differ." % (what, key, have, want))
    return None


def result(changed, before, after, **facts):
    """A module result with a --diff that shows only what the module manages."""
    out = dict(changed=changed, **facts)
    out["diff"] = {"before": before if before is not None else {}, "after": after}
    return out


def combined(outcomes):
    """One module result from several resources' (name, changed, before or None, after, id):
    (changed, {name: id}, diff with the resources keyed by name, new ones only after)."""
    changed, ids, before, after = False, {}, {}, {}
    for name, one_changed, b, a, ident in outcomes:
        changed = changed or one_changed
        if b is not None:
            before[name] = b
        after[name] = a
        ids[name] = ident
    return changed, ids, {"before": before, "after": after}


def elbv2_listing(elbv2, operation, kind, names=None):
    """A region's load balancers or target groups (operation describe_load_balancers or
    describe_target_groups, kind "LoadBalancer" or "TargetGroup"), by name, with their tags.

    Listing beats describing by name: ELBv2 fails a by-name call as a whole when one name
    is missing. Tags are read 20 ARNs at a time (DescribeTags' limit).
    Returns {name: resource} and {arn: tags}; names=None keeps every resource."""
    found = {}
    for page in elbv2.get_paginator(operation).paginate():
        for item in page[kind + "s"]:
            if names is None or item[kind + "Name"] in names:
                found[item[kind + "Name"]] = item
    arns = [item[kind + "Arn"] for item in found.values()]
    tags = {}
    for i in range(0, len(arns), 20):
        for d in elbv2.describe_tags(aws_retry=True, ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            tags[d["ResourceArn"]] = tag_dict(d.get("Tags"))
    return found, tags


# --- Route 53 ---------------------------------------------------------------------------

_OCTAL = re.compile(r"\\([0-7]{3})")


def dns_name(name):
    """The comparable form of a DNS name as Route 53 returns it or as we write it.

    Route 53 returns names fully qualified (trailing dot), lower case for ASCII, and with
    characters outside [a-z0-9-_.] as \\ooo octal escapes: the wildcard label of
    "*.teleport.example.com" comes back as "\\052.teleport.example.com." (moto returns a
    literal "*"). Both forms must compare equal, or every run would "change" the wildcard.
    """
    name = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), str(name))
    return name.rstrip(".").lower()


def record_key(rrset):
    return (dns_name(rrset["Name"]), rrset["Type"], rrset.get("SetIdentifier", ""))


def record_view(rrset):
    """What we compare between the record Route 53 holds and the one we want."""
    view = {"name": dns_name(rrset["Name"]), "type": rrset["Type"]}
    for src, dst in (("SetIdentifier", "set_identifier"), ("Region", "region"), ("TTL", "ttl"),
                     ("HealthCheckId", "health_check_id"), ("Failover", "failover"), ("Weight", "weight"),
                     ("MultiValueAnswer", "multivalue"), ("GeoLocation", "geolocation"),
                     ("CidrRoutingConfig", "cidr_routing")):
        if rrset.get(src) not in (None, ""):
            view[dst] = rrset[src]
    if rrset.get("ResourceRecords"):
        view["values"] = sorted(dns_value(r["Value"], rrset["Type"]) for r in rrset["ResourceRecords"])
    alias = rrset.get("AliasTarget")
    if alias:
        view["alias"] = {"dns_name": dns_name(alias["DNSName"]).removeprefix("dualstack."),
                         "hosted_zone_id": alias["HostedZoneId"],
                         "evaluate_target_health": bool(alias.get("EvaluateTargetHealth"))}
    return view


def dns_value(value, rtype):
    # Names inside CNAME/ALIAS values are case-insensitive and come back with or without
    # the trailing dot; other values (TXT, A) are compared as written.
    return dns_name(value) if rtype in ("CNAME", "NS", "PTR") else value


def plan_record_changes(current, desired, absent):
    """The change batch that turns current into desired, removing absent.

    current: record sets as ListResourceRecordSets returns them (only those whose names
      we manage need be given).
    desired: record sets in API form (ResourceRecordSet dicts).
    absent: (name, type, set_identifier) keys to remove when present.

    Only what differs is sent: a missing or different record as UPSERT (it converges
    whatever appeared since the read), an absent one as DELETE exactly as Route 53 holds
    it. Route 53 applies the batch entirely or not at all.
    Returns (changes, before, after): before/after map "name type [set id]" to views of
    only the records that change, for --diff.
    """
    have = {}
    for rr in current:
        have.setdefault(record_key(rr), rr)
    changes, before, after = [], {}, {}
    wanted_keys = set()
    for rr in desired:
        key = record_key(rr)
        if key in wanted_keys:
            raise ValueError("record %s %s (set identifier %r) is given twice" % key)
        wanted_keys.add(key)
        old = have.get(key)
        if old is not None and record_view(old) == record_view(rr):
            continue
        label = _label(key)
        if old is not None:
            before[label] = record_view(old)
        changes.append({"Action": "UPSERT", "ResourceRecordSet": rr})
        after[label] = record_view(rr)
    for key in absent:
        key = (dns_name(key[0]), key[1], key[2] or "")
        if key in wanted_keys:
            raise ValueError("record %s %s (set identifier %r) is both wanted and absent" % key)
        old = have.get(key)
        if old is not None:
            changes.append({"Action": "DELETE", "ResourceRecordSet": old})
            before[_label(key)] = record_view(old)
    return changes, before, after


def _label(key):
    name, rtype, ident = key
    return "%s %s%s" % (name, rtype, " [%s]" % ident if ident else "")


# --- security group rules -----------------------------------------------------------------

def expand_permissions(permissions, group_names=None):
    """Flattens EC2 IpPermissions into one comparable rule per source.

    group_names maps group ids to names so that rules referencing groups compare by the
    name the role wrote (the referenced group may not exist yet in check mode)."""
    group_names = group_names or {}
    rules = set()
    for p in permissions or []:
        proto = str(p.get("IpProtocol"))
        from_port = p.get("FromPort", -1) if proto != "-1" else -1
        to_port = p.get("ToPort", -1) if proto != "-1" else -1
        for r in p.get("IpRanges") or []:
            rules.add((proto, from_port, to_port, "cidr", r["CidrIp"], r.get("Description", "")))
        for r in p.get("Ipv6Ranges") or []:
            rules.add((proto, from_port, to_port, "cidr6", r["CidrIpv6"], r.get("Description", "")))
        for r in p.get("UserIdGroupPairs") or []:
            gid = r["GroupId"]
            rules.add((proto, from_port, to_port, "group", group_names.get(gid, gid), r.get("Description", "")))
        for r in p.get("PrefixListIds") or []:
            rules.add((proto, from_port, to_port, "prefix", r["PrefixListId"], r.get("Description", "")))
    return rules


def rule_permission(rule, group_ids):
    """One flattened rule back to the IpPermissions form; group_ids maps names to ids."""
    proto, from_port, to_port, kind, source, desc = rule
    perm = {"IpProtocol": proto}
    if proto != "-1":
        perm.update(FromPort=from_port, ToPort=to_port)
    entry = {"Description": desc} if desc else {}
    if kind == "cidr":
        perm["IpRanges"] = [dict(CidrIp=source, **entry)]
    elif kind == "cidr6":
        perm["Ipv6Ranges"] = [dict(CidrIpv6=source, **entry)]
    elif kind == "group":
        perm["UserIdGroupPairs"] = [dict(GroupId=group_ids.get(source, source), **entry)]
    else:
        perm["PrefixListIds"] = [dict(PrefixListId=source, **entry)]
    return perm


def rule_text(rule, direction="from"):
    proto, from_port, to_port, kind, source, desc = rule
    ports = "all" if proto == "-1" else (str(from_port) if from_port == to_port else "%s-%s" % (from_port, to_port))
    return "%s %s %s %s %s%s" % ("all" if proto == "-1" else proto, ports, direction, kind, source,
                                 " (%s)" % desc if desc else "")
