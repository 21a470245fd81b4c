"""The infrastructure playbooks' documents (teleport-ha-aws-pools for aws-pools.yml, teleport-ha-aws-edge for
aws-edge.yml) against IAM's table: what they allow of the cluster's own resources, what they refuse of its
neighbours, what follows the switches, and their size. That every call the real runs make is allowed, and each
statement needed, is proven where the runs are: test_two_regions.py, test_three_regions.py, test_boot_config.py
(aws_scenario.infra_policy_proof, tests/aws/iam_calls.py); the statements each scenario needs are listed there,
and here that together they are every statement."""
import json
import re

import pytest
from iam_policy_docs import EXAMPLE, all_documents, example_pools, published
from iam_proof import allows

ACCOUNT, CLUSTER, SHORT = EXAMPLE["account"], EXAMPLE["cluster"], EXAMPLE["short"]
DOCS = all_documents()
POOLS, EDGE = DOCS[published.AWS_POOLS_POLICY_NAME], DOCS[published.AWS_EDGE_POLICY_NAME]
WEST = {"aws:RequestedRegion": "us-west-2"}
OURS = dict(WEST, **{"aws:ResourceTag/TeleportCluster": CLUSTER})
THEIRS = dict(WEST, **{"aws:ResourceTag/TeleportCluster": "other.example.com"})


def ec2(resource, region="us-west-2"):
    return f"arn:aws:ec2:{region}:{ACCOUNT}:{resource}"


def elb(resource, region="us-west-2"):
    return f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:{resource}"


def group(name, region="us-west-2"):
    return f"arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName/{name}"


def test_security_groups_and_templates_are_the_clusters_by_its_tag():
    for action in ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:CreateTags"):
        assert allows(POOLS, action, ec2("launch-template/lt-0123"), OURS)
        assert not allows(POOLS, action, ec2("launch-template/lt-0123"), THEIRS)
        assert not allows(POOLS, action, ec2("launch-template/lt-0123"), WEST)  # untagged
    for action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
                   "ec2:UpdateSecurityGroupRuleDescriptionsIngress"):
        assert allows(EDGE, action, ec2("security-group/sg-0123"), OURS)
        assert not allows(EDGE, action, ec2("security-group/sg-0123"), THEIRS)
    # Created only with the cluster's tag, and only in the cluster's regions.
    create = dict(WEST, **{"aws:RequestTag/TeleportCluster": CLUSTER})
    assert allows(EDGE, "ec2:CreateSecurityGroup", ec2("security-group/*"), create)
    assert not allows(EDGE, "ec2:CreateSecurityGroup", ec2("security-group/*"), WEST)
    assert not allows(EDGE, "ec2:CreateSecurityGroup", ec2("security-group/*", "ap-south-1"),
                      dict(create, **{"aws:RequestedRegion": "ap-south-1"}))
    # Tags on create, never a re-tag of a stranger's resource into the cluster.
    assert allows(POOLS, "ec2:CreateTags", ec2("launch-template/*"), dict(WEST, **{"ec2:CreateAction": "CreateLaunchTemplate"}))
    assert not allows(POOLS, "ec2:CreateTags", ec2("launch-template/lt-9"), dict(THEIRS, **{
        "aws:RequestTag/TeleportCluster": CLUSTER}))
    assert not allows(POOLS, "ec2:CreateTags", ec2("instance/i-0123"), WEST)


