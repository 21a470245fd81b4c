#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Publishes, in one region, what a new host of each pool there reads at boot (docs/boot.md).

Three things per region: the boot kit in the region's config bucket (uploaded when its content
differs), per pool role a Secrets Manager secret (written when its value differs) and an SSM
String parameter naming the kit's version and digest and the secret's digest (written when it
differs). Nothing is written when nothing differs, and nothing at all in check mode.
"""

DOCUMENTATION = r"""
module: teleport_cluster_config
short_description: Publish the cluster configuration of the pools in one region
description:
  - Uploads the boot kit to the region's config bucket (made by aws-pools.yml) when its content differs, then
    per pool writes the secret and the SSM parameter when they differ. Check mode and --diff supported; the diff
    shows the parameters and only the digests of the secrets.
options:
  cluster: {type: str, required: true, description: The Teleport cluster name.}
  bucket_parameter: {type: str, required: true, description: "The SSM parameter naming the region's config bucket (aws-pools.yml writes it)."}
  kit: {type: dict, required: true, description: "path, sha256, content_sha256, size, files of the kit built on the controller."}
  kit_key: {type: str, default: boot-kit/kit.tar.gz, description: Object key of the kit in the bucket.}
  pools:
    type: list
    elements: dict
    required: true
    description: "Per pool role of the region: role, parameter, secret (the secret's name), release, vars, inventory."
  secrets:
    type: dict
    required: true
    description: "Role to its secret document's vars and files (never logged)."
  tags: {type: dict, default: {}, description: Tags of a secret or parameter this module creates.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
bucket: {description: The config bucket, type: str, returned: always}
kit_version_id: {description: S3 version of the kit the parameters name, type: str, returned: always}
pools: {description: "Per role: parameter, digest, and which of kit, secret and parameter changed", type: dict, returned: always}
"""

import json

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_cluster_config import (
    canonical,
    digest,
    parameter_document,
    secret_document,
)
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

PENDING_VERSION = "pending:kit-version"


def tag_list(tags):
    return [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())]


def publish_kit(module, s3, bucket, key, kit):
    """(changed, version id, sha256 and size of the object): the object is uploaded when its content
    digest differs. An unchanged content keeps the object there, whose own sha256 the parameter must
    name (gzip's bytes for one content may differ between the controllers' zlib versions)."""
    try:
        s3.head_bucket(aws_retry=True, Bucket=bucket)
    except (BotoCoreError, ClientError) as e:
        module.fail_json(msg="the config bucket %s is missing or not readable in %s (%s): aws-pools.yml creates it; "
                             "run it first" % (bucket, module.region, e))
    try:
        head = s3.head_object(aws_retry=True, Bucket=bucket, Key=key)
        meta = head.get("Metadata", {})
        have, version = meta.get("content-sha256"), head.get("VersionId") or ""
    except is_boto3_error_code(["404", "NoSuchKey", "NotFound"]):
        head, meta, have, version = {}, {}, None, ""
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading s3://%s/%s" % (bucket, key))
    if have == kit["content_sha256"] and version and version != "null" and meta.get("sha256"):
        return False, version, meta["sha256"], head.get("ContentLength", kit["size"])
    if module.check_mode:
        return True, PENDING_VERSION, kit["sha256"], kit["size"]
    try:
        with open(kit["path"], "rb") as body:
            put = s3.put_object(aws_retry=True, Bucket=bucket, Key=key, Body=body, ContentType="application/gzip",
                                Metadata={"sha256": kit["sha256"], "content-sha256": kit["content_sha256"]})
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="uploading the boot kit to s3://%s/%s" % (bucket, key))
    version = put.get("VersionId") or ""
    if not version or version == "null":
        module.fail_json(msg="s3://%s has no versioning: the parameter must name the kit's version. aws-pools.yml "
                             "turns it on; run it." % bucket)
    return True, version, kit["sha256"], kit["size"]


def publish_secret(module, sm, name, wanted, tags):
    """(changed, before digest or None): the secret's value is written when it differs."""
    text = canonical(wanted).decode("utf-8")
    try:
        have_text = sm.get_secret_value(aws_retry=True, SecretId=name)["SecretString"]
        exists = True
    except is_boto3_error_code("ResourceNotFoundException"):
        have_text, exists = None, False
    except is_boto3_error_code("InvalidRequestException") as e:  # pylint: disable=duplicate-except
        module.fail_json(msg="secret %s in %s cannot be read (%s): if it is scheduled for deletion, restore it "
                             "(aws secretsmanager restore-secret --secret-id %s)" % (name, module.region, e, name))
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading secret %s" % name)
    try:
        have = json.loads(have_text) if have_text is not None else None
    except ValueError:
        have = {"unreadable": True}
    before = digest(have) if have is not None else None
    if have == wanted:
        return False, before
    if not module.check_mode:
        try:
            if exists:
                sm.put_secret_value(aws_retry=True, SecretId=name, SecretString=text)
            else:
                sm.create_secret(aws_retry=True, Name=name, SecretString=text, Tags=tag_list(tags),
                                 Description="Teleport cluster: what a new %s host needs and no one else may read "
                                             "(site.yml, tls.yml and upgrade.yml write it; docs/boot.md)" % wanted["role"])
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="writing secret %s" % name)
    return True, before


