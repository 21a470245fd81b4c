"""The Auto Scaling lifecycle double (harness/edge/autoscaling_double.py) in front of a real moto:
groups made with both hooks through boto3 pointed at the ec2-double's API, instances held in
Pending:Wait and Terminating:Wait, lifecycle actions completed, heartbeated and timed out (an
injected clock, driven with tick()), scale-in by the termination policy through the termination
hook, health-based replacement (SetInstanceHealth, and target health from the ELBv2 target health
double for HealthCheckType ELB only), AWS's refusals, IMDS target-lifecycle-state, the boot agent's
own calls, and the ec2-double without --autoscaling-lifecycle answering as moto does."""
import http.client
import importlib.util
import json
import os
import sys
import threading
import urllib.parse
import zlib

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import Proc, free_port, wait_until

from harness.edge import autoscaling_double, ec2_double, ec2_metadata, elbv2_double
from harness.edge.common import EdgeError, Layout, Logger, utc_now
from harness.moto import MotoServer
from harness.util import REPO

A = "us-west-2"
NET = "127.57.1"  # the instances' private IPs: loopback addresses stand for a region bridge
LAUNCH, TERMINATE = "teleport-launch", "teleport-terminate"
T0 = 1_000_000.0


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = MotoServer(log_path=str(tmp_path_factory.mktemp("asg") / "moto.log")).start()
    try:
        yield m
    finally:
        m.stop()


