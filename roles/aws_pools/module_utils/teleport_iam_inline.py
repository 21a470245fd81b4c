# -*- coding: utf-8 -*-
"""What the modules that keep an inline policy on an operator's role share (teleport_aws_boot_policy,
teleport_aws_inventory_policy, teleport_aws_auth_storage_policy): the caller's partition and account, the roles of
an instance profile, and the policy written only where it differs (or deleted where it is not wanted)."""
try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code


def partition_and_account(module, sts):
    try:
        ident = sts.get_caller_identity(aws_retry=True)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="reading the account id (sts:GetCallerIdentity)")
    return ident["Arn"].split(":")[1], ident["Account"]


def bare_name(name_or_arn):
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def instance_profile_roles(module, iam, instance_profile, variable, empty_msg=None):
    """The role names of an instance profile; fails naming variable when it does not exist, and with empty_msg when
    it holds no role (if given)."""
    profile = bare_name(instance_profile)
    try:
        roles = [r["RoleName"] for r in iam.get_instance_profile(
            aws_retry=True, InstanceProfileName=profile)["InstanceProfile"]["Roles"]]
    except is_boto3_error_code("NoSuchEntity"):
        module.fail_json(msg="instance profile %s does not exist: create it with a role EC2 may assume (the "
                             "%s variable names it)" % (profile, variable))
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="reading instance profile %s" % profile)
    if not roles and empty_msg:
        module.fail_json(msg=empty_msg % profile)
    return roles


def keep_inline_policy(module, iam, roles, name, doc):
    """Puts doc as the inline policy name on each role where it differs, or deletes it where doc is None; honours
    check mode. Returns (changed, before, after): {role: document} as it was and as it is wanted."""
    before, after, changed = {}, {}, False
    for role in roles:
        try:
            have = iam.get_role_policy(aws_retry=True, RoleName=role, PolicyName=name)["PolicyDocument"]
        except is_boto3_error_code("NoSuchEntity"):
            have = None
        except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg="reading policy %s of role %s" % (name, role))
        if have is not None:
            before[role] = have
        if doc is not None:
            after[role] = doc
        if have == doc:
            continue
        changed = True
        if module.check_mode:
            continue
        try:
            if doc is None:
                iam.delete_role_policy(aws_retry=True, RoleName=role, PolicyName=name)
            else:
                iam.put_role_policy(aws_retry=True, RoleName=role, PolicyName=name, PolicyDocument=module.jsonify(doc))
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="writing policy %s of role %s" % (name, role))
    return changed, before, after
