"""What stays the operator's in AWS, made in a moto world, for tests/aws/ and the sandbox.

  from harness.aws_world import operator_world, role_vars

The playbooks (aws-pools.yml, aws-edge.yml) make the launch templates, ASGs, load
balancers and DNS records; before them an operator has a VPC with subnets per region, a
public hosted zone, and an AMI baked in every region and published in SSM by
packer/publish_ami_ids.py. operator_world() makes exactly that, publishing through the
real script, so the playbooks meet what they would meet in an account.
"""
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from .moto import network
from .util import REPO

PUBLISH = Path(REPO) / "packer" / "publish_ami_ids.py"


def register_ami(moto, region, name="teleport-test-ami"):
    ec2 = moto.client("ec2", region)
    return ec2.register_image(
        Name=name, Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}])["ImageId"]


def publish_amis(moto, cluster, amis, version="18.11.1", edition="oss"):
    """Writes a Packer manifest for amis ({region: ami id}) and runs publish_ami_ids.py on it."""
    run_uuid = str(uuid.uuid4())
    manifest = {"last_run_uuid": run_uuid, "builds": [{
        "name": "teleport", "builder_type": "amazon-ebs", "packer_run_uuid": run_uuid,
        "artifact_id": ",".join(f"{r}:{a}" for r, a in amis.items()),
        "custom_data": {"Architecture": "x86_64", "TeleportVersion": version, "TeleportEdition": edition,
                        "BuildSha": "0" * 40}}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "packer-manifest.json"
        path.write_text(json.dumps(manifest))
        out = subprocess.run([sys.executable, str(PUBLISH), "--manifest", str(path), "--cluster", cluster,
                              "--regions", ",".join(amis)], env=moto.env(), capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"publish_ami_ids.py failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


def fix_soa(moto, zone_id):
    """moto gives a new zone an SOA whose value is a Python dict's text; a DNS server reading
    the zone then answers SERVFAIL for every name. UPSERT the SOA AWS would have written."""
    r53 = moto.client("route53", "us-east-1")
    soa = next(rr for rr in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"] if rr["Type"] == "SOA")
    value = soa["ResourceRecords"][0]["Value"]
    if value.startswith("{"):
        ns = next(rr for rr in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
                  if rr["Type"] == "NS")["ResourceRecords"][0]["Value"].rstrip(".")
        value = f"{ns}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": soa["Name"], "Type": "SOA", "TTL": soa.get("TTL", 900), "ResourceRecords": [{"Value": value}]}}]})
    return value


# Who may assume an instance profile's role: EC2, for the instance (IAM user guide, "Using an IAM
# role to grant permissions to applications running on Amazon EC2 instances").
EC2_TRUST_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def instance_profile(moto, name):
    """An IAM role `name` that EC2 may assume and an instance profile of the same name holding it, as an
    operator makes one per pool (aws-pools.yml's launch template names the profile). moto enforces no
    policy, so the role has none. Returns {"arn", "role_arn"}."""
    iam = moto.client("iam", "us-east-1")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST_POLICY),
                           Description=f"The {name} instances' role (operator's, for the cluster's pools)")["Role"]
    profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return {"arn": profile["Arn"], "role_arn": role["Arn"]}


def operator_world(moto, cluster, regions, zone, zones=("a", "b"), publish=True, instance_profiles=()):
    """regions: {name: VPC CIDR}; instance_profiles: names of the role + instance profile pairs to make.
    Returns {"regions": {name: {"vpc_id", "subnets", "ami"}}, "zone_id", "instance_profiles": {name: {"arn", "role_arn"}}}."""
    made = {}
    for region, cidr in regions.items():
        vpc, subnets = network(moto, region, cidr, zones)
        made[region] = {"vpc_id": vpc, "subnets": subnets, "cidr": cidr, "ami": register_ami(moto, region)}
    if publish:
        publish_amis(moto, cluster, {r: v["ami"] for r, v in made.items()})
    r53 = moto.client("route53", "us-east-1")
    zone_id = r53.create_hosted_zone(Name=zone, CallerReference=f"operator-{zone}-{uuid.uuid4().hex}")["HostedZone"]["Id"].split("/")[-1]
    fix_soa(moto, zone_id)
    profiles = {name: instance_profile(moto, name) for name in instance_profiles}
    return {"regions": made, "zone_id": zone_id, "instance_profiles": profiles}


def role_vars(cluster, auth_region, world, zone, **extra):
    """The variables of aws-pools.yml and aws-edge.yml for a world made by operator_world()."""
    out = {
        "aws_cluster_name": cluster,
        "aws_cluster_auth_region": auth_region,
        "aws_cluster_regions": [{"region": r, "subnets": v["subnets"]} for r, v in world["regions"].items()],
        "aws_edge_hosted_zone": zone,
    }
    out.update(extra)
    return out