def _client(service, endpoint):
    return boto3.client(service, region_name=A, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


class Rig:
    """A fresh moto world (a subnet, a launch template) and the ec2-double's API with the lifecycle
    double, in this process on a thread, with a clock the test moves."""

    def __init__(self, moto, tmp):
        moto.reset()
        self.moto, self.now, self.lines = moto, [T0], []
        ec2 = moto.client("ec2", A)
        vpc = ec2.create_vpc(CidrBlock=f"{NET}.0/24")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{NET}.0/24", AvailabilityZone=A + "a")["Subnet"]["SubnetId"]
        self.lt = ec2.create_launch_template(LaunchTemplateName="proxy-lt", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.small"})["LaunchTemplate"]["LaunchTemplateId"]

        def log(event, **fields):
            self.lines.append((event, fields))
        self.lc = autoscaling_double.Lifecycle(moto.endpoint, log, clock=lambda: self.now[0], regions=[A])
        os.makedirs(os.path.join(tmp, "consoles"), exist_ok=True)
        api = ec2_double.Api(urllib.parse.urlsplit(moto.endpoint), ec2_double.Consoles(os.path.join(tmp, "consoles")),
                             log, self.lc)
        self.server = ec2_double.serve(("127.0.0.1", 0), api.handle, Logger("test"), "api")
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.asg = _client("autoscaling", self.endpoint)

    def group(self, name="proxy", desired=2, launch_timeout=1200, terminate_timeout=360, launch_default="ABANDON",
              **more):
        """A group made as roles/aws_pools makes it: both hooks given with CreateAutoScalingGroup."""
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": self.lt, "Version": "1"}, MinSize=0,
            MaxSize=4, DesiredCapacity=desired, VPCZoneIdentifier=self.subnet, **more, LifecycleHookSpecificationList=[
                {"LifecycleHookName": LAUNCH, "LifecycleTransition": autoscaling_double.LAUNCHING,
                 "HeartbeatTimeout": launch_timeout, "DefaultResult": launch_default},
                {"LifecycleHookName": TERMINATE, "LifecycleTransition": autoscaling_double.TERMINATING,
                 "HeartbeatTimeout": terminate_timeout, "DefaultResult": "CONTINUE"}])
        return sorted(self.states(name))

    def states(self, name="proxy"):
        """{instance: LifecycleState} as DescribeAutoScalingGroups through the double answers."""
        return {i["InstanceId"]: i["LifecycleState"] for i in self.described(name)["Instances"]}

    def described(self, name="proxy"):
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

    def in_service(self, name="proxy", **group):
        """A group whose instances have all completed their launch hook, at T0: InService."""
        ids = self.group(name, **group)
        for i in ids:
            self.complete(i, name=name)
        return ids

    def motos(self, name="proxy"):
        g = self.moto.client("autoscaling", A).describe_auto_scaling_groups(
            AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return {i["InstanceId"]: i["LifecycleState"] for i in g["Instances"]}, g["DesiredCapacity"]

    def ec2_state(self, iid):
        inst = self.moto.client("ec2", A).describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return inst["State"]["Name"]

    def complete(self, iid, result="CONTINUE", hook=LAUNCH, name="proxy"):
        self.asg.complete_lifecycle_action(LifecycleHookName=hook, AutoScalingGroupName=name,
                                           LifecycleActionResult=result, InstanceId=iid)

    def later(self, seconds):
        self.now[0] += seconds
        self.lc.tick()

    def transitions(self, iid):
        return [f["transition"] for e, f in self.lines if e == "asg_lifecycle" and f.get("instance") == iid
                and "transition" in f]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rig(moto, tmp_path):
    r = Rig(moto, str(tmp_path))
    try:
        yield r
    finally:
        r.close()


def _refused(call, message):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("ValidationError", message), err
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- launch ----------------------------------------------------------------------------------------

def test_a_rewritten_answer_carries_the_checksum_of_what_it_says(rig):
    """moto signs every body with x-amz-crc32 and the AWS SDK for Java checks it: the inventory service
    refused a DescribeAutoScalingGroups answer whose LifecycleState the double had rewritten ("Expected
    ... as the Crc32 checksum") until the header followed the body."""
    a, _ = rig.group()
    headers = {}
    status, body = _signed(rig.endpoint, {"Action": "DescribeAutoScalingGroups",
                                          "AutoScalingGroupNames.member.1": "proxy"}, headers)
    assert status == 200 and "Pending:Wait" in body, body[:500]
    assert headers.get("x-amz-crc32") == str(zlib.crc32(body.encode())), headers

def test_new_instances_wait_in_pending_wait_until_continue_puts_them_in_service(rig):
    a, b = rig.group()
    assert rig.states() == {a: "Pending:Wait", b: "Pending:Wait"}
    assert rig.motos()[0] == {a: "InService", b: "InService"}, "moto's gap, measured: the double holds the wait"
    hooks = rig.moto.client("autoscaling", A).describe_lifecycle_hooks(AutoScalingGroupName="proxy")["LifecycleHooks"]
    assert sorted(h["LifecycleHookName"] for h in hooks) == [LAUNCH, TERMINATE], "the hooks given at creation, in moto"
    listed = rig.asg.describe_auto_scaling_instances(InstanceIds=[a, b])["AutoScalingInstances"]
    assert {i["InstanceId"]: i["LifecycleState"] for i in listed} == {a: "Pending:Wait", b: "Pending:Wait"}
    rig.complete(a)
    assert rig.states() == {a: "InService", b: "Pending:Wait"}
    assert rig.transitions(a) == ["new->Pending:Wait", "Pending:Wait->InService"]
    why = [f["why"] for e, f in rig.lines if f.get("instance") == a and f.get("transition") == "Pending:Wait->InService"]
    assert why == [f"CompleteLifecycleAction {LAUNCH} CONTINUE"]


def test_every_launch_hook_must_continue(rig):
    (a,) = rig.group(desired=1)
    rig.moto.client("autoscaling", A).put_lifecycle_hook(
        AutoScalingGroupName="proxy", LifecycleHookName="second-launch", HeartbeatTimeout=60,
        LifecycleTransition=autoscaling_double.LAUNCHING, DefaultResult="ABANDON")
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=2)
    (b,) = set(rig.states()) - {a}
    assert rig.states()[b] == "Pending:Wait"
    rig.complete(b)
    assert rig.states()[b] == "Pending:Wait", "second-launch has not continued yet"
    rig.complete(b, hook="second-launch")
    assert rig.states()[b] == "InService"
    assert rig.states()[a] == "Pending:Wait", "a hook added later does not hold an instance already launching"
    _refused(lambda: rig.complete(a, hook="second-launch"), f"No active Lifecycle Action found with instance ID {a}")


def test_a_heartbeat_restarts_the_timeout_which_then_takes_the_default_result(rig):
    a, b = rig.group(launch_timeout=30)
    rig.complete(b)
    rig.later(20)
    rig.asg.record_lifecycle_action_heartbeat(LifecycleHookName=LAUNCH, AutoScalingGroupName="proxy", InstanceId=a)
    rig.later(25)  # 45 s after launch, 25 s after the heartbeat
    assert rig.states()[a] == "Pending:Wait"
    rig.later(5)   # 30 s after the heartbeat: DefaultResult ABANDON
    members, desired = rig.motos()
    assert a not in members and rig.ec2_state(a) in ("shutting-down", "terminated")
    assert desired == 2 and len(members) == 2, "abandoned, not decremented: moto launched a replacement"
    (c,) = set(members) - {b}
    assert rig.states() == {b: "InService", c: "Pending:Wait"}, "the replacement is new and waits"
    assert rig.transitions(a) == ["new->Pending:Wait", "Pending:Wait->Terminated"]
    assert any("heartbeat timeout (30 s): DefaultResult ABANDON" in f.get("why", "") for _, f in rig.lines)


def test_heartbeats_cannot_outlast_the_global_timeout(rig):
    (a,) = rig.group(desired=1, launch_timeout=30, launch_default="CONTINUE")
    for _ in range(99):  # 100 x 30 s = 3000 s, less than 48 h
        rig.later(30 - 0.5)
        rig.asg.record_lifecycle_action_heartbeat(LifecycleHookName=LAUNCH, AutoScalingGroupName="proxy", InstanceId=a)
    assert rig.states()[a] == "Pending:Wait"
    rig.later(3000 - 99 * 29.5)
    assert rig.states()[a] == "InService", "the global timeout took DefaultResult CONTINUE"
    assert any("global timeout: DefaultResult CONTINUE" in f.get("why", "") for _, f in rig.lines)


def test_abandon_terminates_through_moto_without_the_termination_hook_and_the_replacement_waits(rig):
    a, b = rig.group()
    rig.complete(a, "ABANDON")
    members, desired = rig.motos()
    assert a not in members and rig.ec2_state(a) in ("shutting-down", "terminated")
    (c,) = set(members) - {b}
    assert desired == 2 and rig.states() == {b: "Pending:Wait", c: "Pending:Wait"}
    assert rig.transitions(a) == ["new->Pending:Wait", "Pending:Wait->Terminated"], "no Terminating:Wait"
    _refused(lambda: rig.complete(a, hook=TERMINATE), f"No active Lifecycle Action found with instance ID {a}")


# --- termination -----------------------------------------------------------------------------------

def test_terminate_waits_in_terminating_wait_until_the_hook_continues(rig):
    a, b = rig.group()
    rig.complete(a)
    rig.complete(b)
    act = rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=True)["Activity"]
    assert (act["AutoScalingGroupName"], act["Description"], act["StatusCode"]) == (
        "proxy", f"Terminating EC2 instance: {a}", "InProgress")
    assert act["Cause"].endswith(f"instance {a} was taken out of service in response to a user request, "
                                 "shrinking the capacity from 2 to 1.")
    assert rig.states() == {a: "Terminating:Wait", b: "InService"}
    assert rig.lc.target_lifecycle_state(A, a) == "Terminated"
    assert rig.lc.target_lifecycle_state(A, b) == "InService"
    assert rig.ec2_state(a) == "running" and a in rig.motos()[0], "moto is told only when the hook completes"
    again = rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=True)
    assert again["Activity"]["StatusCode"] == "InProgress" and rig.states()[a] == "Terminating:Wait"
    rig.asg.record_lifecycle_action_heartbeat(LifecycleHookName=TERMINATE, AutoScalingGroupName="proxy", InstanceId=a)
    rig.complete(a, hook=TERMINATE)
    members, desired = rig.motos()
    assert (members, desired) == ({b: "InService"}, 1), "ShouldDecrementDesiredCapacity honoured"
    assert rig.ec2_state(a) in ("shutting-down", "terminated")
    assert rig.transitions(a)[-2:] == ["InService->Terminating:Wait", "Terminating:Wait->Terminated"]
    assert rig.lc.target_lifecycle_state(A, a) is None


