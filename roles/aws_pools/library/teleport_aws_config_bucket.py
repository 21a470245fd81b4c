#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The cluster's config bucket in one region: where the boot kit lives (docs/boot.md).

Named <short>-config-<account>-<region> (S3 names are global; the account makes it this account's), and
named in the region's SSM parameter /teleport/<cluster>/config-bucket, where the publishing playbooks find it.
Versioned (each published parameter names the kit version it describes), encrypted at rest (SSE-S3),
every kind of public access blocked, object ownership enforced (no ACLs), TLS-only by bucket policy
(not against an emulator's plain-http endpoint, which would enforce it against every caller),
and a lifecycle rule that expires a kit version 30 days after a newer one replaced it. Writes only what
differs; never deletes the bucket or an object.
"""

DOCUMENTATION = r"""
module: teleport_aws_config_bucket
short_description: The cluster's versioned, private, TLS-only config bucket in one region
description:
  - Creates the bucket when missing and converges versioning, default encryption, the public access block, object
    ownership, the TLS-only policy, the lifecycle rule and tags (only ever added). Check mode and --diff supported.
options:
  short_name: {type: str, required: true, description: "aws_cluster_short_name: the bucket is <short>-config-<account>-<region>."}
  noncurrent_days: {type: int, default: 30, description: Days a replaced kit version is kept.}
  parameter:
    type: str
    required: true
    description: "SSM String parameter, in the region, that names the bucket: how the publishing playbooks find it from the
      cluster's name alone."
  tags: {type: dict, default: {}, description: Tags added (never removed); TeleportCluster decides ownership.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
bucket: {description: The bucket's name, type: str, returned: always}
"""

import json

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import owner_conflict, result, tag_dict, tag_list, tags_to_set
from ansible.module_utils.teleport_cluster_config import bucket_name, tls_only_policy
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}
OWNERSHIP = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def lifecycle(days):
    return {"Rules": [{"ID": "expire-replaced-boot-kits", "Status": "Enabled", "Filter": {"Prefix": "boot-kit/"},
                       "NoncurrentVersionExpiration": {"NoncurrentDays": days}}]}


def read(module, call, missing, **kwargs):
    """A bucket setting, or None when S3 says it is not set (missing: the error codes that mean so)."""
    try:
        return call(aws_retry=True, **kwargs)
    except is_boto3_error_code(missing):
        return None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading the config bucket's settings")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            short_name=dict(type="str", required=True),
            noncurrent_days=dict(type="int", default=30),
            parameter=dict(type="str", required=True),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    sts = module.client("sts", retry_decorator=retry)
    s3 = module.client("s3", retry_decorator=retry)
    ssm = module.client("ssm", retry_decorator=retry)
    try:
        ident = sts.get_caller_identity(aws_retry=True)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="reading the account id (sts:GetCallerIdentity)")
    partition = ident["Arn"].split(":")[1]
    try:
        name = bucket_name(p["short_name"], ident["Account"], module.region)
    except ValueError as e:
        module.fail_json(msg=str(e))

    # Against AWS the endpoint is always https. An emulator reached over plain http (moto in the sandbox and the
    # tests) enforces the policy too, and would refuse this playbook's, the publisher's and the instances' calls.
    tls_only = not s3.meta.endpoint_url.startswith("http://")
    if not tls_only:
        module.warn("the S3 endpoint %s is plain http (an emulator): the TLS-only policy is not set on %s, or every "
                    "later call would be refused" % (s3.meta.endpoint_url, name))
    wanted = {"versioning": "Enabled", "encryption": ENCRYPTION, "public_access_block": PUBLIC_ACCESS_BLOCK,
              "ownership": OWNERSHIP, "policy": tls_only_policy(partition, name) if tls_only else None,
              "lifecycle": lifecycle(p["noncurrent_days"]), "tags": {k: str(v) for k, v in p["tags"].items()}}
    try:
        s3.head_bucket(aws_retry=True, Bucket=name)
        exists = True
    except is_boto3_error_code(["404", "NoSuchBucket", "NotFound"]):
        exists = False
    except is_boto3_error_code(["403", "AccessDenied"]):  # pylint: disable=duplicate-except
        module.fail_json(msg="bucket %s exists but this account cannot read it (another account's bucket has the name, "
                             "or the credentials lack s3:ListBucket): set aws_cluster_short_name so the name differs"
                             % name)
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading bucket %s" % name)

    if exists:
        tagging = read(module, s3.get_bucket_tagging, ["NoSuchTagSet", "NoSuchTagSetError"], Bucket=name)
        have_tags = tag_dict((tagging or {}).get("TagSet"))
        conflict = owner_conflict(have_tags, p["tags"], "bucket %s" % name)
        if conflict:
            module.fail_json(msg=conflict)
        policy = read(module, s3.get_bucket_policy, ["NoSuchBucketPolicy"], Bucket=name)
        enc = read(module, s3.get_bucket_encryption, ["ServerSideEncryptionConfigurationNotFoundError"], Bucket=name)
        pab = read(module, s3.get_public_access_block, ["NoSuchPublicAccessBlockConfiguration"], Bucket=name)
        own = read(module, s3.get_bucket_ownership_controls, ["OwnershipControlsNotFoundError"], Bucket=name)
        lc = read(module, s3.get_bucket_lifecycle_configuration, ["NoSuchLifecycleConfiguration"], Bucket=name)
        have = {
            "versioning": (read(module, s3.get_bucket_versioning, [], Bucket=name) or {}).get("Status"),
            "encryption": {"Rules": [{"ApplyServerSideEncryptionByDefault": r.get("ApplyServerSideEncryptionByDefault")}
                                     for r in (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])]},
            "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
            "ownership": {"Rules": (own or {}).get("OwnershipControls", {}).get("Rules", [])},
            "policy": json.loads(policy["Policy"]) if policy else None,
            "lifecycle": {"Rules": [{k: r[k] for k in ("ID", "Status", "Filter", "NoncurrentVersionExpiration") if k in r}
                                    for r in (lc or {}).get("Rules", [])]},
            "tags": have_tags,
        }
    else:
        have = None
    try:
        pointer = ssm.get_parameter(aws_retry=True, Name=p["parameter"])["Parameter"]["Value"]
    except is_boto3_error_code("ParameterNotFound"):
        pointer = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading SSM parameter %s" % p["parameter"])
    if have is not None:
        have["parameter"] = pointer
    wanted["parameter"] = name
    add_tags = tags_to_set((have or {}).get("tags", {}), p["tags"])
    differs = [k for k in wanted if k != "tags" and (have or {}).get(k) != wanted[k]]
    changed = have is None or bool(differs) or bool(add_tags)
    if changed and not module.check_mode:
        try:
            if have is None:
                args = {} if module.region == "us-east-1" else {
                    "CreateBucketConfiguration": {"LocationConstraint": module.region}}
                s3.create_bucket(aws_retry=True, Bucket=name, ObjectOwnership="BucketOwnerEnforced", **args)
                differs = [k for k in wanted if k != "tags" and (k != "parameter" or pointer != name)]
            if "public_access_block" in differs:
                s3.put_public_access_block(aws_retry=True, Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
            if "ownership" in differs:
                s3.put_bucket_ownership_controls(aws_retry=True, Bucket=name, OwnershipControls=OWNERSHIP)
            if "versioning" in differs:
                s3.put_bucket_versioning(aws_retry=True, Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if "encryption" in differs:
                s3.put_bucket_encryption(aws_retry=True, Bucket=name, ServerSideEncryptionConfiguration=ENCRYPTION)
            if "policy" in differs and wanted["policy"]:
                s3.put_bucket_policy(aws_retry=True, Bucket=name, Policy=json.dumps(wanted["policy"]))
            elif "policy" in differs and have is not None:
                s3.delete_bucket_policy(aws_retry=True, Bucket=name)
            if "lifecycle" in differs:
                s3.put_bucket_lifecycle_configuration(aws_retry=True, Bucket=name,
                                                      LifecycleConfiguration=wanted["lifecycle"])
            if "parameter" in differs:
                ssm.put_parameter(aws_retry=True, Name=p["parameter"], Type="String", Value=name, Overwrite=True,
                                  Description="The config bucket of this region (aws-pools.yml; docs/boot.md)")
            if add_tags or have is None:
                # PutBucketTagging replaces the set: the tags there stay, ours are added.
                s3.put_bucket_tagging(aws_retry=True, Bucket=name, Tagging={"TagSet": tag_list(
                    dict((have or {}).get("tags", {}), **{k: str(v) for k, v in p["tags"].items()}))})
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="converging the config bucket %s" % name)
    module.exit_json(**result(changed, have, dict(wanted, tags=dict((have or {}).get("tags", {}), **add_tags)),
                              bucket=name))


if __name__ == "__main__":
    main()
