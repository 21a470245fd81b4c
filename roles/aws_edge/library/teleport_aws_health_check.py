#!/usr/bin/python
# -*- coding: utf-8 -*-
"""A Route 53 health check of one region's proxy NLB, found by its Name tag.

Why not amazon.aws.route53_health_check (9.5.2): it exposes neither EnableSNI nor the
checker Regions, and without a name it matches "the same" check by address, type and
port only. EnableSNI matters twice: Route 53 defaults it to true for HTTPS but moto to
false, and without SNI the TLS handshake carries no server name. Regions matter because
the default is every checker region, billed and noisy; the blueprint asks for explicit ones.
"""

DOCUMENTATION = r"""
module: teleport_aws_health_check
short_description: A Route 53 HTTP(S) health check identified by its Name tag
description:
  - Finds the check by its Name tag (and TeleportCluster tag), creates it when missing, updates what differs.
  - Type, request interval and latency measurement cannot change in Route 53, so a difference fails.
  - Never deletes. Check mode and --diff supported; no mutating call when nothing differs.
options:
  name: {type: str, required: true, description: Value of the Name tag that identifies the check.}
  type: {type: str, default: HTTPS, choices: [HTTP, HTTPS, HTTPS_STR_MATCH, HTTP_STR_MATCH, TCP], description: Check type.}
  fqdn: {type: str, required: true, description: Name the checkers resolve and dial; with enable_sni it is also the SNI and Host.}
  port: {type: int, default: 443, description: Port.}
  resource_path: {type: str, default: /, description: Path requested.}
  enable_sni: {type: bool, default: true, description: Send fqdn as the TLS server name.}
  regions: {type: list, elements: str, required: true, description: Checker regions (at least 3).}
  request_interval: {type: int, default: 30, choices: [10, 30], description: Seconds between checks (immutable).}
  failure_threshold: {type: int, default: 3, description: Consecutive failures that make the check unhealthy.}
  tags: {type: dict, default: {}, description: Further tags.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
health_check_id: {description: Id (placeholder in check mode when it would be created), type: str, returned: always}
"""

import uuid

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import is_pending, owner_conflict, pending, result, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

MUTABLE = (("FullyQualifiedDomainName", "FullyQualifiedDomainName"), ("Port", "Port"), ("ResourcePath", "ResourcePath"),
           ("EnableSNI", "EnableSNI"), ("FailureThreshold", "FailureThreshold"), ("Inverted", "Inverted"),
           ("Disabled", "Disabled"))


def config_view(cfg):
    view = {k: cfg.get(k) for k in ("Type", "FullyQualifiedDomainName", "Port", "ResourcePath", "EnableSNI",
                                     "RequestInterval", "FailureThreshold", "MeasureLatency", "Inverted", "Disabled")}
    view["Regions"] = sorted(cfg.get("Regions") or [])
    if view["FullyQualifiedDomainName"]:
        view["FullyQualifiedDomainName"] = view["FullyQualifiedDomainName"].rstrip(".").lower()
    return view