def test_the_termination_hooks_timeout_terminates_and_moto_replaces_without_decrement(rig):
    a, b = rig.group(terminate_timeout=60)
    rig.complete(a)
    rig.complete(b)
    rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=False)
    rig.later(59)
    assert rig.states()[a] == "Terminating:Wait"
    rig.later(1)
    members, desired = rig.motos()
    assert a not in members and desired == 2 and len(members) == 2
    (c,) = set(members) - {b}
    assert rig.states() == {b: "InService", c: "Pending:Wait"}


def test_a_group_without_a_termination_hook_terminates_at_once(rig):
    rig.asg.create_auto_scaling_group(AutoScalingGroupName="plain", LaunchTemplate={"LaunchTemplateId": rig.lt},
                                      MinSize=0, MaxSize=2, DesiredCapacity=1, VPCZoneIdentifier=rig.subnet)
    (a,) = rig.states("plain")
    assert rig.states("plain") == {a: "InService"}, "no launch hook: in service at once"
    rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=True)
    assert rig.motos("plain") == ({}, 0) and rig.ec2_state(a) in ("shutting-down", "terminated")


# --- scale-in ----------------------------------------------------------------------------------------

def test_scale_in_holds_the_chosen_instance_in_terminating_wait_and_the_desired_capacity_reads_at_once(rig):
    a, b = rig.in_service()
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=1)
    assert rig.described()["DesiredCapacity"] == 1, "the new value at once, as AWS answers it"
    assert rig.states() == {a: "Terminating:Wait", b: "InService"}, "one AZ, one template version: the lowest ID"
    assert rig.motos() == ({a: "InService", b: "InService"}, 2), "moto terminated nothing: it is told when the hook ends"
    assert rig.ec2_state(a) == "running" and rig.lc.target_lifecycle_state(A, a) == "Terminated"
    rig.complete(a, hook=TERMINATE)
    assert rig.motos() == ({b: "InService"}, 1) and rig.described()["DesiredCapacity"] == 1
    assert rig.ec2_state(a) in ("shutting-down", "terminated")
    assert rig.transitions(a)[-2:] == ["InService->Terminating:Wait", "Terminating:Wait->Terminated"]
    # UpdateAutoScalingGroup: a MaxSize below the desired capacity sets it; the hook's timeout (CONTINUE) ends it.
    rig.asg.update_auto_scaling_group(AutoScalingGroupName="proxy", MaxSize=0)
    g = rig.described()
    assert (g["DesiredCapacity"], g["MaxSize"]) == (0, 0) and rig.states() == {b: "Terminating:Wait"}
    assert rig.motos()[0] == {b: "InService"}
    rig.later(359)
    assert rig.states() == {b: "Terminating:Wait"}
    rig.later(1)
    assert rig.motos() == ({}, 0) and rig.described()["Instances"] == []


