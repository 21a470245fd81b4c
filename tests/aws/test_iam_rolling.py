"""The rolling plays' policy (teleport-ha-rolling: site.yml, upgrade.yml and restart.yml around each restart) is
enough and least privilege, proven against moto with its IAM enforcement on (iam_proof.py says what moto checks):
rolling_aws_calls.yml runs the teleport role's own task files (asg_suspend, lb_drain, lb_rejoin, asg_resume) on a
host of a pool registered in two of the cluster's target groups, and succeeds with the document's action projection
and fails with each statement removed, on that statement's call; IAM's table shows the resources are the cluster's
own target groups and pools only."""
import os

import pytest
from iam_policy_docs import published
from iam_proof import action_projection, allows, enforce, principal, without

from harness.ansible import ansible_env, run_playbook
from harness.moto import MotoServer, client, network, seed_asgs
from harness.util import REPO

CLUSTER, SHORT, ACCOUNT, REGION = "tp.example.com", "tp", "123456789012", "us-west-2"
ASG = f"{SHORT}-proxy-{REGION}"
POOLS = [{"role": "auth", "region": REGION, "asg": f"{SHORT}-auth-{REGION}"}, {"role": "proxy", "region": REGION, "asg": ASG}]
DOCUMENT = published.rolling_policy("aws", ACCOUNT, POOLS, SHORT)
SIDS = [s["Sid"] for s in DOCUMENT["Statement"]]
PLAYBOOK = os.path.join(os.path.dirname(__file__), "rolling_aws_calls.yml")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iam-rolling")
    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    try:
        vpc, subnets = network(moto, REGION, "198.18.1.0/24")
        made = seed_asgs(moto, CLUSTER, [dict(p, name=p["asg"], size=1, subnets=subnets) for p in POOLS])
        instance = made[ASG][0]
        elb = client("elbv2", REGION, moto.endpoint)
        # Two load balancers (elb_target_info looks only at target groups a load balancer uses), each forwarding to a
        # target group the host is in, as the proxy NLB and the internal one do.
        for kind in ("proxy", "proxy-int"):
            lb = elb.create_load_balancer(Name=f"{SHORT}-{kind}", Type="network", Subnets=subnets)["LoadBalancers"][0]
            arn = elb.create_target_group(Name=f"{SHORT}-{kind}-3080", Protocol="TCP", Port=3080, VpcId=vpc,
                                          TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=443,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
            elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance, "Port": 3080}])
        iam = client("iam", "us-east-1", moto.endpoint)
        keys = {"all": principal(iam, "all", action_projection(DOCUMENT))}
        for sid in SIDS:
            keys[sid] = principal(iam, sid, action_projection(without(DOCUMENT, sid)))
        enforce(moto.endpoint)
        yield {"moto": moto, "keys": keys, "instance": instance, "tmp": tmp}
    finally:
        moto.stop()


def as_all(world, service):
    import boto3
    key, secret = world["keys"]["all"]
    return boto3.client(service, region_name=REGION, endpoint_url=world["moto"].endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret)


def reset(world):
    """Every run starts from the same state, whatever the one before left: nothing suspended, the host registered
    in both target groups (with the whole document's key: enforcement is on)."""
    as_all(world, "autoscaling").resume_processes(AutoScalingGroupName=ASG)
    elb = as_all(world, "elbv2")
    for tg in elb.describe_target_groups()["TargetGroups"]:
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": world["instance"], "Port": 3080}])


def roll(world, who):
    reset(world)
    key, secret = world["keys"][who]
    env = ansible_env(aws=world["moto"].endpoint, AWS_REGION=REGION, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
                      ANSIBLE_ROLES_PATH=os.path.join(REPO, "roles"))
    extra = {"aws_instance_id": world["instance"], "aws_region": REGION, "_teleport_batch_asgs": [[ASG, REGION]],
             "teleport_lb_drain_timeout": 30, "teleport_lb_rejoin_timeout": 30}
    return run_playbook(PLAYBOOK, None, extra, env=env, timeout=300, log=world["tmp"] / f"{who}.log")


def test_a_rolling_restart_succeeds_with_the_policy(world):
    done = roll(world, "all")
    text = done.log.read_text()
    assert done.rc == 0, text[-3000:]
    # It did drain and rejoin both memberships and held the group still: the calls are not vacuous.
    assert "changed=4 " in text, text[-1500:]


@pytest.mark.parametrize("sid,refused", [
    ("FindTheHostsTargetGroups", "autoscaling:DescribeAutoScalingGroups"),
    # community.aws.elb_target words a refused DeregisterTargets as its own message, without AWS's error.
    ("DrainAndRejoinTheClustersTargetGroups", "Unable to deregister target"),
    ("HoldThePoolsGroupsStill", "autoscaling:SuspendProcesses"),
])
def test_each_statement_is_needed(world, sid, refused):
    done = roll(world, sid)
    text = done.log.read_text()
    assert done.rc != 0 and refused in text, text[-3000:]


def test_the_clusters_target_groups_and_pools_only():
    tg = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup"
    assert allows(DOCUMENT, "elasticloadbalancing:DeregisterTargets", f"{tg}/{SHORT}-proxy-3080/0123456789abcdef")
    assert not allows(DOCUMENT, "elasticloadbalancing:DeregisterTargets", f"{tg}/other-web/0123456789abcdef")
    assert not allows(DOCUMENT, "elasticloadbalancing:DeregisterTargets",
                      f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/{SHORT}-proxy-3080/0123")
    asg = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName"
    assert allows(DOCUMENT, "autoscaling:SuspendProcesses", f"{asg}/{ASG}")
    assert not allows(DOCUMENT, "autoscaling:SuspendProcesses", f"{asg}/someone-elses-group")
    for never in ("autoscaling:UpdateAutoScalingGroup", "autoscaling:TerminateInstanceInAutoScalingGroup",
                  "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:DeleteTargetGroup"):
        assert not allows(DOCUMENT, never, f"{asg}/{ASG}") and not allows(DOCUMENT, never, f"{tg}/{SHORT}-proxy-3080/0")
