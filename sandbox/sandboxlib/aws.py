"""The emulated AWS: a moto server with the VPCs, launch templates and Auto
Scaling groups the inventory service discovers."""
import os
import urllib.request

import boto3

from . import world
from .util import REPO, STATE_DIR, free_port, log, spawn, wait_until

CREDS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_SESSION_TOKEN": "sandbox"}


def aws_env(endpoint):
    env = dict(os.environ)
    env.update(CREDS)
    env["AWS_ENDPOINT_URL"] = endpoint
    env.pop("AWS_PROFILE", None)
    return env


def start_moto(state):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = os.path.join(REPO, ".venv", "bin", "moto_server")
    pid = spawn([moto, "-H", "127.0.0.1", "-p", str(port)], os.path.join(STATE_DIR, "moto.log"))
    state["moto"] = {"pid": pid, "endpoint": endpoint}
    wait_until("moto server to answer", lambda: urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).status == 200, 30)
    log(f"moto server on {endpoint} (pid {pid})")
    return endpoint


def _client(service, region, endpoint):
    return boto3.client(service, region_name=region, endpoint_url=endpoint,
                        aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=CREDS["AWS_SESSION_TOKEN"])


def seed(endpoint):
    """Creates the VPCs, subnets, launch templates and ASGs; returns the instances
    as dicts (region, role, asg, instance_id, private_ip, private_dns)."""
    subnets = {}
    for r in world.REGIONS:
        ec2 = _client("ec2", r["name"], endpoint)
        vpc = ec2.create_vpc(CidrBlock=r["cidr"])["Vpc"]["VpcId"]
        subnets[r["name"]] = ec2.create_subnet(VpcId=vpc, CidrBlock=r["cidr"], AvailabilityZone=r["name"] + "a")["Subnet"]["SubnetId"]
    instances = []
    for asg in world.ASGS:
        name = world.asg_name(asg)
        ec2 = _client("ec2", asg["region"], endpoint)
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.small"})
        autoscaling = _client("autoscaling", asg["region"], endpoint)
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
            MinSize=asg["size"], MaxSize=asg["size"], DesiredCapacity=asg["size"],
            VPCZoneIdentifier=subnets[asg["region"]],
            Tags=[{"Key": "TeleportCluster", "Value": world.CLUSTER, "PropagateAtLaunch": True,
                   "ResourceId": name, "ResourceType": "auto-scaling-group"},
                  {"Key": "TeleportRole", "Value": asg["role"], "PropagateAtLaunch": True,
                   "ResourceId": name, "ResourceType": "auto-scaling-group"}])
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        ids = sorted(i["InstanceId"] for i in group["Instances"])
        described = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        by_id = {i["InstanceId"]: i for res in described for i in res["Instances"]}
        for n, iid in enumerate(ids):
            inst = by_id[iid]
            instances.append({
                "region": asg["region"], "role": asg["role"], "asg": name, "instance_id": iid,
                "private_ip": inst["PrivateIpAddress"], "private_dns": inst["PrivateDnsName"],
                "machine": f"{world.region(asg['region'])['short']}-{asg['role'][:4]}-{n}",
            })
    for inst in instances:
        log(f"{inst['machine']}: {inst['instance_id']} {inst['private_ip']} {inst['private_dns']} ({inst['asg']})")
    return instances