def test_scale_in_picks_by_the_termination_policy_and_never_a_protected_instance(rig):
    ec2 = rig.moto.client("ec2", A)
    a, b = rig.in_service()
    # Template version 2 for the next launch (moto launches the template's default version).
    ec2.create_launch_template_version(LaunchTemplateId=rig.lt, LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.medium"})
    ec2.modify_launch_template(LaunchTemplateId=rig.lt, DefaultVersion="2")
    rig.asg.update_auto_scaling_group(AutoScalingGroupName="proxy", LaunchTemplate={"LaunchTemplateId": rig.lt,
                                                                                     "Version": "2"})
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=3)
    (c,) = set(rig.states()) - {a, b}
    rig.complete(c)
    # A fourth instance in another Availability Zone (moto launches every group instance in its first subnet).
    vpc = ec2.create_vpc(CidrBlock="127.57.2.0/24")["Vpc"]["VpcId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="127.57.2.0/24", AvailabilityZone=A + "b")["Subnet"]["SubnetId"]
    d = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=other)["Instances"][0]["InstanceId"]
    rig.asg.attach_instances(AutoScalingGroupName="proxy", InstanceIds=[d])
    rig.complete(d)
    rig.asg.set_instance_protection(AutoScalingGroupName="proxy", InstanceIds=[a], ProtectedFromScaleIn=True)
    assert rig.described()["DesiredCapacity"] == 4 and set(rig.states().values()) == {"InService"}

    # 2a holds a (protected), b (v1), c (v2); 2b holds d: the AZ with the most, then the oldest version.
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=3)
    assert rig.states() == {a: "InService", b: "Terminating:Wait", c: "InService", d: "InService"}
    # Then c (2a still has two), then d (2a's last instance is protected).
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=1)
    assert rig.states() == {a: "InService", b: "Terminating:Wait", c: "Terminating:Wait", d: "Terminating:Wait"}
    assert rig.described()["DesiredCapacity"] == 1 and len(rig.motos()[0]) == 4
    for i in (b, c, d):
        rig.complete(i, hook=TERMINATE)
    assert rig.motos() == ({a: "InService"}, 1)

    # Protection holds a below the desired capacity; once lifted, the group reaches it.
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=0)
    rig.later(1)
    assert rig.described()["DesiredCapacity"] == 0 and rig.states() == {a: "InService"}
    assert any(f.get("held") == 1 for _, f in rig.lines)
    rig.asg.set_instance_protection(AutoScalingGroupName="proxy", InstanceIds=[a], ProtectedFromScaleIn=False)
    rig.later(1)
    assert rig.states() == {a: "Terminating:Wait"}
    rig.complete(a, hook=TERMINATE)
    assert rig.motos() == ({}, 0) and rig.described()["DesiredCapacity"] == 0


def test_scale_in_without_a_termination_hook_terminates_at_once_by_the_policy(rig):
    rig.asg.create_auto_scaling_group(AutoScalingGroupName="plain", LaunchTemplate={"LaunchTemplateId": rig.lt},
                                      MinSize=0, MaxSize=3, DesiredCapacity=3, VPCZoneIdentifier=rig.subnet)
    a, b, c = sorted(rig.states("plain"))
    rig.asg.set_instance_protection(AutoScalingGroupName="plain", InstanceIds=[a], ProtectedFromScaleIn=True)
    rig.asg.set_desired_capacity(AutoScalingGroupName="plain", DesiredCapacity=1)
    assert rig.motos("plain") == ({a: "InService"}, 1)
    assert rig.ec2_state(b) in ("shutting-down", "terminated") and rig.ec2_state(c) in ("shutting-down", "terminated")


def test_a_desired_capacity_outside_min_and_max_is_refused_as_aws_refuses_it(rig):
    a, b = rig.in_service()
    rig.asg.update_auto_scaling_group(AutoScalingGroupName="proxy", MinSize=1)
    _refused(lambda: rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=5),
             "New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup.")
    _refused(lambda: rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=0),
             "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.")
    _refused(lambda: rig.asg.update_auto_scaling_group(AutoScalingGroupName="proxy", DesiredCapacity=9),
             "Desired capacity:9 must be between the specified min size:1 and max size:4")
    _refused(lambda: rig.asg.update_auto_scaling_group(AutoScalingGroupName="proxy", MinSize=3, DesiredCapacity=2),
             "Desired capacity:2 must be between the specified min size:3 and max size:4")
    g = rig.described()
    assert (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]) == (1, 4, 2)
    assert rig.motos() == ({a: "InService", b: "InService"}, 2)


# --- health --------------------------------------------------------------------------------------------

def _health(rig, name="proxy"):
    return {i["InstanceId"]: i["HealthStatus"] for i in rig.described(name)["Instances"]}


