#!/usr/bin/python
# -*- coding: utf-8 -*-
"""The inventory service's policy, as an inline policy on the IAM role it runs as.

The role stays the operator's (an instance profile's role on the management host, or the role
aws.assume_role_arn names); aws-pools.yml keeps one inline policy on it, teleport-ha-inventory-service:
exactly what `inventory-service list`, `serve` and `known-hosts` call, on the cluster's own pools
(module_utils/teleport_cluster_config.py, inventory_service_policy). Written only when it differs;
nothing else on the role is touched.
"""

DOCUMENTATION = r"""
module: teleport_aws_inventory_policy
short_description: Keep the inventory service's policy on the IAM role it runs as
description:
  - Puts the inline policy teleport-ha-inventory-service on the role when it is missing or differs. Check mode and
    --diff supported. Returns the policy document.
options:
  iam_role: {type: str, required: true, description: The IAM role's name or ARN.}
  pools: {type: list, elements: dict, required: true, description: "Every pool of the cluster: region and asg (group name)."}
  membership_parameter: {type: str, required: true, description: The membership record's SSM parameter.}
  host_keys: {type: bool, default: true, description: "Allow ec2:GetConsoleOutput on the pools' instances (known-hosts)."}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
policy_name: {description: The inline policy's name, type: str, returned: always}
policy: {description: The policy document, type: dict, returned: always}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible.module_utils.teleport_aws import result
from ansible.module_utils.teleport_cluster_config import INVENTORY_SERVICE_POLICY_NAME, inventory_service_policy
from ansible.module_utils.teleport_iam_inline import bare_name, keep_inline_policy, partition_and_account
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            iam_role=dict(type="str", required=True),
            pools=dict(type="list", elements="dict", required=True),
            membership_parameter=dict(type="str", required=True),
            host_keys=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    retry = AWSRetry.jittered_backoff()
    iam = module.client("iam", retry_decorator=retry)
    partition, account = partition_and_account(module, module.client("sts", retry_decorator=retry))
    try:
        doc = inventory_service_policy(partition, account, p["pools"], p["membership_parameter"], p["host_keys"])
    except (ValueError, KeyError) as e:
        module.fail_json(msg="pools: %s" % e)
    role = bare_name(p["iam_role"])
    name = INVENTORY_SERVICE_POLICY_NAME
    try:
        iam.get_role(aws_retry=True, RoleName=role)
    except is_boto3_error_code("NoSuchEntity"):
        module.fail_json(msg="IAM role %s does not exist: create the role the inventory service runs as "
                             "(aws_pools_inventory_service_iam_role names it), or set that variable to ''" % role)
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading role %s" % role)
    changed, before, after = keep_inline_policy(module, iam, [role], name, doc)
    module.exit_json(**result(changed, before, after, policy_name=name, policy=doc))

if __name__ == "__main__":
    main()
