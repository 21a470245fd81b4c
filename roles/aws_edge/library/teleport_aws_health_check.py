#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The Route 53 health checks of the regions' proxy NLBs, each found by its Name tag.

Why not amazon.aws.route53_health_check (9.5.2): it exposes neither EnableSNI nor the
checker Regions, and without a name it matches "the same" check by address, type and
port only. EnableSNI matters twice: Route 53 defaults it to true for HTTPS but moto to
false, and without SNI the TLS handshake carries no server name. Regions matter because
the default is every checker region, billed and noisy; the blueprint asks for explicit ones.
Route 53 is global, so all the checks are converged in one module run that lists the
account's checks and their tags once.
"""

DOCUMENTATION = r"""
module: teleport_aws_health_check
short_description: Route 53 HTTP(S) health checks identified by their Name tags
description:
  - Finds each check by its Name tag, creates it when missing, updates what differs.
  - Type, request interval and latency measurement cannot change in Route 53, so a difference fails.
  - Never deletes. Check mode and --diff supported; no mutating call when nothing differs.
options:
  health_checks:
    type: list
    elements: dict
    required: true
    description:
      - Checks with name (the Name tag that identifies it), type (default HTTPS), fqdn (the name checkers resolve and
        dial; with enable_sni also the TLS server name and Host), port (443), resource_path (/), enable_sni (true),
        regions (at least 3 checker regions), request_interval (10 or 30, immutable), failure_threshold (3), tags.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