def test_set_instance_health_is_refused_in_the_grace_period_and_replaces_after_it(rig):
    a, b = rig.in_service(HealthCheckGracePeriod=300)
    rig.later(100)
    _refused(lambda: rig.asg.set_instance_health(InstanceId=a, HealthStatus="Unhealthy", ShouldRespectGracePeriod=True),
             "The age of the instance (100 seconds) is less than the configured grace period of 300 seconds")
    rig.later(1000)
    assert rig.states() == {a: "InService", b: "InService"} and _health(rig) == {a: "Healthy", b: "Healthy"}
    rig.asg.set_instance_health(InstanceId=a, HealthStatus="Unhealthy")
    assert rig.states() == {a: "Terminating:Wait", b: "InService"}
    assert _health(rig)[a] == "Unhealthy"
    listed = rig.asg.describe_auto_scaling_instances(InstanceIds=[a])["AutoScalingInstances"][0]
    assert (listed["LifecycleState"], listed["HealthStatus"]) == ("Terminating:Wait", "Unhealthy")
    assert rig.motos()[0] == {a: "InService", b: "InService"}, "moto terminates when the hook ends"
    rig.complete(a, hook=TERMINATE)
    members, desired = rig.motos()
    (c,) = set(members) - {b}
    assert a not in members and desired == 2 and rig.states() == {b: "InService", c: "Pending:Wait"}
    # The replacement's grace period starts at InService; ShouldRespectGracePeriod=false does not wait for it.
    rig.complete(c)
    _refused(lambda: rig.asg.set_instance_health(InstanceId=c, HealthStatus="Unhealthy"),
             "The age of the instance (0 seconds) is less than the configured grace period of 300 seconds")
    rig.asg.set_instance_health(InstanceId=c, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    assert rig.states()[c] == "Terminating:Wait"
    assert rig.transitions(c)[-1] == "InService->Terminating:Wait"


class _TargetHealth:
    """The ELBv2 target health double (harness/edge/elbv2_double.py) in this process, over an NLB data
    plane written here, and a target group the groups attach; the lifecycle double reads target health
    from it."""

    def __init__(self, rig, tmp):
        self.rig, self.tmp = rig, tmp
        vpc = rig.moto.client("ec2", A).describe_subnets(SubnetIds=[rig.subnet])["Subnets"][0]["VpcId"]
        self.tg = rig.moto.client("elbv2", A).create_target_group(
            Name="proxy-3080", Protocol="TCP", Port=3080, VpcId=vpc, TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        self.double = elbv2_double.Double(Layout(tmp), rig.moto.endpoint, ("127.0.0.1", 0), log=lambda *a, **k: None)
        threading.Thread(target=self.double.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self.endpoint = "http://127.0.0.1:%d" % self.double.server.server_address[1]
        rig.lc.elbv2_endpoint = self.endpoint

    def plane(self, states, updated_at=None):
        """The NLB double's view, now (or as written at updated_at): {instance id: up | down}."""
        with open(os.path.join(self.tmp, "nlb-double.json"), "w") as f:
            json.dump({"double": "nlb-double", "updated_at": updated_at or utc_now(), "draining": [], "target_groups": [
                {"arn": self.tg, "deregistration_delay_s": 300,
                 "targets": [{"id": i, "port": 3080, "state": s} for i, s in states.items()]}]}, f)

    def reported(self):
        c = _client("elbv2", self.endpoint)
        return {d["Target"]["Id"]: d["TargetHealth"]["State"]
                for d in c.describe_target_health(TargetGroupArn=self.tg)["TargetHealthDescriptions"]}

    def later(self, seconds, states):
        self.plane(states)
        self.rig.later(seconds)

    def close(self):
        self.double.server.shutdown()
        self.double.server.server_close()


@pytest.fixture
def elb(rig, tmp_path):
    t = _TargetHealth(rig, str(tmp_path))
    try:
        yield t
    finally:
        t.close()


def test_elb_health_type_replaces_an_instance_its_target_group_reports_unhealthy_after_the_grace_period(rig, elb):
    a, b = rig.in_service(TargetGroupARNs=[elb.tg], HealthCheckType="ELB", HealthCheckGracePeriod=60)
    down = {a: "down", b: "up"}
    elb.plane(down)
    assert elb.reported() == {a: "unhealthy", b: "healthy"}
    elb.later(59, down)
    assert rig.states() == {a: "InService", b: "InService"} and _health(rig)[a] == "Healthy", "in its grace period"
    elb.later(1, down)
    assert rig.states() == {a: "Terminating", b: "InService"} and _health(rig)[a] == "Unhealthy", \
        "first deregistered: the target group's deregistration delay (moto's default, 300 s)"
    assert any("target group targetgroup/proxy-3080/" in f.get("why", "") and "reports it unhealthy" in f["why"]
               for _, f in rig.lines if f.get("instance") == a)
    elb.later(300, {b: "up"})
    assert rig.states() == {a: "Terminating:Wait", b: "InService"}
    rig.complete(a, hook=TERMINATE)
    members, desired = rig.motos()
    (c,) = set(members) - {b}
    assert desired == 2 and rig.states() == {b: "InService", c: "Pending:Wait"}, "replaced; the new one waits"
    # Target health nobody measured (the NLB double stopped: its double answers 503) replaces nothing.
    elb.plane({b: "down"}, updated_at="2026-01-01T00:00:00.000Z")
    rig.later(600)
    assert rig.states()[b] == "InService"
    assert any(f.get("note") == "target health unreadable: not counted as unhealthy" for _, f in rig.lines)


def _registered(rig, tg):
    """The targets moto holds registered in tg (what the NLB double forwards to)."""
    return {d["Target"]["Id"] for d in rig.moto.client("elbv2", A).describe_target_health(
        TargetGroupArn=tg)["TargetHealthDescriptions"]}


def test_an_instance_is_a_target_only_in_service_and_is_deregistered_before_its_termination_hook(rig, elb):
    """AWS registers an instance of a group with target groups before it reaches InService, never while it
    waits in Pending:Wait; on termination it deregisters it first and waits the deregistration delay before
    the termination hook (lifecycle-hooks-overview.html, steps 3 to 5). moto registers at launch and never
    deregisters a terminated instance."""
    rig.moto.client("elbv2", A).modify_target_group_attributes(TargetGroupArn=elb.tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "20"}])
    a, b = rig.group(TargetGroupARNs=[elb.tg])
    assert rig.states() == {a: "Pending:Wait", b: "Pending:Wait"}
    assert _registered(rig, elb.tg) == set(), "moto registered them at launch; the double took them out"
    rig.complete(a)
    assert _registered(rig, elb.tg) == {a} and rig.states()[a] == "InService"
    rig.complete(b)
    assert _registered(rig, elb.tg) == {a, b}
    rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=False)
    assert rig.states()[a] == "Terminating" and _registered(rig, elb.tg) == {b}, "deregistered first"
    _refused(lambda: rig.complete(a, hook=TERMINATE), f"No active Lifecycle Action found with instance ID {a}")
    rig.later(19)
    assert rig.states()[a] == "Terminating"
    rig.later(1)
    assert rig.states()[a] == "Terminating:Wait", "the termination hook once the delay is over"
    rig.complete(a, hook=TERMINATE)
    members, _ = rig.motos()
    (c,) = set(members) - {b}
    assert rig.states() == {b: "InService", c: "Pending:Wait"}
    assert _registered(rig, elb.tg) == {b}, "neither the terminated instance (moto keeps it) nor its waiting replacement"
    rig.complete(c)
    assert _registered(rig, elb.tg) == {b, c}
    # Scale-in drains the same way, and a target the group never held (an operator's) is left alone.
    rig.moto.client("elbv2", A).register_targets(TargetGroupArn=elb.tg, Targets=[{"Id": "i-0123456789abcdef0"}])
    rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=1)
    (leaving,) = [i for i, st in rig.states().items() if st == "Terminating"]
    assert _registered(rig, elb.tg) == {b, c, "i-0123456789abcdef0"} - {leaving}
    assert rig.described()["DesiredCapacity"] == 1