def test_launching_needs_the_clusters_template_and_passes_only_its_roles_to_ec2():
    assert allows(POOLS, "ec2:RunInstances", ec2("launch-template/lt-0123"), OURS)
    assert not allows(POOLS, "ec2:RunInstances", ec2("launch-template/lt-0123"), THEIRS)
    role = f"arn:aws:iam::{ACCOUNT}:role/{SHORT}-auth"
    assert allows(POOLS, "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allows(POOLS, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allows(POOLS, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {"iam:PassedToService": "ec2.amazonaws.com"})


def test_the_pools_groups_only_and_never_a_delete():
    for pool in example_pools():
        assert allows(POOLS, "autoscaling:UpdateAutoScalingGroup", group(pool["asg"], pool["region"]))
        assert allows(EDGE, "autoscaling:AttachLoadBalancerTargetGroups", group(pool["asg"], pool["region"]))
    assert not allows(POOLS, "autoscaling:UpdateAutoScalingGroup", group("web-us-west-2"))
    assert not allows(POOLS, "autoscaling:UpdateAutoScalingGroup", group(f"{SHORT}-auth-us-west-2", "eu-central-1"))
    everything = {a for doc in (POOLS, EDGE) for s in doc["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    deletes = sorted(a for a in everything if re.search(r":(Delete|Terminate|Detach|Deregister|Disassociate)", a))
    # The only deletes: a config bucket's policy (the TLS-only policy, when it must go) and the storage policy on
    # the auth profile's role (storage that needs no AWS permission).
    assert deletes == ["iam:DeleteRolePolicy", "s3:DeleteBucketPolicy"], deletes


def test_load_balancers_target_groups_and_listeners_are_the_clusters_by_name():
    lb = elb(f"loadbalancer/net/{SHORT}-proxy/0123456789abcdef")
    assert allows(EDGE, "elasticloadbalancing:ModifyLoadBalancerAttributes", lb, WEST)
    assert not allows(EDGE, "elasticloadbalancing:ModifyLoadBalancerAttributes",
                      elb("loadbalancer/net/web/0123456789abcdef"), WEST)
    assert not allows(EDGE, "elasticloadbalancing:ModifyLoadBalancerAttributes",
                      elb("loadbalancer/app/%s-proxy/0123456789abcdef" % SHORT), WEST)
    listener = elb(f"listener/net/{SHORT}-proxy/0123456789abcdef/fedcba9876543210")
    assert allows(EDGE, "elasticloadbalancing:ModifyListener", listener, WEST)
    assert allows(EDGE, "elasticloadbalancing:ModifyTargetGroupAttributes", elb(f"targetgroup/{SHORT}-proxy-3080/0123"), WEST)
    assert not allows(EDGE, "elasticloadbalancing:ModifyTargetGroupAttributes", elb("targetgroup/web-443/0123"), WEST)


def test_records_are_the_clusters_names_only():
    zone = "arn:aws:route53:::hostedzone/Z0123456789EXAMPLE"
    ours = {"route53:ChangeResourceRecordSetsNormalizedRecordNames": [CLUSTER, "*." + CLUSTER],
            "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"], "route53:ChangeResourceRecordSetsActions": ["UPSERT"]}
    assert allows(EDGE, "route53:ChangeResourceRecordSets", zone, ours)
    for other in ({"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["example.com"]},
                  {"route53:ChangeResourceRecordSetsNormalizedRecordNames": [CLUSTER, "www.example.com"]},
                  {"route53:ChangeResourceRecordSetsRecordTypes": ["A"]},
                  {"route53:ChangeResourceRecordSetsRecordTypes": ["NS"]}):
        assert not allows(EDGE, "route53:ChangeResourceRecordSets", zone, dict(ours, **other)), other
    assert not allows(EDGE, "route53:DeleteHostedZone", zone)


def test_the_switches_add_exactly_their_statements():
    pools = example_pools()
    lbs = [f"{SHORT}-proxy", f"{SHORT}-auth"]
    plain = published.aws_edge_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, lbs, [CLUSTER])
    split = published.aws_edge_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, lbs, [CLUSTER], split_dns=True)
    purge = published.aws_edge_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, lbs, [CLUSTER], purge_listeners=True)
    zone = "arn:aws:route53:::hostedzone/Z1"
    assert not allows(plain, "route53:CreateHostedZone", "*") and allows(split, "route53:CreateHostedZone", "*")
    assert not allows(plain, "route53:AssociateVPCWithHostedZone", zone) and allows(split, "route53:AssociateVPCWithHostedZone", zone)
    listener = elb(f"listener/net/{SHORT}-proxy/0123/4567")
    assert not allows(plain, "elasticloadbalancing:DeleteListener", listener, WEST)
    assert allows(purge, "elasticloadbalancing:DeleteListener", listener, WEST)
    bare = published.aws_pools_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, f"/teleport/{CLUSTER}/ami/x86_64")
    assert not any(a.startswith("iam:") and a != "iam:CreateServiceLinkedRole"
                   for s in bare["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    with pytest.raises(ValueError, match="IAM name"):
        published.aws_pools_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, "/p", {"teleport-auth": "bad role"})


@pytest.mark.parametrize("regions", [["us-west-2", "eu-central-1"], ["us-west-2", "eu-central-1", "ap-southeast-2"]])
def test_up_to_three_regions_each_fits_a_managed_policy(regions):
    """IAM's quotas: a managed policy holds at most 6,144 characters, whitespace not counted (a role's inline
    policies 10,240 together). Each region's groups add to aws-pools.yml's document; docs/aws.md says what to do
    past three regions."""
    docs = all_documents(dict(EXAMPLE, regions=regions))
    for name in (published.AWS_POOLS_POLICY_NAME, published.AWS_EDGE_POLICY_NAME):
        size = len(re.sub(r"\s", "", json.dumps(docs[name])))
        assert size <= 6144, (name, size)


def test_the_scenarios_together_need_every_statement():
    import test_boot_config
    import test_three_regions
    import test_two_regions
    needed = set(test_two_regions.NEEDED_BY_THIS_SCENARIO) | set(test_three_regions.NEEDED_BY_THIS_SCENARIO) | set(
        test_boot_config.NEEDED_BY_THIS_SCENARIO)
    pools = example_pools()
    full = {"pools": published.aws_pools_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, "/p", {"a": "a"}, "inv"),
            "edge": published.aws_edge_policy("aws", ACCOUNT, CLUSTER, SHORT, pools, ["x"], [CLUSTER], split_dns=True,
                                              purge_listeners=True)}
    every = {f"{name}:{s['Sid']}" for name, doc in full.items() for s in doc["Statement"]}
    assert needed == every, (sorted(every - needed), sorted(needed - every))
