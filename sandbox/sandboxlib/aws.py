"""The emulated AWS: a moto server holding what stays the operator's (VPC and subnet
per region, the public hosted zone, an AMI per region published in SSM by
packer/publish_ami_ids.py), then the cluster's part made by the real playbooks
(aws-pools.yml, aws-edge.yml). The instances are read back from moto afterwards."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
import yaml

from . import world
from .edge.common import Logger
from .edge.ec2_double import NAME as EC2_DOUBLE
from .edge.ec2_double import reconcile_instance_profiles
from .util import REPO, STATE_DIR, SandboxError, free_port, log, spawn, wait_until

sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
from aws_world import fix_soa, operator_world  # noqa: E402  (shared with tests/aws/)
from moto_world import MotoServer  # noqa: E402

# Ansible masks every no_log value (secret key, session token) wherever it appears in
# module output: a secret equal to "sandbox" turned the zone sandbox.test into
# "********.test". So the dummy secrets match no name of the world.
CREDS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "dummy-secret-key-not-a-secret",
         "AWS_SESSION_TOKEN": "dummy-session-token-not-a-secret"}
PLAYBOOKS = ("aws-pools.yml", "aws-edge.yml")
AWS_VARS_FILE = os.path.join(STATE_DIR, "aws-vars.yml")
AUTH_SERVER_FILE = os.path.join(STATE_DIR, "aws-auth-server.yml")


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


def client(service, region, endpoint):
    return boto3.client(service, region_name=region, endpoint_url=endpoint,
                        aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=CREDS["AWS_SESSION_TOKEN"])


def playbook(name, endpoint, state, label=None, *extra):
    """Runs one AWS playbook with the world's variables (and extra arguments)."""
    label = label or name.removesuffix(".yml")
    logfile = os.path.join(STATE_DIR, f"ansible-{label}.log")
    env = aws_env(endpoint)
    env.update({"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "AWS_REGION": world.REGIONS[0]["name"], "ANSIBLE_LOCALHOST_WARNING": "0",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
                "PATH": os.path.join(REPO, ".venv", "bin") + os.pathsep + env.get("PATH", "")})
    t0 = time.monotonic()
    with open(logfile, "w") as out:
        p = subprocess.run(["ansible-playbook", os.path.join(REPO, "playbooks", name), "-e", "@" + AWS_VARS_FILE, *extra],
                           cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    took = round(time.monotonic() - t0, 1)
    state.setdefault("timings", {})[f"{label}_seconds"] = took
    if p.returncode != 0:
        with open(logfile) as f:
            raise SandboxError(f"{name} failed (exit {p.returncode}) after {took} s; log {logfile}:\n{f.read()[-4000:]}")
    log(f"{name} ({label}) converged in {took} s (log {logfile})")


def seed(endpoint, state):
    """Makes the operator's part, runs the AWS playbooks with variables from world.py,
    and returns the instances as moto holds them (region, role, asg, instance_id,
    private_ip, private_dns, machine)."""
    moto = MotoServer(port=int(endpoint.rsplit(":", 1)[1]))  # a handle on the moto we started: clients, env
    made = operator_world(moto, world.CLUSTER, {r["name"]: r["cidr"] for r in world.REGIONS}, world.ZONE, zones=("a",),
                          instance_profiles=sorted(world.INSTANCE_PROFILES.values()))
    log(f"operator's part: VPCs {', '.join(v['vpc_id'] for v in made['regions'].values())}, "
        f"AMIs published in SSM, zone {world.ZONE} ({made['zone_id']}), "
        f"IAM roles and instance profiles {', '.join(sorted(made['instance_profiles']))}")
    with open(AWS_VARS_FILE, "w") as f:
        f.write("# Written by sandbox/sandbox from sandboxlib/world.py for aws-pools.yml and aws-edge.yml.\n")
        yaml.safe_dump(world.aws_vars({r: v["subnets"] for r, v in made["regions"].items()}, AUTH_SERVER_FILE),
                       f, sort_keys=True)
    for name in PLAYBOOKS:
        playbook(name, endpoint, state)
        if name == "aws-pools.yml":
            given = give_instance_profiles(endpoint)
            log(f"instance profiles of the launch templates given to {len(given)} instances (ec2-double, as EC2 does)")
    # The split-DNS zone aws-edge.yml made has moto's malformed SOA too (operator_world
    # fixed the public one): fix it once, so a DNS server can serve both zones.
    r53 = moto.client("route53", "us-east-1")
    private = [z["Id"].split("/")[-1] for z in r53.list_hosted_zones_by_name(DNSName=world.ZONE)["HostedZones"]
               if z["Name"] == world.ZONE + "." and z["Config"]["PrivateZone"]]
    for zone_id in private:
        fix_soa(moto, zone_id)
    state["aws"] = {"zone_id": made["zone_id"], "private_zone_ids": private, "vars_file": AWS_VARS_FILE,
                    "auth_server_file": AUTH_SERVER_FILE}
    return instances(endpoint)


def give_instance_profiles(endpoint):
    """EC2 launches each instance with its launch template's instance profile; moto's Auto Scaling
    does not. The ec2-double's reconciler gives it (it also runs in the double, every
    ec2.RECONCILE_INTERVAL_S); returns [(region, instance id, profile)] given now."""
    return reconcile_instance_profiles(endpoint, [r["name"] for r in world.REGIONS], Logger(EC2_DOUBLE, sys.stderr))


def instances(endpoint):
    """The cluster's ASG members in every region, read from moto (never a copy of our own), with
    the instance profile each carries (instance_profile_arn)."""
    out = []
    for r in world.REGIONS:
        autoscaling = client("autoscaling", r["name"], endpoint)
        ec2 = client("ec2", r["name"], endpoint)
        groups = [g for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": "tag:TeleportCluster", "Values": [world.CLUSTER]}]) for g in page["AutoScalingGroups"]]
        for g in sorted(groups, key=lambda g: g["AutoScalingGroupName"]):
            role = {t["Key"]: t["Value"] for t in g["Tags"]}["TeleportRole"]
            ids = sorted(i["InstanceId"] for i in g["Instances"])
            described = ec2.describe_instances(InstanceIds=ids)["Reservations"] if ids else []
            by_id = {i["InstanceId"]: i for res in described for i in res["Instances"]}
            for n, iid in enumerate(ids):
                inst = by_id[iid]
                out.append({
                    "region": r["name"], "role": role, "asg": g["AutoScalingGroupName"], "instance_id": iid,
                    "private_ip": inst["PrivateIpAddress"], "private_dns": inst["PrivateDnsName"],
                    "instance_profile_arn": (inst.get("IamInstanceProfile") or {}).get("Arn"),
                    "machine": f"{r['short']}-{role[:4]}-{n}",
                })
    want = sum(a["size"] for a in world.ASGS)
    if len(out) != want:
        raise SandboxError(f"moto holds {len(out)} instances of {world.CLUSTER}, want {want} (world.ASGS): "
                           f"{json.dumps([(i['asg'], i['instance_id']) for i in out])}")
    for inst in out:
        log(f"{inst['machine']}: {inst['instance_id']} {inst['private_ip']} {inst['private_dns']} ({inst['asg']}, "
            f"profile {(inst['instance_profile_arn'] or 'none').rsplit('/', 1)[-1]})")
    return out
