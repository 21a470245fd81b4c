#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The read-only policy a pool's instances boot with, on the role of the pool's instance profile.

The instance profiles stay the operator's (they carry the backend's and the recordings' permissions,
which are not this playbook's to decide); aws-pools.yml keeps one inline policy on each profile's
role, teleport-ha-boot-<pool role>: exactly what teleport-ha-boot, the drain and the health reporter
call, on the cluster's own resources of that pool role (module_utils/teleport_cluster_config.py,
boot_policy). Written only when it differs; nothing else on the role is touched.
"""

DOCUMENTATION = r"""
module: teleport_aws_boot_policy
short_description: Keep the boot policy of one pool role on its instance profile's role
description:
  - Reads the instance profile's role(s) and puts the inline policy teleport-ha-boot-<role> when it is missing or
    differs. Check mode and --diff supported. Returns the policy document.
options:
  instance_profile: {type: str, required: true, description: Instance profile name or ARN.}
  role: {type: str, required: true, choices: [auth, proxy], description: The pool role.}
  pools: {type: list, elements: dict, required: true, description: "The role's pools: region and asg (group name)."}
  short_name: {type: str, required: true, description: aws_cluster_short_name (the config buckets' prefix).}
  parameter_prefix: {type: str, required: true, description: The published configuration's SSM parameter prefix.}
  secret_prefix: {type: str, required: true, description: The published secrets' name prefix.}
  membership_parameter: {type: str, required: true, description: The membership record's SSM parameter.}
  kit_key: {type: str, required: true, description: The boot kit's object key.}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
policy_name: {description: The inline policy's name, type: str, returned: always}
policy: {description: The policy document, type: dict, returned: always}
iam_roles: {description: The roles it is on, type: list, returned: always}
"""

from ansible.module_utils.teleport_aws import result
from ansible.module_utils.teleport_cluster_config import boot_policy, policy_name
from ansible.module_utils.teleport_iam_inline import instance_profile_roles, keep_inline_policy, partition_and_account
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_profile=dict(type="str", required=True),
            role=dict(type="str", required=True, choices=["auth", "proxy"]),
            pools=dict(type="list", elements="dict", required=True),
            short_name=dict(type="str", required=True),
            parameter_prefix=dict(type="str", required=True),
            secret_prefix=dict(type="str", required=True),
            membership_parameter=dict(type="str", required=True),
            kit_key=dict(type="str", required=True, no_log=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    iam = module.client("iam", retry_decorator=retry)
    partition, account = partition_and_account(module, module.client("sts", retry_decorator=retry))
    try:
        doc = boot_policy(partition, account, [dict(pool, role=p["role"]) for pool in p["pools"]],
                          p["parameter_prefix"], p["secret_prefix"], p["membership_parameter"], p["short_name"],
                          p["kit_key"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    name = policy_name(p["role"])
    roles = instance_profile_roles(
        module, iam, p["instance_profile"], "aws_pools_%s_instance_profile" % p["role"],
        "instance profile %%s holds no role, so its instances have no credentials to boot with: add the %s pool's "
        "role to it" % p["role"])
    changed, before, after = keep_inline_policy(module, iam, roles, name, doc)
    module.exit_json(**result(changed, before, after, policy_name=name, policy=doc, iam_roles=roles))

if __name__ == "__main__":
    main()