def test_ec2_health_type_never_replaces_for_target_health_but_replaces_a_stopped_instance(rig, elb):
    a, b = rig.in_service(TargetGroupARNs=[elb.tg], HealthCheckType="EC2", HealthCheckGracePeriod=60)
    down = {a: "down", b: "down"}  # a shared dependency down: every target fails its checks
    elb.plane(down)
    assert elb.reported() == {a: "unhealthy", b: "unhealthy"}
    for _ in range(3):
        elb.later(3600, down)
    assert rig.states() == {a: "InService", b: "InService"} and _health(rig) == {a: "Healthy", b: "Healthy"}
    assert rig.motos() == ({a: "InService", b: "InService"}, 2)
    # EC2's own check still holds: an instance not running is replaced.
    rig.moto.client("ec2", A).stop_instances(InstanceIds=[b])
    elb.later(1, down)
    assert rig.states()[b] == "Terminating" and _health(rig)[b] == "Unhealthy", "deregistered first"
    elb.later(300, down)
    assert rig.states()[b] == "Terminating:Wait"


# --- refusals ----------------------------------------------------------------------------------------

def _signed(endpoint, params, answer=None):
    """A raw Auto Scaling query request signed as boto3 signs it (boto3 would refuse it first); answer,
    a dict, gets the response's headers."""
    body = urllib.parse.urlencode({"Version": "2011-01-01", **params})
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("testing", "testing"), "autoscaling", A).add_auth(req)
    url = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers))
        r = conn.getresponse()
        if answer is not None:
            answer.update({k.lower(): v for k, v in r.getheaders()})
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_lifecycle_calls_are_refused_as_aws_refuses_them(rig):
    a, b = rig.group()
    asg = rig.asg

    def complete(**kw):
        args = {"LifecycleHookName": LAUNCH, "AutoScalingGroupName": "proxy", "LifecycleActionResult": "CONTINUE",
                "InstanceId": a} | kw
        return lambda: asg.complete_lifecycle_action(**{k: v for k, v in args.items() if v is not None})
    _refused(complete(AutoScalingGroupName="nope"), "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
    _refused(complete(LifecycleHookName="nope"), "No Lifecycle Hook found with name 'nope' for group 'proxy'")
    _refused(complete(LifecycleActionResult="MAYBE"), "Invalid LifecycleActionResult 'MAYBE': specify CONTINUE or ABANDON")
    _refused(complete(InstanceId=None), "Either an InstanceId or a LifecycleActionToken must be specified")
    _refused(complete(LifecycleHookName=TERMINATE), f"No active Lifecycle Action found with instance ID {a}")
    wrong = "00000000-0000-4000-8000-000000000000"
    _refused(complete(InstanceId=None, LifecycleActionToken=wrong), f"No active Lifecycle Action found with token {wrong}")
    token_b = rig.lc.token(A, b, LAUNCH)
    _refused(complete(LifecycleActionToken=token_b), f"No active Lifecycle Action found with token {token_b}")
    asg.record_lifecycle_action_heartbeat(LifecycleHookName=LAUNCH, AutoScalingGroupName="proxy",
                                          LifecycleActionToken=token_b)
    complete(InstanceId=None, LifecycleActionToken=token_b)()
    assert rig.states()[b] == "InService"
    complete()()
    _refused(complete(), f"No active Lifecycle Action found with instance ID {a}")  # completed twice
    _refused(lambda: asg.record_lifecycle_action_heartbeat(LifecycleHookName=LAUNCH, AutoScalingGroupName="proxy",
                                                           InstanceId=a),
             f"No active Lifecycle Action found with instance ID {a}")  # in service: nothing to heartbeat
    _refused(lambda: asg.terminate_instance_in_auto_scaling_group(InstanceId="i-0123456789abcdef0",
                                                                  ShouldDecrementDesiredCapacity=False),
             "Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0")
    status, body = _signed(rig.endpoint, {"Action": "CompleteLifecycleAction", "AutoScalingGroupName": "proxy",
                                          "InstanceId": a})
    assert status == 400 and "<Code>ValidationError</Code>" in body and (
        "2 validation errors detected: Value null at 'lifecycleHookName' failed to satisfy constraint: Member must "
        "not be null; Value null at 'lifecycleActionResult'") in body, body
    refusals = [f for e, f in rig.lines if "refused" in f]
    assert len(refusals) == 11 and all(f["refused"] == "ValidationError" for f in refusals)


# --- IMDS ------------------------------------------------------------------------------------------

def test_imds_serves_the_target_lifecycle_state_of_the_lifecycle_double(rig):
    a, b = rig.group()
    md = ec2_metadata.Metadata(A, rig.moto.endpoint, lambda *x, **k: None, lifecycle=rig.lc)
    bare = ec2_metadata.Metadata(A, rig.moto.endpoint, lambda *x, **k: None)
    servers = [ec2_double.serve((f"{NET}.1", 0), m.handle, Logger("test"), "imds") for m in (md, bare)]
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    ip = {i["InstanceId"]: i["PrivateIpAddress"] for r in rig.moto.client("ec2", A).describe_instances()["Reservations"]
          for i in r["Instances"]}

    def target(iid, server=0):
        conn = lambda: http.client.HTTPConnection(f"{NET}.1", servers[server].server_address[1], timeout=10,  # noqa: E731
                                                  source_address=(ip[iid], 0))
        c = conn()
        c.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        token = c.getresponse().read().decode()
        c.close()
        c = conn()
        c.request("GET", "/latest/meta-data/autoscaling/target-lifecycle-state",
                  headers={"X-aws-ec2-metadata-token": token})
        r = c.getresponse()
        out = (r.status, r.read().decode())
        c.close()
        return out
    try:
        # AWS: "the state that the instance is transitioning to": InService already in Pending:Wait.
        assert target(a) == (200, "InService")
        rig.complete(a)
        assert target(a) == (200, "InService")
        rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=False)
        assert target(a) == (200, "Terminated")
        assert target(a, server=1)[0] == 404, "no lifecycle double: no autoscaling/ in IMDS"
        plain = rig.moto.client("ec2", A).run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                                        SubnetId=rig.subnet)["Instances"][0]
        ip[plain["InstanceId"]] = plain["PrivateIpAddress"]
        assert target(plain["InstanceId"])[0] == 404, "not in a group: nothing to say"
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


