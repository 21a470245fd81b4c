#!/usr/bin/env python3
"""Publish the AMI ids of a Packer bake as SSM parameters, one per region.

Reads the manifest written by the template's `manifest` post-processor
(build/packer-manifest.json), takes the last run's amazon-ebs artifact
("us-east-1:ami-1,eu-west-1:ami-2") and writes, in every deployment region,
the parameter /teleport/<cluster>/ami/<arch> with data type aws:ec2:image.
Launch templates then use `resolve:ssm:/teleport/<cluster>/ami/<arch>` as
their image id (see docs/packer.md).

Usage:
  packer/publish_ami_ids.py --cluster NAME --regions us-east-1,eu-west-1 \
      [--manifest build/packer-manifest.json] [--dry-run]

Exits non-zero, naming the region, when the bake did not produce an AMI in a
deployment region, so a half-copied image is never published.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")
_CLUSTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class PublishError(Exception):
    """A bad input: the message names the file or flag and the fix."""


@dataclass(frozen=True)
class Bake:
    amis: dict[str, str]  # region -> AMI id
    custom_data: dict[str, str]


def read_manifest(path: Path) -> Bake:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise PublishError(f"{path}: not found; run `packer build` first or pass --manifest") from None
    except json.JSONDecodeError as e:
        raise PublishError(f"{path}: not valid JSON ({e})") from None
    builds = doc.get("builds") or []
    last = doc.get("last_run_uuid")
    runs = [b for b in builds if b.get("packer_run_uuid") == last and b.get("builder_type") == "amazon-ebs"]
    if not runs:
        raise PublishError(f"{path}: no amazon-ebs build in the last run ({last}); was the build successful?")
    build = runs[-1]
    amis: dict[str, str] = {}
    for pair in str(build.get("artifact_id", "")).split(","):
        region, sep, ami = pair.partition(":")
        if not sep or not _REGION.match(region) or not _AMI_ID.match(ami):
            raise PublishError(f"{path}: artifact_id entry {pair!r} is not REGION:ami-ID")
        amis[region] = ami
    custom = {k: str(v) for k, v in (build.get("custom_data") or {}).items()}
    if custom.get("Architecture") not in ("x86_64", "arm64"):
        raise PublishError(f"{path}: custom_data.Architecture must be x86_64 or arm64, got "
                           f"{custom.get('Architecture')!r}; bake with packer/teleport.pkr.hcl")
    return Bake(amis=amis, custom_data=custom)


def plan(bake: Bake, cluster: str, regions: list[str]) -> dict[str, tuple[str, str]]:
    """region -> (parameter name, AMI id); every deployment region must have an AMI."""
    missing = [r for r in regions if r not in bake.amis]
    if missing:
        raise PublishError(
            f"--regions: no AMI for {', '.join(missing)} in the manifest; add them to the template's "
            f"deployment_regions and bake again (baked: {', '.join(sorted(bake.amis))})")
    name = f"/teleport/{cluster}/ami/{bake.custom_data['Architecture']}"
    return {r: (name, bake.amis[r]) for r in regions}


def publish(bake: Bake, targets: dict[str, tuple[str, str]], session) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    edition = bake.custom_data.get("TeleportEdition", "")
    version = bake.custom_data.get("TeleportVersion", "")
    # The parameter carries the same build tags as the AMI it names.
    tags = [{"Key": k, "Value": bake.custom_data[k]}
            for k in ("TeleportVersion", "TeleportEdition", "BuildSha") if bake.custom_data.get(k)]
    for region, (name, ami) in targets.items():
        ssm = session.client("ssm", region_name=region)
        try:
            ssm.put_parameter(Name=name, Value=ami, Type="String", DataType="aws:ec2:image", Overwrite=True,
                              Description=f"Teleport {edition} {version} AMI")
            # put_parameter refuses Tags together with Overwrite, so tag afterwards.
            if tags:
                ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=tags)
        except (BotoCoreError, ClientError) as e:
            raise PublishError(f"{region}: writing {name}={ami} failed: {e}") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=Path("build/packer-manifest.json"))
    p.add_argument("--cluster", required=True, help="Teleport cluster name (the TeleportCluster ASG tag)")
    p.add_argument("--regions", required=True, help="comma-separated deployment regions")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    args = p.parse_args(argv)
    if not _CLUSTER.match(args.cluster):
        p.error(f"--cluster: {args.cluster!r} must be 1-63 letters, digits, dots, dashes or underscores")
    args.regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    bad = [r for r in args.regions if not _REGION.match(r)]
    if not args.regions or bad:
        p.error(f"--regions: expected AWS region names such as us-east-1,eu-west-1, got {bad or 'nothing'}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        bake = read_manifest(args.manifest)
        targets = plan(bake, args.cluster, args.regions)
        if not args.dry_run:
            import boto3  # only needed when writing

            publish(bake, targets, boto3.session.Session())
    except PublishError as e:
        print(f"publish_ami_ids: {e}", file=sys.stderr)
        return 2
    print(json.dumps({r: {"parameter": n, "ami": a} for r, (n, a) in targets.items()}, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
