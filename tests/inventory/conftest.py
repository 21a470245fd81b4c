"""Fixtures for the inventory script tests: a real moto server, a seeded two-region world and a
real `inventory-service serve` from the packaged jar."""
import json
import os
import subprocess

import boto3
import pytest

from harness.moto import MotoServer, record_membership
from harness.util import REPO, answers, free_port, wait_until

JAR = os.path.join(REPO, "inventory-service", "target", "inventory-service.jar")
SCRIPT = os.path.join(REPO, "playbooks", "inventory", "teleport_inventory.py")
CLUSTER = "tp.example.com"


@pytest.fixture(scope="session")
def moto():
    with MotoServer() as server:
        yield server.endpoint


@pytest.fixture(scope="session")
def aws_env(moto):
    return {"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-never-printed",
            "AWS_DEFAULT_REGION": "us-west-2"}


@pytest.fixture(scope="session")
def world(moto, aws_env):
    """Auth and proxies in us-west-2, proxies in eu-central-1, one proxy in Standby."""
    kw = dict(endpoint_url=moto, aws_access_key_id="testing", aws_secret_access_key="testing")
    made = {}
    for n, (region, groups) in enumerate({
        "us-west-2": [("tp-auth", "auth", 2), ("tp-proxy", "proxy", 2)],
        "eu-central-1": [("tp-proxy-eu", "proxy", 2)],
    }.items(), start=1):
        ec2 = boto3.client("ec2", region_name=region, **kw)
        asg = boto3.client("autoscaling", region_name=region, **kw)
        cidr = f"198.18.{n}.0/24"
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=region + "a")["Subnet"]["SubnetId"]
        ec2.create_launch_template(LaunchTemplateName="teleport", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
        for name, role, count in groups:
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": "teleport"}, MinSize=0, MaxSize=4,
                DesiredCapacity=count, VPCZoneIdentifier=subnet,
                Tags=[{"Key": "TeleportCluster", "Value": CLUSTER, "PropagateAtLaunch": True},
                      {"Key": "TeleportRole", "Value": role, "PropagateAtLaunch": True}])
            record_membership(boto3.client("ssm", region_name=region, **kw), ec2, CLUSTER, region, name, role, "teleport")
            made[name] = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(
                AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"])
    boto3.client("autoscaling", region_name="us-west-2", **kw).enter_standby(
        InstanceIds=[made["tp-proxy"][0]], AutoScalingGroupName="tp-proxy", ShouldDecrementDesiredCapacity=True)
    return made


@pytest.fixture(scope="session")
def config_file(tmp_path_factory, world):
    path = tmp_path_factory.mktemp("cfg") / "teleport-inventory.yml"
    path.write_text(f"cluster: {CLUSTER}\nregions: [us-west-2, eu-central-1]\n")
    return str(path)


@pytest.fixture(scope="session")
def service(tmp_path_factory, config_file, aws_env):
    assert os.path.isfile(JAR), f"{JAR} is missing: build it with mvn -B package (make test does)"
    d = tmp_path_factory.mktemp("svc")
    token = d / "token"
    token.write_text("inventory-test-token-0123456789\n")
    token.chmod(0o600)
    port = free_port()
    env = dict(os.environ, **aws_env,
               INVENTORY_SERVICE_SERVE__LISTEN_ADDR=f"127.0.0.1:{port}",
               INVENTORY_SERVICE_SERVE__TOKEN_FILE=str(token))
    log = open(d / "serve.log", "wb")
    proc = subprocess.Popen(["java", "-jar", JAR, "serve", "--config", config_file], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until("inventory-service /readyz", lambda: proc.poll() is None and answers(url + "/readyz"))
    yield {"url": url, "token_file": str(token), "token": token.read_text().strip(), "log": d / "serve.log"}
    proc.terminate()
    proc.wait(20)
    log.close()


def run(cmd, env):
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180, check=False)


def clean_env(**extra):
    """The environment with every TELEPORT_INVENTORY_* variable removed, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEPORT_INVENTORY_")}
    env.update(extra)
    return env


def parse(stdout):
    return json.loads(stdout)
