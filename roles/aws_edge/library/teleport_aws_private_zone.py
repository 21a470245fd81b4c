#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The private hosted zone of split DNS, associated with every region's VPC.

Why not amazon.aws.route53_zone (9.5.2): it identifies a private zone by name plus the
VPCs given, so adding a region's VPC to the list makes it look for (and create) another
zone instead of associating the VPC with the existing one. Here the zone is identified
by name plus its TeleportCluster tag, VPCs are only ever associated (never
disassociated), and the zone is never deleted.
"""

DOCUMENTATION = r"""
module: teleport_aws_private_zone
short_description: A private hosted zone of the cluster, associated with the given VPCs
options:
  name: {type: str, required: true, description: Zone name (the same as the public zone for split DNS).}
  vpcs: {type: list, elements: dict, required: true, description: VPCs (region, vpc_id) to associate.}
  comment: {type: str, default: "", description: Comment of a new zone.}
  tags: {type: dict, required: true, description: Tags; TeleportCluster identifies the zone.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
hosted_zone_id: {description: Zone id without /hostedzone/ (placeholder in check mode when it would be created), type: str, returned: always}
"""

import uuid

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import dns_name, pending, result, tag_dict, tag_list, tags_to_set
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            vpcs=dict(type="list", elements="dict", required=True),
            comment=dict(type="str", default=""),
            tags=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["vpcs"]:
        module.fail_json(msg="vpcs: a private zone needs at least one VPC")
    if "TeleportCluster" not in p["tags"]:
        module.fail_json(msg="tags: TeleportCluster identifies the zone and is required")
    name = dns_name(p["name"])
    wanted_vpcs = sorted((v["region"], v["vpc_id"]) for v in p["vpcs"])
    client = module.client("route53", retry_decorator=AWSRetry.jittered_backoff())

    try:
        candidates, marker = [], {}
        while True:
            page = client.list_hosted_zones_by_name(aws_retry=True, DNSName=name, **marker)
            zones = [z for z in page["HostedZones"] if dns_name(z["Name"]) == name]
            candidates.extend(z for z in zones if z.get("Config", {}).get("PrivateZone"))
            # Zones come sorted by name: once a page holds another name, ours are all seen.
            if not page.get("IsTruncated") or len(zones) < len(page["HostedZones"]):
                break
            marker = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}
        ours = []
        for z in candidates:
            zid = z["Id"].split("/")[-1]
            tags = tag_dict(client.list_tags_for_resource(aws_retry=True, ResourceType="hostedzone",
                                                          ResourceId=zid)["ResourceTagSet"].get("Tags"))
            if tags.get("TeleportCluster") == p["tags"]["TeleportCluster"]:
                ours.append((zid, tags))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="looking up private hosted zone %s" % name)
    if len(ours) > 1:
        module.fail_json(msg="%d private zones %s are tagged TeleportCluster=%s (%s); keep one"
                             % (len(ours), name, p["tags"]["TeleportCluster"], ", ".join(z for z, _ in ours)))

    after = {"name": name, "vpcs": ["%s %s" % v for v in wanted_vpcs], "tags": p["tags"]}
    if not ours:
        if module.check_mode:
            module.exit_json(**result(True, None, after, hosted_zone_id=pending("private-zone", name)))
        first = wanted_vpcs[0]
        try:
            zid = client.create_hosted_zone(
                aws_retry=True, Name=name, CallerReference=("%s/%s" % (name, uuid.uuid4().hex))[:128],
                VPC={"VPCRegion": first[0], "VPCId": first[1]},
                HostedZoneConfig={"PrivateZone": True, "Comment": p["comment"]})["HostedZone"]["Id"].split("/")[-1]
            client.change_tags_for_resource(aws_retry=True, ResourceType="hostedzone", ResourceId=zid,
                                            AddTags=tag_list(p["tags"]))
            for region, vpc in wanted_vpcs[1:]:
                client.associate_vpc_with_hosted_zone(aws_retry=True, HostedZoneId=zid,
                                                      VPC={"VPCRegion": region, "VPCId": vpc})
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="creating private hosted zone %s" % name)
        module.exit_json(**result(True, None, after, hosted_zone_id=zid))

    zid, have_tags = ours[0]
    try:
        have_vpcs = sorted((v["VPCRegion"], v["VPCId"]) for v in client.get_hosted_zone(aws_retry=True, Id=zid)["VPCs"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="reading private hosted zone %s" % zid)
    associate = [v for v in wanted_vpcs if v not in have_vpcs]
    add_tags = tags_to_set(have_tags, p["tags"])
    if (associate or add_tags) and not module.check_mode:
        try:
            for region, vpc in associate:
                client.associate_vpc_with_hosted_zone(aws_retry=True, HostedZoneId=zid,
                                                      VPC={"VPCRegion": region, "VPCId": vpc})
            if add_tags:
                client.change_tags_for_resource(aws_retry=True, ResourceType="hostedzone", ResourceId=zid,
                                                AddTags=tag_list(add_tags))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="associating VPCs with private hosted zone %s" % zid)
    after["vpcs"] = ["%s %s" % v for v in sorted(set(have_vpcs) | set(wanted_vpcs))]
    after["tags"] = dict(have_tags, **add_tags)
    module.exit_json(**result(bool(associate or add_tags),
                              {"name": name, "vpcs": ["%s %s" % v for v in have_vpcs], "tags": have_tags},
                              after, hosted_zone_id=zid))


if __name__ == "__main__":
    main()
