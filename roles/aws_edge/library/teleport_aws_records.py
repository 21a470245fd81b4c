#!/usr/bin/python
# -*- coding: utf-8 -*-
"""All of a run's Route 53 record changes in one hosted zone as ONE change batch.

Why not amazon.aws.route53 (9.5.2): it changes one record per task, so a run that moves
a region's name and wildcard (or steers a region off) passes through half-changed states
and can stop in one. Route 53 applies a change batch entirely or not at all; this module
diffs every managed record first (wildcards compared as "*" whatever form Route 53
returns, "\\052" on AWS), then sends only the difference in one ChangeResourceRecordSets
call: wanted records that are missing or different as UPSERT, absent ones as DELETE of
exactly what Route 53 holds.
"""

DOCUMENTATION = r"""
module: teleport_aws_records
short_description: Converge a set of Route 53 records in one atomic change batch
description:
  - Records not listed in I(records) or I(absent) are never touched.
  - Check mode and --diff supported; no mutating call when nothing differs.
options:
  hosted_zone_id: {type: str, required: true, description: Zone id (with or without /hostedzone/).}
  records:
    type: list
    elements: dict
    default: []
    description:
      - Wanted records with name, type, set_identifier, region (latency routing), ttl, values (list) or
        alias (dns_name, hosted_zone_id, evaluate_target_health), health_check_id.
  absent:
    type: list
    elements: dict
    default: []
    description: Records (name, type, set_identifier) to delete when present.
  comment: {type: str, default: "", description: Comment of the change batch.}
  wait: {type: bool, default: true, description: Wait until the change is INSYNC.}
  wait_timeout: {type: int, default: 300, description: Seconds to wait for INSYNC.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
changes: {description: "The batch sent (ACTION name type [set identifier]), empty when nothing changed", type: list, returned: always}
change_id: {description: Route 53 change id, type: str, returned: when changed and not in check mode}
"""

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import any_pending, dns_name, is_pending, plan_record_changes, record_key
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def api_record(r, module, i):
    where = "records[%d]" % i
    for key in ("name", "type"):
        if not r.get(key):
            module.fail_json(msg="%s.%s is required" % (where, key))
    rr = {"Name": r["name"], "Type": r["type"]}
    if r.get("set_identifier"):
        rr["SetIdentifier"] = r["set_identifier"]
    if r.get("region"):
        if not r.get("set_identifier"):
            module.fail_json(msg="%s: a latency record (region) needs a set_identifier" % where)
        rr["Region"] = r["region"]
    if r.get("alias"):
        a = r["alias"]
        rr["AliasTarget"] = {"DNSName": a["dns_name"], "HostedZoneId": a["hosted_zone_id"],
                             "EvaluateTargetHealth": bool(a.get("evaluate_target_health", False))}
    else:
        if not r.get("values") or r.get("ttl") is None:
            module.fail_json(msg="%s: give values and ttl, or alias" % where)
        rr["TTL"] = int(r["ttl"])
        rr["ResourceRecords"] = [{"Value": v} for v in r["values"]]
    if r.get("health_check_id"):
        rr["HealthCheckId"] = r["health_check_id"]
    return rr


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            hosted_zone_id=dict(type="str", required=True),
            records=dict(type="list", elements="dict", default=[]),
            absent=dict(type="list", elements="dict", default=[]),
            comment=dict(type="str", default=""),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params
    zone = p["hosted_zone_id"] if is_pending(p["hosted_zone_id"]) else p["hosted_zone_id"].split("/")[-1]
    if (is_pending(zone) or any_pending(p["records"])) and not module.check_mode:
        module.fail_json(msg="check-mode placeholders outside check mode")
    desired = [api_record(r, module, i) for i, r in enumerate(p["records"])]
    absent = [(a["name"], a["type"], a.get("set_identifier") or "") for a in p["absent"]]
    names = {record_key(rr)[0] for rr in desired} | {dns_name(a[0]) for a in absent}
    client = module.client("route53", retry_decorator=AWSRetry.jittered_backoff())

    current = []
    if not is_pending(zone):
        try:
            for page in client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone):
                current.extend(rr for rr in page["ResourceRecordSets"] if dns_name(rr["Name"]) in names)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="listing the records of hosted zone %s" % zone)
    try:
        changes, before, after = plan_record_changes(current, desired, absent)
    except ValueError as e:
        module.fail_json(msg=str(e))
    summary = ["%s %s %s%s" % (c["Action"], dns_name(c["ResourceRecordSet"]["Name"]), c["ResourceRecordSet"]["Type"],
                               " [%s]" % c["ResourceRecordSet"]["SetIdentifier"]
                               if c["ResourceRecordSet"].get("SetIdentifier") else "") for c in changes]
    out = dict(changed=bool(changes), changes=summary, diff={"before": before, "after": after})
    if changes and not module.check_mode:
        try:
            batch = {"Changes": changes}
            if p["comment"]:
                batch["Comment"] = p["comment"]
            info = client.change_resource_record_sets(aws_retry=True, HostedZoneId=zone, ChangeBatch=batch)["ChangeInfo"]
            out["change_id"] = info["Id"]
            deadline = time.monotonic() + p["wait_timeout"]
            while p["wait"] and info["Status"] != "INSYNC":
                if time.monotonic() > deadline:
                    module.fail_json(msg="change %s to zone %s not INSYNC after %ss (it was accepted and will apply)"
                                         % (info["Id"], zone, p["wait_timeout"]), **out)
                time.sleep(2)  # Route 53 propagates in seconds; polled until the deadline above
                info = client.get_change(aws_retry=True, Id=info["Id"])["ChangeInfo"]
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="changing the records of hosted zone %s (nothing was changed: Route 53 "
                                        "applies a batch entirely or not at all)" % zone)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
