"""packer/publish_ami_ids.py against a real moto server (SSM and EC2 in three regions)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from harness.moto import MotoServer

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = ROOT / "packer" / "publish_ami_ids.py"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


@pytest.fixture(scope="module")
def moto_endpoint():
    with MotoServer() as moto:
        yield moto.endpoint


@pytest.fixture()
def aws_env(moto_endpoint, monkeypatch):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    env = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **env}


def baked_amis(regions):
    """One real (moto) AMI per region, as the bake and its copies would leave them."""
    amis = {}
    for region in regions:
        ec2 = boto3.client("ec2", region_name=region)
        base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        amis[region] = ec2.create_image(InstanceId=instance, Name=f"teleport-oss-17.4.8-{region}")["ImageId"]
    return amis


def write_manifest(tmp_path, amis, arch="arm64", older_runs=()):
    builds = [{"name": "teleport", "builder_type": "amazon-ebs", "build_time": 1, "packer_run_uuid": uuid,
               "artifact_id": artifact, "custom_data": {"Architecture": arch}} for uuid, artifact in older_runs]
    builds.append({
        "name": "teleport", "builder_type": "amazon-ebs", "build_time": 2, "packer_run_uuid": "run-2",
        "artifact_id": ",".join(f"{r}:{a}" for r, a in amis.items()),
        # What the template's manifest post-processor records: local.build_tags.
        "custom_data": {"Architecture": arch, "TeleportVersion": "17.4.8", "TeleportEdition": "oss",
                        "BaseOS": "al2023", "BuildSha": "0123456789abcdef0123456789abcdef01234567",
                        "Name": "teleport-oss-17.4.8-al2023-arm64-20261121000000", "ManagedBy": "packer",
                        "BuildTimestamp": "2026-11-21T00:00:00Z"},
    })
    path = tmp_path / "packer-manifest.json"
    path.write_text(json.dumps({"builds": builds, "last_run_uuid": "run-2"}))
    return path


def run(env, *args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def parameter(region, name="/teleport/prod/ami/arm64"):
    ssm = boto3.client("ssm", region_name=region)
    try:
        return ssm.get_parameter(Name=name)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None


def test_publishes_the_ami_of_each_region_with_build_tags(aws_env, tmp_path):
    amis = baked_amis(REGIONS)
    manifest = write_manifest(tmp_path, amis, older_runs=[("run-1", "us-east-1:ami-00000000000000000")])

    result = run(aws_env, "--manifest", str(manifest), "--cluster", "prod", "--regions", ",".join(REGIONS))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {r: {"parameter": "/teleport/prod/ami/arm64", "ami": amis[r]} for r in REGIONS}
    for region in REGIONS:
        p = parameter(region)
        assert p["Value"] == amis[region]
        assert p["DataType"] == "aws:ec2:image"
        tags = boto3.client("ssm", region_name=region).list_tags_for_resource(
            ResourceType="Parameter", ResourceId="/teleport/prod/ami/arm64")["TagList"]
        assert {t["Key"]: t["Value"] for t in tags} == {
            "TeleportVersion": "17.4.8", "TeleportEdition": "oss",
            "BuildSha": "0123456789abcdef0123456789abcdef01234567"}


def test_a_new_bake_overwrites_the_parameter(aws_env, tmp_path):
    first = baked_amis(["us-east-1"])
    assert run(aws_env, "--manifest", str(write_manifest(tmp_path, first)), "--cluster", "prod",
               "--regions", "us-east-1").returncode == 0
    second = baked_amis(["us-east-1"])

    result = run(aws_env, "--manifest", str(write_manifest(tmp_path, second)), "--cluster", "prod",
                 "--regions", "us-east-1")

    assert result.returncode == 0, result.stderr
    p = parameter("us-east-1")
    assert p["Value"] == second["us-east-1"] != first["us-east-1"]
    assert p["Version"] == 2


def test_refuses_to_publish_when_a_deployment_region_has_no_copy(aws_env, tmp_path):
    amis = baked_amis(["us-east-1", "eu-west-1"])

    result = run(aws_env, "--manifest", str(write_manifest(tmp_path, amis)), "--cluster", "prod",
                 "--regions", ",".join(REGIONS))

    assert result.returncode == 2
    assert "no AMI for ap-southeast-2" in result.stderr
    assert all(parameter(r) is None for r in REGIONS), "nothing may be published from a partial bake"


def test_dry_run_prints_the_plan_and_writes_nothing(aws_env, tmp_path):
    amis = {"us-east-1": "ami-0123456789abcdef0"}

    result = run(aws_env, "--manifest", str(write_manifest(tmp_path, amis, arch="x86_64")), "--cluster", "prod",
                 "--regions", "us-east-1", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["us-east-1"] == {"parameter": "/teleport/prod/ami/x86_64",
                                                       "ami": "ami-0123456789abcdef0"}
    assert parameter("us-east-1", "/teleport/prod/ami/x86_64") is None


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("{", "not valid JSON"),
    (json.dumps({"builds": [], "last_run_uuid": "x"}), "no amazon-ebs build in the last run"),
    (json.dumps({"builds": [{"builder_type": "amazon-ebs", "packer_run_uuid": "x", "artifact_id": "us-east-1:img-1",
                             "custom_data": {"Architecture": "arm64"}}], "last_run_uuid": "x"}), "is not REGION:ami-ID"),
    (json.dumps({"builds": [{"builder_type": "amazon-ebs", "packer_run_uuid": "x", "artifact_id": "us-east-1:ami-0123abcd",
                             "custom_data": {}}], "last_run_uuid": "x"}), "custom_data.Architecture"),
])
def test_bad_manifests_are_named_with_the_fix(aws_env, tmp_path, content, message):
    manifest = tmp_path / "m.json"
    if content is not None:
        manifest.write_text(content)

    result = run(aws_env, "--manifest", str(manifest), "--cluster", "prod", "--regions", "us-east-1")

    assert result.returncode == 2
    assert str(manifest) in result.stderr and message in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--cluster", "prod cluster", "--regions", "us-east-1"], "--cluster"),
    (["--cluster", "prod", "--regions", "us-east-1,Mars"], "--regions"),
])
def test_bad_flags_are_rejected(aws_env, args, message):
    result = run(aws_env, *args)

    assert result.returncode == 2
    assert message in result.stderr
