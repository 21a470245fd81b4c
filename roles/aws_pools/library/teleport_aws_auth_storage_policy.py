#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The auth pool's storage policy, as an inline policy on the role of the auth pool's instance profile.

What the auth servers' Teleport does with the storage teleport.yaml names: the cluster state table and its stream,
the audit events table, the recordings bucket and its KMS key (module_utils/teleport_cluster_config.py,
auth_storage_policy: Teleport's documented statements, scoped to those resources). aws-pools.yml keeps one inline
policy on the role, teleport-ha-auth-storage, written only when it differs, removed when the storage needs no AWS
permission; nothing else on the role is touched.
"""

DOCUMENTATION = r"""
module: teleport_aws_auth_storage_policy
short_description: Keep the auth pool's storage policy on its instance profile's role
description:
  - Puts the inline policy teleport-ha-auth-storage on every role of the instance profile when it is missing or
    differs, and deletes it when the storage needs no AWS permission. Check mode and --diff supported.
options:
  instance_profile: {type: str, required: true, description: The auth pool's instance profile (name or ARN).}
  storage_region: {type: str, required: true, description: "The region of the tables and bucket (teleport_storage_region, else the auth region)."}
  storage_type: {type: str, required: true, description: teleport_storage_type.}
  table_name: {type: str, default: "", description: teleport_dynamodb_table_name.}
  audit_events_uris: {type: list, elements: str, default: [], description: teleport_storage_audit_events_uri.}
  audit_sessions_uri: {type: str, default: "", description: teleport_storage_audit_sessions_uri.}
  continuous_backups: {type: bool, default: true, description: teleport_dynamodb_continuous_backups.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
policy_name: {description: The inline policy's name, type: str, returned: always}
policy: {description: The policy document, or null when the storage needs none, type: dict, returned: always}
"""

from ansible.module_utils.teleport_aws import result
from ansible.module_utils.teleport_cluster_config import AUTH_STORAGE_POLICY_NAME, auth_storage_policy
from ansible.module_utils.teleport_iam_inline import instance_profile_roles, keep_inline_policy, partition_and_account
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_profile=dict(type="str", required=True),
            storage_region=dict(type="str", required=True),
            storage_type=dict(type="str", required=True),
            table_name=dict(type="str", default=""),
            audit_events_uris=dict(type="list", elements="str", default=[]),
            audit_sessions_uri=dict(type="str", default=""),
            continuous_backups=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    iam = module.client("iam", retry_decorator=retry)
    partition, account = partition_and_account(module, module.client("sts", retry_decorator=retry))
    try:
        doc = auth_storage_policy(partition, account, p["storage_region"], p["storage_type"], p["table_name"],
                                  p["audit_events_uris"], p["audit_sessions_uri"], p["continuous_backups"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    name = AUTH_STORAGE_POLICY_NAME
    roles = instance_profile_roles(module, iam, p["instance_profile"], "aws_pools_auth_instance_profile")
    changed, before, after = keep_inline_policy(module, iam, roles, name, doc)
    module.exit_json(**result(changed, before, after, policy_name=name, policy=doc))

if __name__ == "__main__":
    main()
