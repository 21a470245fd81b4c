#!/usr/bin/python
"""Suspends or resumes named scaling processes of one Auto Scaling group.

Why a module: amazon.aws.autoscaling_group's suspend_processes sets the whole
list of suspended processes, so resuming ours would also resume processes that
someone else suspended. This one suspends exactly the processes asked for and
reports which of them were suspended already, so that the caller resumes only
what it suspended itself.
"""
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

DOCUMENTATION = r"""
module: asg_processes
short_description: Suspend or resume named scaling processes of an Auto Scaling group
options:
  name: {description: Auto Scaling group name., type: str, required: true}
  processes: {description: Process names (ReplaceUnhealthy, AZRebalance, HealthCheck, ...)., type: list, elements: str, required: true}
  state: {description: suspended or resumed., type: str, choices: [suspended, resumed], required: true}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
already_suspended: {description: Requested processes that were suspended before this call., type: list, returned: always}
suspended: {description: Every suspended process of the group after this call., type: list, returned: always}
"""

# AWS Auto Scaling's process names (SuspendProcesses API): anything else is refused by AWS.
PROCESSES = {"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck",
             "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}


def suspended_of(client, module, name):
    try:
        groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    except is_boto3_error_code("ValidationError") as e:
        module.fail_json_aws(e, msg=f"Auto Scaling group {name}")
    if not groups:
        module.fail_json(msg=f"name: no Auto Scaling group {name} in {module.region}")
    return sorted(p["ProcessName"] for p in groups[0].get("SuspendedProcesses", []))


def main():
    module = AnsibleAWSModule(argument_spec={
        "name": {"type": "str", "required": True},
        "processes": {"type": "list", "elements": "str", "required": True},
        "state": {"type": "str", "choices": ["suspended", "resumed"], "required": True},
    }, supports_check_mode=True)
    name, wanted, state = module.params["name"], module.params["processes"], module.params["state"]
    unknown = sorted(set(wanted) - PROCESSES)
    if unknown:
        module.fail_json(msg=f"processes: {unknown} are not Auto Scaling processes (known: {sorted(PROCESSES)})")
    client = module.client("autoscaling")
    before = suspended_of(client, module, name)
    already = [p for p in wanted if p in before]
    todo = [p for p in wanted if p not in before] if state == "suspended" else already
    if todo and not module.check_mode:
        call = client.suspend_processes if state == "suspended" else client.resume_processes
        call(AutoScalingGroupName=name, ScalingProcesses=todo)
    after = before if module.check_mode or not todo else suspended_of(client, module, name)
    module.exit_json(changed=bool(todo), already_suspended=already, suspended=after)


if __name__ == "__main__":
    main()
