"""The inventory service's policy (teleport-ha-inventory-service, aws-pools.yml) is enough and least privilege,
proven against moto with its IAM enforcement on (iam_proof.py says what moto checks): the real
`inventory-service list` and `known-hosts` succeed with the document's actions and fail with each statement
removed; its resources and condition allow the cluster's own membership records and pool instances and refuse
their neighbours."""
import json
import os
import subprocess

import pytest
from aws_scenario import ROOT
from iam_policy_docs import published
from iam_proof import action_projection, allows, enforce, principal, without

from harness.moto import MotoServer, client, network, seed_asgs

JAR = ROOT / "inventory-service/target/inventory-service.jar"
CLUSTER, SHORT, ACCOUNT = "tp.example.com", "tp", "123456789012"   # moto's account
MEMBERSHIP = f"/teleport/{CLUSTER}/membership"
POOLS = [{"role": "auth", "region": "us-west-2"}, {"role": "proxy", "region": "us-west-2"},
         {"role": "proxy", "region": "eu-central-1"}]
for _p in POOLS:
    _p["asg"] = f"{SHORT}-{_p['role']}-{_p['region']}"   # aws-pools.yml's names (_aws_pools_list)
DOCUMENT = published.inventory_service_policy("aws", ACCOUNT, POOLS, MEMBERSHIP)
SIDS = [s["Sid"] for s in DOCUMENT["Statement"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The cluster's pools in two regions, a stranger group beside them, one IAM user per document (the whole
    action projection, and each statement removed), then moto's enforcement on."""
    assert JAR.is_file(), f"{JAR} is missing: mvn -B -ntp package -DskipTests (make test builds it)"
    tmp = tmp_path_factory.mktemp("iam-inventory")
    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    try:
        groups = []
        for n, region in enumerate(["us-west-2", "eu-central-1"], start=1):
            _, subnets = network(moto, region, f"198.18.{n}.0/24")
            groups += [dict(p, name=p["asg"], size=1, subnets=subnets) for p in POOLS if p["region"] == region]
        groups.append({"region": "us-west-2", "name": "stranger", "role": "proxy", "size": 1, "member": False,
                       "subnets": network(moto, "us-west-2", "198.18.9.0/24")[1]})
        made = seed_asgs(moto, CLUSTER, groups)
        ec2 = client("ec2", "us-west-2", moto.endpoint)
        auth_ip = ec2.describe_instances(InstanceIds=made[POOLS[0]["asg"]])["Reservations"][0]["Instances"][0][
            "PrivateIpAddress"]
        iam = client("iam", "us-east-1", moto.endpoint)
        keys = {"all": principal(iam, "all", action_projection(DOCUMENT))}
        for sid in SIDS:
            keys[sid] = principal(iam, sid, action_projection(without(DOCUMENT, sid)))
        narrower = action_projection(DOCUMENT)
        narrower["Statement"][0]["Action"] = ["autoscaling:DescribeAutoScalingGroups"]
        keys["no-describe-instances"] = principal(iam, "no-describe-instances", narrower)
        config = tmp / "inventory.yml"
        config.write_text(f"cluster: {CLUSTER}\nregions: [us-west-2, eu-central-1]\n")
        enforce(moto.endpoint)
        yield {"moto": moto, "keys": keys, "config": str(config), "auth_ip": auth_ip, "made": made}
    finally:
        moto.stop()


def run(world, who, command, *args):
    key, secret = world["keys"][who]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=world["moto"].endpoint, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
               AWS_REGION="us-west-2")
    return subprocess.run(["java", "-jar", str(JAR), command, "--config", world["config"], *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_moto_refuses_a_caller_with_no_policy_for_it(world):
    """The premise: enforcement is on, so the harness's own credentials are no IAM user's and are refused."""
    with pytest.raises(Exception, match="InvalidClientTokenId|not valid|security token"):
        client("autoscaling", "us-west-2", world["moto"].endpoint).describe_auto_scaling_groups()


def test_list_succeeds_with_the_policy_and_finds_every_pool_host(world):
    r = run(world, "all", "list")
    assert r.returncode == 0, r.stderr
    inventory = json.loads(r.stdout)
    assert {f"teleport_{p['role']}" for p in POOLS} <= set(inventory)
    for iid in (i for p in POOLS for i in world["made"][p["asg"]]):
        assert iid in r.stdout, iid
    for iid in world["made"]["stranger"]:   # tagged, not recorded: found, and never a member
        assert iid not in json.dumps(inventory.get("_meta", {}).get("hostvars", {})), iid


def denied(r, marker):
    """The service's own words for a call AWS refused: a region failed with the class auth, HTTP 403, and marker
    (the SDK reads moto's EC2 refusal, which names the action, and only the service of the others')."""
    return "(auth)" in r.stderr and "HTTP 403" in r.stderr and marker in r.stderr


@pytest.mark.parametrize("sid,marker", [("DiscoverThePools", "Service: AutoScaling,"),
                                        ("ReadTheMembershipRecords", "Service: Ssm,")])
def test_list_fails_with_each_of_its_statements_removed(world, sid, marker):
    r = run(world, sid, "list")
    assert r.returncode != 0
    assert denied(r, marker), r.stderr[-2000:]


def test_describe_instances_is_needed_too(world):
    """DiscoverThePools holds two actions: with only DescribeAutoScalingGroups, list fails on DescribeInstances."""
    r = run(world, "no-describe-instances", "list")
    assert r.returncode != 0
    assert denied(r, "is not authorized to perform: ec2:DescribeInstances"), r.stderr[-2000:]


def test_known_hosts_reads_the_console_with_the_policy_and_not_without_it(world):
    ok = run(world, "all", "known-hosts", world["auth_ip"])
    # moto's consoles hold no key block: with the policy the service read the console and found no keys in it.
    no = run(world, "ReadThePoolsHostKeys", "known-hosts", world["auth_ip"])
    assert ok.returncode == 1 and "has no -----BEGIN SSH HOST KEY KEYS----- block" in ok.stderr, ok.stderr[-2000:]
    assert "not authorized" not in ok.stderr, ok.stderr[-2000:]
    assert no.returncode == 1 and "is not authorized to perform: ec2:GetConsoleOutput" in no.stderr, no.stderr[-2000:]


# --- the resources and the condition, against the table of what the service touches --------------------------

def ssm(region, name):
    return f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name.lstrip('/')}"


def instance(region, iid="i-0123456789abcdef0"):
    return f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{iid}"


@pytest.mark.parametrize("region", ["us-west-2", "eu-central-1"])
def test_the_membership_record_of_every_region_and_nothing_else(region):
    assert allows(DOCUMENT, "ssm:GetParameter", ssm(region, MEMBERSHIP))
    for other in (f"/teleport/{CLUSTER}/config/auth", "/teleport/other.example.com/membership", "/any"):
        assert not allows(DOCUMENT, "ssm:GetParameter", ssm(region, other)), other
    assert not allows(DOCUMENT, "ssm:GetParameter", ssm("ap-south-1", MEMBERSHIP))
    assert not allows(DOCUMENT, "ssm:PutParameter", ssm(region, MEMBERSHIP))


def test_the_console_of_the_pools_instances_only():
    for p in POOLS:
        assert allows(DOCUMENT, "ec2:GetConsoleOutput", instance(p["region"]),
                      {"aws:ResourceTag/aws:autoscaling:groupName": p["asg"]}), p
    # Another group's instance, an instance of no group (a tag anyone could write does not count), another region.
    assert not allows(DOCUMENT, "ec2:GetConsoleOutput", instance("us-west-2"),
                      {"aws:ResourceTag/aws:autoscaling:groupName": "stranger"})
    assert not allows(DOCUMENT, "ec2:GetConsoleOutput", instance("us-west-2"), {"aws:ResourceTag/TeleportCluster": CLUSTER})
    assert not allows(DOCUMENT, "ec2:GetConsoleOutput", instance("ap-south-1"),
                      {"aws:ResourceTag/aws:autoscaling:groupName": POOLS[0]["asg"]})


def test_only_the_describe_calls_aws_grants_on_star_are_on_star():
    on_star = {a for s in DOCUMENT["Statement"] if s["Resource"] == "*" for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert on_star == set(published.INVENTORY_DISCOVERY_ON_STAR)


def test_without_host_keys_there_is_no_console_statement():
    doc = published.inventory_service_policy("aws", ACCOUNT, POOLS, MEMBERSHIP, host_keys=False)
    assert not allows(doc, "ec2:GetConsoleOutput", instance("us-west-2"),
                      {"aws:ResourceTag/aws:autoscaling:groupName": POOLS[0]["asg"]})
    assert [s["Sid"] for s in doc["Statement"]] == ["DiscoverThePools", "ReadTheMembershipRecords"]
