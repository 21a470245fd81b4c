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
    sts = module.client("sts", retry_decorator=retry)
    iam = module.client("iam", retry_decorator=retry)
    try:
        ident = sts.get_caller_identity(aws_retry=True)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="reading the account id (sts:GetCallerIdentity)")
    partition = ident["Arn"].split(":")[1]
    try:
        doc = inventory_service_policy(partition, ident["Account"], p["pools"], p["membership_parameter"],
                                       p["host_keys"])
    except (ValueError, KeyError) as e:
        module.fail_json(msg="pools: %s" % e)
    role = p["iam_role"].rsplit("/", 1)[-1] if p["iam_role"].startswith("arn:") else p["iam_role"]
    name = INVENTORY_SERVICE_POLICY_NAME
    try:
        iam.get_role(aws_retry=True, RoleName=role)
    except is_boto3_error_code("NoSuchEntity"):
        module.fail_json(msg="IAM role %s does not exist: create the role the inventory service runs as "
                             "(aws_pools_inventory_service_iam_role names it), or set that variable to ''" % role)
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading role %s" % role)
    try:
        have = iam.get_role_policy(aws_retry=True, RoleName=role, PolicyName=name)["PolicyDocument"]
    except is_boto3_error_code("NoSuchEntity"):
        have = None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading policy %s of role %s" % (name, role))
    changed = have != doc
    if changed and not module.check_mode:
        try:
            iam.put_role_policy(aws_retry=True, RoleName=role, PolicyName=name, PolicyDocument=module.jsonify(doc))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="writing policy %s of role %s" % (name, role))
    module.exit_json(**result(changed, {role: have} if have is not None else {}, {role: doc},
                              policy_name=name, policy=doc))


if __name__ == "__main__":
    main()