def find(client, name, module):
    """The check whose Name tag is name; else one whose CallerReference we made for it."""
    checks = []
    for page in client.get_paginator("list_health_checks").paginate():
        checks.extend(page["HealthChecks"])
    by_id = {c["Id"]: c for c in checks}
    ids = list(by_id)
    tagged, ours = [], []
    for i in range(0, len(ids), 10):
        sets = client.list_tags_for_resources(aws_retry=True, ResourceType="healthcheck", ResourceIds=ids[i:i + 10])
        for s in sets["ResourceTagSets"]:
            tags = tag_dict(s.get("Tags"))
            if tags.get("Name") == name:
                tagged.append((by_id[s["ResourceId"]], tags))
    if len(tagged) > 1:
        module.fail_json(msg="%d Route 53 health checks are tagged Name=%s (%s); delete the extra ones"
                             % (len(tagged), name, ", ".join(c["Id"] for c, _ in tagged)))
    if tagged:
        return tagged[0]
    # A create whose tagging step did not happen (interrupted run): adopt it.
    ours = [c for c in checks if c.get("CallerReference", "").startswith(name + "/")]
    return (ours[0], {}) if ours else (None, {})


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            type=dict(type="str", default="HTTPS", choices=["HTTP", "HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH", "TCP"]),
            fqdn=dict(type="str", required=True),
            port=dict(type="int", default=443),
            resource_path=dict(type="str", default="/"),
            enable_sni=dict(type="bool", default=True),
            regions=dict(type="list", elements="str", required=True),
            request_interval=dict(type="int", default=30, choices=[10, 30]),
            failure_threshold=dict(type="int", default=3),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if len(p["regions"]) < 3:
        module.fail_json(msg="regions: Route 53 needs at least 3 checker regions, got %s" % p["regions"])
    if is_pending(p["fqdn"]) and not module.check_mode:
        module.fail_json(msg="fqdn is a check-mode placeholder outside check mode: %s" % p["fqdn"])
    client = module.client("route53", retry_decorator=AWSRetry.jittered_backoff())
    tags = dict(p["tags"], Name=p["name"])
    wanted = {"Type": p["type"], "FullyQualifiedDomainName": p["fqdn"], "Port": p["port"],
              "ResourcePath": p["resource_path"], "EnableSNI": p["enable_sni"], "RequestInterval": p["request_interval"],
              "FailureThreshold": p["failure_threshold"], "MeasureLatency": False, "Inverted": False, "Disabled": False,
              "Regions": sorted(p["regions"])}
    if p["type"] == "TCP":
        wanted.pop("ResourcePath")
        wanted.pop("EnableSNI")
    wanted_view = config_view(wanted)

    try:
        current, have_tags = find(client, p["name"], module)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="listing Route 53 health checks")

    if current is None:
        if module.check_mode:
            module.exit_json(**result(True, None, wanted_view, health_check_id=pending("health-check", p["name"])))
        try:
            # CallerReference makes a retried create idempotent; the prefix lets find()
            # adopt a check whose tagging below never happened.
            ref = ("%s/%s" % (p["name"], uuid.uuid4().hex))[:64]
            hc = client.create_health_check(aws_retry=True, CallerReference=ref, HealthCheckConfig=wanted)["HealthCheck"]
            client.change_tags_for_resource(aws_retry=True, ResourceType="healthcheck", ResourceId=hc["Id"],
                                            AddTags=tag_list(tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating Route 53 health check %s" % p["name"])
        module.exit_json(**result(True, None, wanted_view, health_check_id=hc["Id"]))

    hid = current["Id"]
    conflict = owner_conflict(have_tags, tags, "Route 53 health check %s (%s)" % (p["name"], hid))
    if conflict:
        module.fail_json(msg=conflict)
    have = config_view(current["HealthCheckConfig"])
    fixed = [k for k in ("Type", "RequestInterval", "MeasureLatency") if have.get(k) != wanted_view.get(k)]
    if fixed:
        module.fail_json(msg="Route 53 health check %s (%s): %s cannot change (%s); delete the check and run again"
                             % (p["name"], hid, ", ".join(fixed), ", ".join("%s=%s" % (k, have.get(k)) for k in fixed)))
    update = {api: wanted[key] for key, api in MUTABLE if key in wanted and have.get(key) != wanted_view.get(key)}
    if have["Regions"] != wanted_view["Regions"]:
        update["Regions"] = wanted["Regions"]
    add_tags = tags_to_set(have_tags, tags)
    changed = bool(update or add_tags)
    if changed and not module.check_mode:
        try:
            if update:
                client.update_health_check(aws_retry=True, HealthCheckId=hid,
                                           HealthCheckVersion=current["HealthCheckVersion"], **update)
            if add_tags:
                client.change_tags_for_resource(aws_retry=True, ResourceType="healthcheck", ResourceId=hid,
                                                AddTags=tag_list(add_tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="updating Route 53 health check %s" % p["name"])
    module.exit_json(**result(changed, dict(have, tags=have_tags), dict(wanted_view, tags=dict(have_tags, **add_tags)),
                              health_check_id=hid))


if __name__ == "__main__":
    main()