# --- the boot agent's own calls ------------------------------------------------------------------------

def _boot_agent():
    spec = importlib.util.spec_from_file_location("teleport_ha_boot_for_asg_double",
                                                  os.path.join(REPO, "roles/boot_kit/files/teleport_ha_boot.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_boot_agents_complete_and_watch_termination_pass_the_double(rig, tmp_path):
    boot = _boot_agent()
    a, _ = rig.group()
    cfg = {"launch_hook": LAUNCH, "terminate_hook": TERMINATE, "asg": "proxy", "region": A,
           "terminate_heartbeat_seconds": 30, "drain_seconds": 0}

    class Log:
        def __call__(self, msg):
            pass
        loud = __call__

    agent = boot.Boot(cfg, None, None, None, Log(), asg=rig.asg)
    agent.instance_id = a
    agent.complete("CONTINUE")
    assert rig.states()[a] == "InService"

    class Imds:
        def instance_id(self):
            return a

        def target_lifecycle_state(self):
            return rig.lc.target_lifecycle_state(A, a)

    class Host:
        def systemctl(self, *args):
            return 0

    class Paths:
        booted = str(tmp_path / "booted.json")

    def sleep(_):  # the agent's poll: the instance leaves service meanwhile
        if rig.states().get(a) == "InService":
            rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=False)
    assert boot.watch_termination(cfg, Imds(), Paths(), Host(), Log(), asg=rig.asg, sleep=sleep) == 0
    assert a not in rig.motos()[0] and rig.transitions(a)[-1] == "Terminating:Wait->Terminated"


def test_the_boot_agents_unhealthy_report_waits_out_the_grace_period_and_replaces_after_it(rig, tmp_path):
    boot = _boot_agent()
    a, b = rig.in_service(HealthCheckGracePeriod=600)
    cfg = {"asg": "proxy", "region": A}

    class Log:
        def __call__(self, msg):
            pass
        loud = __call__

    class Imds:
        def instance_id(self):
            return a

    class Host:
        def systemctl(self, *args):
            return 0  # teleport.service is-failed

    class Paths:
        booted = str(tmp_path / "booted.json")

    rig.later(300)
    # AWS refuses ShouldRespectGracePeriod=true inside the grace period: the agent keeps its report and sends it
    # again every retry (here each wait moves the double's clock) until the grace period is over, never drops it.
    waits = []

    def sleep(s):
        waits.append(s)
        assert rig.states() == {a: "InService", b: "InService"}, "nothing is replaced inside the grace period"
        rig.later(s)

    assert boot.report_unhealthy(cfg, Imds(), Paths(), Host(), Log(), asg=rig.asg, retry=60, sleep=sleep) == 0
    assert waits == [60] * 5, waits  # refused at 300, 360, ..., 540 s of age; sent at 600 s
    assert rig.states() == {a: "Terminating:Wait", b: "InService"}


# --- the process and its flag ----------------------------------------------------------------------------

def test_listen_takes_loopback_or_a_sandbox_bridge_and_nothing_else():
    assert ec2_double._listen("198.18.1.1:8790", "--listen") == ("198.18.1.1", 8790)
    assert ec2_double._listen("198.19.255.1:8790", "--listen") == ("198.19.255.1", 8790)
    assert ec2_double._listen("127.0.0.1:8790", "--listen") == ("127.0.0.1", 8790)
    for other in ("10.0.0.1:8790", "0.0.0.0:8790", "198.20.0.1:8790", "192.168.1.1:8790"):
        with pytest.raises(EdgeError, match="loopback or the sandbox's bridges"):
            ec2_double._listen(other, "--listen")


def _double(moto, tmp_path, *flags):
    port = free_port()
    os.makedirs(tmp_path / "consoles", exist_ok=True)
    log = str(tmp_path / f"ec2-double-{port}.log")
    p = Proc("ec2", [sys.executable, "-m", "harness.edge.ec2_double", "--listen", f"127.0.0.1:{port}",
                     "--consoles", str(tmp_path / "consoles"), "--region", A, *flags], log, env=moto.env())
    endpoint = f"http://127.0.0.1:{port}"
    wait_until("the ec2-double to answer", lambda: p.alive() and _client("ec2", endpoint).describe_regions(), 30)
    return p, endpoint


def test_without_the_flag_auto_scaling_is_motos(moto, tmp_path):
    rig = Rig(moto, str(tmp_path))
    rig.close()
    p, endpoint = _double(moto, tmp_path)
    try:
        rig.asg = _client("autoscaling", endpoint)
        a, b = rig.group()
        assert rig.states() == {a: "InService", b: "InService"}
        with pytest.raises(Exception, match="500 Internal Server Error"):  # moto: "not implemented"
            rig.complete(a)
        rig.asg.terminate_instance_in_auto_scaling_group(InstanceId=a, ShouldDecrementDesiredCapacity=True)
        assert a not in rig.motos()[0], "moto terminates at once"
        assert "asg_lifecycle" not in p.text()
    finally:
        p.stop()


def test_with_the_flag_the_process_holds_new_instances_and_logs_each_transition(moto, tmp_path):
    rig = Rig(moto, str(tmp_path))
    rig.close()
    p, endpoint = _double(moto, tmp_path, "--autoscaling-lifecycle", "--lifecycle-tick", "0.2")
    try:
        rig.asg = _client("autoscaling", endpoint)
        # Made behind the double's back: its tick finds the instances on its own.
        moto.client("autoscaling", A).create_auto_scaling_group(
            AutoScalingGroupName="proxy", LaunchTemplate={"LaunchTemplateId": rig.lt}, MinSize=0, MaxSize=2,
            DesiredCapacity=1, VPCZoneIdentifier=rig.subnet, LifecycleHookSpecificationList=[])
        (first,) = rig.motos()[0]
        wait_until("the tick to see the group", lambda: f"instance={first} group=proxy transition=new->InService"
                   in p.text(), 10, 0.1)
        rig.asg.put_lifecycle_hook(AutoScalingGroupName="proxy", LifecycleHookName=LAUNCH, HeartbeatTimeout=30,
                                   LifecycleTransition=autoscaling_double.LAUNCHING, DefaultResult="ABANDON")
        rig.asg.set_desired_capacity(AutoScalingGroupName="proxy", DesiredCapacity=2)
        (a,) = set(rig.motos()[0]) - {first}
        assert rig.states() == {first: "InService", a: "Pending:Wait"}
        rig.complete(a)
        assert rig.states()[a] == "InService"
        text = p.text()
        assert "[ec2-double] start part=autoscaling-lifecycle-double" in text
        assert f"[ec2-double] asg_lifecycle region={A} instance={a} group=proxy transition=new->Pending:Wait" in text
        assert f"instance={a} group=proxy transition=Pending:Wait->InService" in text
    finally:
        p.stop()