health_check_ids: {description: Name to id (placeholder in check mode when it would be created), type: dict, returned: always}
"""

import uuid

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import combined, is_pending, owner_conflict, pending, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

MUTABLE = ("FullyQualifiedDomainName", "Port", "ResourcePath", "EnableSNI", "FailureThreshold", "Inverted", "Disabled")
TYPES = ("HTTP", "HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH", "TCP")


def config_view(cfg):
    view = {k: cfg.get(k) for k in ("Type", "FullyQualifiedDomainName", "Port", "ResourcePath", "EnableSNI",
                                     "RequestInterval", "FailureThreshold", "MeasureLatency", "Inverted", "Disabled")}
    view["Regions"] = sorted(cfg.get("Regions") or [])
    if view["FullyQualifiedDomainName"]:
        view["FullyQualifiedDomainName"] = view["FullyQualifiedDomainName"].rstrip(".").lower()
    return view


def wanted_config(module, i, spec):
    where = "health_checks[%d]" % i
    for key in ("name", "fqdn", "regions"):
        if not spec.get(key):
            module.fail_json(msg="%s.%s is required" % (where, key))
    kind = spec.get("type") or "HTTPS"
    if kind not in TYPES:
        module.fail_json(msg="%s.type: %r is not one of %s" % (where, kind, ", ".join(TYPES)))
    if len(set(spec["regions"])) < 3:
        module.fail_json(msg="%s.regions: Route 53 needs at least 3 checker regions, got %s" % (where, spec["regions"]))
    interval = int(spec.get("request_interval") or 30)
    if interval not in (10, 30):
        module.fail_json(msg="%s.request_interval must be 10 or 30, got %s" % (where, interval))
    cfg = {"Type": kind, "FullyQualifiedDomainName": spec["fqdn"], "Port": int(spec.get("port") or 443),
           "ResourcePath": spec.get("resource_path") or "/",
           "EnableSNI": bool(spec.get("enable_sni", True)), "RequestInterval": interval,
           "FailureThreshold": int(spec.get("failure_threshold") or 3), "MeasureLatency": False, "Inverted": False,
           "Disabled": False, "Regions": sorted(set(spec["regions"]))}
    if kind == "TCP":
        cfg.pop("ResourcePath")
        cfg.pop("EnableSNI")
    return cfg


def existing_checks(client):
    """Every check of the account, and the tags of each."""
    checks = []
    for page in client.get_paginator("list_health_checks").paginate():
        checks.extend(page["HealthChecks"])
    tags = {}
    ids = [c["Id"] for c in checks]
    for i in range(0, len(ids), 10):  # ListTagsForResources takes at most 10 ids
        for s in client.list_tags_for_resources(aws_retry=True, ResourceType="healthcheck", ResourceIds=ids[i:i + 10])["ResourceTagSets"]:
            tags[s["ResourceId"]] = tag_dict(s.get("Tags"))
    return checks, tags


def find(module, name, checks, tags):
    """The check whose Name tag is name; else one whose CallerReference we made for it."""
    tagged = [c for c in checks if tags.get(c["Id"], {}).get("Name") == name]
    if len(tagged) > 1:
        module.fail_json(msg="%d Route 53 health checks are tagged Name=%s (%s); delete the extra ones"
                             % (len(tagged), name, ", ".join(c["Id"] for c in tagged)))
    if tagged:
        return tagged[0]
    # A create whose tagging step did not happen (an interrupted run): adopt it.
    made = [c for c in checks if c.get("CallerReference", "").startswith(name + "/")]
    return made[0] if made else None


def converge(module, client, spec, wanted, current, have_tags):
    """One check: returns (changed, before or None, after, id)."""
    name = spec["name"]
    tags = dict({k: str(v) for k, v in (spec.get("tags") or {}).items()}, Name=name)
    view = config_view(wanted)
    if current is None:
        if module.check_mode:
            return True, None, dict(view, tags=tags), pending("health-check", name)
        try:
            # CallerReference makes a retried create idempotent; its prefix lets find()
            # adopt a check whose tagging below never happened.
            ref = ("%s/%s" % (name, uuid.uuid4().hex))[:64]
            hid = client.create_health_check(aws_retry=True, CallerReference=ref, HealthCheckConfig=wanted)["HealthCheck"]["Id"]
            client.change_tags_for_resource(aws_retry=True, ResourceType="healthcheck", ResourceId=hid, AddTags=tag_list(tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating Route 53 health check %s" % name)
        return True, None, dict(view, tags=tags), hid

    hid = current["Id"]
    conflict = owner_conflict(have_tags, tags, "Route 53 health check %s (%s)" % (name, hid))
    if conflict:
        module.fail_json(msg=conflict)
    have = config_view(current["HealthCheckConfig"])
    fixed = [k for k in ("Type", "RequestInterval", "MeasureLatency") if have.get(k) != view.get(k)]
    if fixed:
        module.fail_json(msg="Route 53 health check %s (%s): %s cannot change (%s); delete the check and run again"
                             % (name, hid, ", ".join(fixed), ", ".join("%s=%s" % (k, have.get(k)) for k in fixed)))
    update = {k: wanted[k] for k in MUTABLE if k in wanted and have.get(k) != view.get(k)}
    if have["Regions"] != view["Regions"]:
        update["Regions"] = wanted["Regions"]
    add_tags = tags_to_set(have_tags, tags)
    changed = bool(update or add_tags)
    if changed and not module.check_mode:
        try:
            if update:
                client.update_health_check(aws_retry=True, HealthCheckId=hid, HealthCheckVersion=current["HealthCheckVersion"], **update)
            if add_tags:
                client.change_tags_for_resource(aws_retry=True, ResourceType="healthcheck", ResourceId=hid, AddTags=tag_list(add_tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="updating Route 53 health check %s" % name)
    return changed, dict(have, tags=have_tags), dict(view, tags=dict(have_tags, **add_tags)), hid


def main():
    module = AnsibleAWSModule(argument_spec=dict(health_checks=dict(type="list", elements="dict", required=True)),
                              supports_check_mode=True)
    specs = module.params["health_checks"]
    wanted = [wanted_config(module, i, spec) for i, spec in enumerate(specs)]
    names = [spec["name"] for spec in specs]
    if len(set(names)) != len(names):
        module.fail_json(msg="health_checks: a name is given twice: %s" % names)
    if not module.check_mode and any(is_pending(w["FullyQualifiedDomainName"]) for w in wanted):
        module.fail_json(msg="fqdn holds a check-mode placeholder outside check mode")
    client = module.client("route53", retry_decorator=AWSRetry.jittered_backoff())
    try:
        checks, tags = existing_checks(client)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="listing Route 53 health checks")
    outcomes = []
    for spec, cfg in zip(specs, wanted, strict=False):
        current = find(module, spec["name"], checks, tags)
        outcomes.append((spec["name"], *converge(module, client, spec, cfg, current,
                                                 tags.get(current["Id"], {}) if current else {})))
    changed, ids, diff = combined(outcomes)
    module.exit_json(changed=changed, health_check_ids=ids, diff=diff)


if __name__ == "__main__":
    main()