def publish_parameter(module, ssm, name, wanted, tags):
    """(changed, before): the parameter is written when its document differs."""
    try:
        have_text = ssm.get_parameter(aws_retry=True, Name=name)["Parameter"]["Value"]
    except is_boto3_error_code("ParameterNotFound"):
        have_text = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading SSM parameter %s" % name)
    try:
        have = json.loads(have_text) if have_text is not None else None
    except ValueError:
        have = {"unreadable": have_text}
    if have == wanted:
        return False, have
    if not module.check_mode:
        args = dict(Name=name, Type="String", Value=canonical(wanted).decode("utf-8"),
                    # Standard while it fits in 4 KB, Advanced (8 KB) beyond; AWS picks, per write.
                    Tier="Intelligent-Tiering",
                    Description="Teleport cluster %s: what a new %s host gets (docs/boot.md)" % (wanted["cluster"], wanted["role"]))
        try:
            if have_text is None:
                ssm.put_parameter(aws_retry=True, Tags=tag_list(tags), **args)
            else:
                ssm.put_parameter(aws_retry=True, Overwrite=True, **args)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="writing SSM parameter %s" % name)
    return True, have


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            bucket_parameter=dict(type="str", required=True),
            kit=dict(type="dict", required=True),
            kit_key=dict(type="str", default="boot-kit/kit.tar.gz", no_log=False),
            pools=dict(type="list", elements="dict", required=True),
            # Each value is masked wherever it would appear in this module's output (errors stay readable,
            # which a task-level no_log would hide).
            secrets=dict(type="dict", required=True, no_log=True),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    s3 = module.client("s3", retry_decorator=retry)
    sm = module.client("secretsmanager", retry_decorator=retry)
    ssm = module.client("ssm", retry_decorator=retry)
    try:
        bucket = ssm.get_parameter(aws_retry=True, Name=p["bucket_parameter"])["Parameter"]["Value"]
    except is_boto3_error_code("ParameterNotFound"):
        module.fail_json(msg="SSM parameter %s does not exist in %s, so this region has no config bucket: aws-pools.yml makes "
                             "it (and the parameter); run it first" % (p["bucket_parameter"], module.region))
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading SSM parameter %s" % p["bucket_parameter"])

    kit_changed, version, sha, size = publish_kit(module, s3, bucket, p["kit_key"], p["kit"])
    kit = {"bucket": bucket, "key": p["kit_key"], "version_id": version, "sha256": sha,
           "content_sha256": p["kit"]["content_sha256"], "size": size}
    results, before, after, changed = {}, {}, {}, kit_changed
    for pool in sorted(p["pools"], key=lambda x: x["role"]):
        role = pool["role"]
        secret_in = p["secrets"].get(role) or {}
        wanted_secret = secret_document(p["cluster"], role, secret_in.get("vars") or {}, secret_in.get("files") or {})
        secret_changed, secret_before = publish_secret(module, sm, pool["secret"], wanted_secret, p["tags"])
        doc = parameter_document(p["cluster"], role, module.region, pool["release"], pool["vars"], pool["inventory"],
                                 kit, {"name": pool["secret"], "sha256": digest(wanted_secret)})
        param_changed, have = publish_parameter(module, ssm, pool["parameter"], doc, p["tags"])
        changed = changed or secret_changed or param_changed
        results[role] = {"parameter": pool["parameter"], "digest": doc["digest"], "kit_changed": kit_changed,
                         "secret_changed": secret_changed, "parameter_changed": param_changed}
        before[role] = {"parameter": have, "secret_sha256": secret_before}
        after[role] = {"parameter": doc, "secret_sha256": digest(wanted_secret)}
    module.exit_json(changed=changed, bucket=bucket, kit_version_id=version, pools=results,
                     diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
