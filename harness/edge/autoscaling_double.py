"""autoscaling-lifecycle-double: the Auto Scaling instance lifecycle that moto lacks, for the
ec2-double (harness/edge/ec2_double.py) when it runs with --autoscaling-lifecycle. It is a DOUBLE:
it mirrors what AWS documents, and its log lines say so (event `asg_lifecycle`, `[ec2-double]`).

moto stores lifecycle hooks but puts every instance InService at once, answers "not implemented"
to CompleteLifecycleAction and RecordLifecycleActionHeartbeat, terminates at once (scale-in too,
its first unprotected instances, whatever the termination policy), accepts a desired capacity
outside [MinSize, MaxSize], and records SetInstanceHealth without replacing anything. This double
holds only what moto lacks: each instance's lifecycle state, when it entered InService, its
lifecycle actions (token, deadlines), and a desired capacity that protected instances keep moto
from reaching. Groups, hooks, instances, protection and health status are read from moto at every
tick and request.

What it mirrors (Amazon EC2 Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle hooks",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html, and the pages below):

  * **Launch** ("How lifecycle hooks work", lifecycle-hooks-overview.html; "Amazon EC2 Auto Scaling
    instance lifecycle", ec2-auto-scaling-lifecycle.html): a new instance of a group with an
    autoscaling:EC2_INSTANCE_LAUNCHING hook is `Pending:Wait`, one lifecycle action per launch
    hook, until each is completed or times out. An instance the double sees for the first time is
    new, those present when it first reads a group included: "Lifecycle hook availability" applies
    the hooks to the instances launched when the group is created. CreateAutoScalingGroup's
    LifecycleHookSpecificationList, which moto drops, is put into moto (PutLifecycleHook) before the
    answer, so a group is never seen without the hooks it was created with.
  * **Timeouts** ("Considerations and limitations for lifecycle hooks"): an action times out after
    the hook's HeartbeatTimeout, which RecordLifecycleActionHeartbeat restarts ("Complete a
    lifecycle action", completing-lifecycle-hooks.html); the global timeout is 100 x
    HeartbeatTimeout or 48 hours, whichever is smaller. A timeout takes the hook's DefaultResult.
  * **Results** ("Add lifecycle hooks", adding-lifecycle-hooks.html): on launch, CONTINUE puts the
    instance InService once every launch hook has continued; ABANDON "stops any remaining actions,
    such as other lifecycle hooks" and the group "terminates and replaces the instance": here moto's
    TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity=false, and moto launches
    the replacement, which is new. An abandoned launch goes to termination without the
    termination hooks: the guide lists no termination hook for it ("Lifecycle hook availability"
    names launches and terminations by scaling, creation and deletion) and ABANDON stops remaining
    hooks; AWS's docs do not say more, so this is the double's reading.
  * **Termination** (API reference, TerminateInstanceInAutoScalingGroup): on an instance of a group
    with an autoscaling:EC2_INSTANCE_TERMINATING hook, the answer is the Activity (InProgress), the
    instance is `Terminating:Wait` and moto is told (TerminateInstanceInAutoScalingGroup, with the
    caller's ShouldDecrementDesiredCapacity) only when every termination action has ended: CONTINUE,
    ABANDON (which ends the others) or a timeout. Without such a hook it is moto's, at once.
  * **CompleteLifecycleAction, RecordLifecycleActionHeartbeat** (API reference): ValidationError
    for a missing required parameter (AWS's "1 validation error detected" wording), an unknown
    group (moto's wording for it, "AutoScalingGroup name not found - ..."), a hook the group does
    not have, a LifecycleActionResult other than CONTINUE or ABANDON, neither InstanceId nor
    LifecycleActionToken, and no active action for that instance or token and hook ("No active
    Lifecycle Action found with instance ID i-..." / "... with token ...", as AWS answers, e.g. for a
    hook completed twice or the launch hook of an instance in service). Each action has a token
    (a UUID) which may be given instead of, or with, the InstanceId.
  * **Scale-in** (API reference, SetDesiredCapacity and UpdateAutoScalingGroup; "Control which Auto
    Scaling instances terminate during scale in", ec2-auto-scaling-termination-policies.html; "Use
    instance scale-in protection", ec2-auto-scaling-instance-protection.html): a lower desired
    capacity (given, or implied by a MaxSize below it) is the group's DesiredCapacity at once; the
    instances the termination policy picks (never a protected one) leave through the termination
    hook as above, with a decrement, and moto is given a desired capacity that keeps every instance
    it holds until then. A desired capacity outside [MinSize, MaxSize] is refused with AWS's
    ValidationError. Scale-out is moto's.
  * **Target groups** ("How lifecycle hooks work", lifecycle-hooks-overview.html, steps 3 and 4):
    an instance of a group with TargetGroupARNs is registered with them when its launch completes,
    "before it reaches InService" (never in Pending:Wait: moto registers every instance of the group at
    launch, so the double deregisters what moto registered early, after every call it forwards and
    every tick); on termination "the terminating instance is first deregistered from the load balancer"
    and waits for the deregistration to complete: LifecycleState `Terminating` for the longest
    deregistration_delay.timeout_seconds of its target groups, and only then `Terminating:Wait` (its
    termination hooks) or, without one, terminated. moto never deregisters a terminated instance; the
    double does, so a target group lists only the group's instances in service.
  * **Health** ("Health checks for instances in an Auto Scaling group", ec2-auto-scaling-health-checks.html;
    "Set the health check grace period", health-check-grace-period.html): each tick, an InService
    instance that EC2 does not report running, that SetInstanceHealth marked Unhealthy, or, only for
    HealthCheckType ELB, that a target group of the group reports `unhealthy` (DescribeTargetHealth
    at --elbv2-endpoint) once HealthCheckGracePeriod has passed since InService, is marked
    Unhealthy in moto and leaves without a decrement, through the termination hook; moto launches
    its replacement when it is terminated, which waits through the launch hook. SetInstanceHealth
    Unhealthy inside the grace period is refused unless ShouldRespectGracePeriod is false.
  * **DescribeAutoScalingGroups, DescribeAutoScalingInstances**: moto's answer, with each instance's
    LifecycleState the double's while it waits (Pending:Wait, Terminating:Wait), and each group's
    DesiredCapacity as AWS reports it (moto's counts the instances in Terminating:Wait until they go).
  * **IMDS** ("Retrieve the target lifecycle state through instance metadata",
    retrieving-target-lifecycle-state-through-imds.html): `autoscaling/target-lifecycle-state` is
    "the state that the instance is transitioning to": `InService` from Pending:Wait on (AWS's own
    tutorial, tutorial-lifecycle-hook-instance-metadata.html, polls for InService to complete the
    launch hook), `Terminated` in Terminating:Wait; 404 for an instance the double holds nothing for.

Every transition is one log line: instance, group, from, to, why.

Not modelled: instances moto terminates by itself (EC2 TerminateInstances, DeleteAutoScalingGroup
with ForceDelete), DeleteLifecycleHook with outstanding actions (AWS completes them first),
Pending/Pending:Proceed/Terminating:Proceed as states of their own, AZ rebalancing, instance
maintenance policies (launch before terminate), the min-size refusal of
TerminateInstanceInAutoScalingGroup with a decrement, warm pools, instance refresh, maximum
instance lifetime, Standby, scaling policies and cooldowns, notifications (SNS, SQS, EventBridge),
launch rate limiting after failing hooks, and real timings (the tick is 0.5 s).
"""
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zlib

from botocore.exceptions import BotoCoreError, ClientError

from .common import client, paginate

NAME = "autoscaling-lifecycle-double"
NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
RESULTS = ("CONTINUE", "ABANDON")
# "The global timeout is 48 hours or 100 times the heartbeat timeout, whichever is smaller."
GLOBAL_TIMEOUT_MAX_S = 48 * 3600
GLOBAL_TIMEOUT_FACTOR = 100
# The Auto Scaling actions this double answers or rewrites; every other one is moto's, unchanged.
ACTIONS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "TerminateInstanceInAutoScalingGroup",
           "DescribeAutoScalingGroups", "DescribeAutoScalingInstances", "CreateAutoScalingGroup",
           "SetDesiredCapacity", "UpdateAutoScalingGroup", "SetInstanceHealth")
# The target lifecycle state each state of ours is transitioning to (the IMDS item).
TARGET = {"Pending:Wait": "InService", "InService": "InService", "Terminating": "Terminated",
          "Terminating:Wait": "Terminated"}
# The states of an instance on its way out: deregistering from its target groups, then its termination hooks.
LEAVING = ("Terminating", "Terminating:Wait")
# ELB's default deregistration delay (ELBv2 API, TargetGroupAttribute deregistration_delay.timeout_seconds).
DEFAULT_DEREGISTRATION_DELAY_S = 300
# Target registrations are reconciled after every call the double forwards and at least this often (s).
TARGETS_EVERY_S = 5
XML = [("Content-Type", "text/xml")]
HOOK_FIELDS = ("LifecycleHookName", "LifecycleTransition", "HeartbeatTimeout", "DefaultResult",
               "NotificationMetadata", "NotificationTargetARN", "RoleARN")


class LifecycleError(Exception):
    """An Auto Scaling error answer: code, message, HTTP status (AWS's query-protocol ErrorResponse)."""

    def __init__(self, message, code="ValidationError", status=400):
        super().__init__(message)
        self.code, self.status = code, status


class _Action:
    """One lifecycle action: what moto does not hold about a hook's wait on one instance."""

    def __init__(self, hook, now):
        self.hook = hook["LifecycleHookName"]
        self.timeout = int(hook.get("HeartbeatTimeout") or 3600)
        self.default_result = hook.get("DefaultResult") or "ABANDON"
        self.token = str(uuid.uuid4())
        self.deadline = now + self.timeout
        self.global_deadline = now + min(GLOBAL_TIMEOUT_FACTOR * self.timeout, GLOBAL_TIMEOUT_MAX_S)

    def heartbeat(self, now):
        self.deadline = min(now + self.timeout, self.global_deadline)

    def expired(self, now):
        return now >= min(self.deadline, self.global_deadline)


class _Instance:
    def __init__(self, group, state, actions=(), now=None):
        self.group, self.state = group, state
        self.actions = {a.hook: a for a in actions}
        self.decrement = False
        # Terminating: when its deregistration from the target groups completes (epoch s), and why it leaves.
        self.deregistered_at, self.leave_why = None, None
        # When it entered InService: "with lifecycle hooks, the grace period starts when the instance
        # reaches InService" (health-check-grace-period.html).
        self.in_service_at = now if state == "InService" else None


def _required(params, names):
    missing = [n for n in names if not params.get(n)]
    if missing:
        detail = "; ".join(f"Value null at '{n[0].lower() + n[1:]}' failed to satisfy constraint: Member must not be null"
                           for n in missing)
        raise LifecycleError(f"{len(missing)} validation error{'s' if len(missing) > 1 else ''} detected: {detail}")


def _utc(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _response(action, result_children=()):
    """An Auto Scaling query-protocol answer: <ActionResponse><ActionResult>...</ActionResult>
    <ResponseMetadata><RequestId/></ResponseMetadata></ActionResponse>."""
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}{action}Response")
    result = ET.SubElement(root, f"{{{NS}}}{action}Result")
    for child in result_children:
        result.append(child)
    meta = ET.SubElement(root, f"{{{NS}}}ResponseMetadata")
    ET.SubElement(meta, f"{{{NS}}}RequestId").text = str(uuid.uuid4())
    return 200, XML, ET.tostring(root, encoding="utf-8")


def error_response(e):
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}ErrorResponse")
    err = ET.SubElement(root, f"{{{NS}}}Error")
    ET.SubElement(err, f"{{{NS}}}Type").text = "Sender"
    ET.SubElement(err, f"{{{NS}}}Code").text = e.code
    ET.SubElement(err, f"{{{NS}}}Message").text = str(e)
    ET.SubElement(root, f"{{{NS}}}RequestId").text = str(uuid.uuid4())
    return e.status, XML, ET.tostring(root, encoding="utf-8")


def _members(params, prefix):
    """A query-protocol list of structures (Prefix.member.N.Field) as [dict] in N order."""
    out = {}
    for k, v in params.items():
        if k.startswith(prefix + ".member."):
            n, _, field = k[len(prefix) + 8:].partition(".")
            if n.isdigit() and field:
                out.setdefault(int(n), {})[field] = v
    return [m for _, m in sorted(out.items())]


class Lifecycle:
    """Per-instance Auto Scaling lifecycle state for every region it is asked about (watch(), any
    Auto Scaling request, any IMDS question), over the groups, hooks and instances moto holds."""

    def __init__(self, endpoint, log, clock=time.time, regions=(), elbv2_endpoint=None):
        self.endpoint, self.log, self.clock = endpoint, log, clock
        # Where target health is read for HealthCheckType ELB: the ELBv2 target health double
        # (harness/edge/elbv2_double.py) when there is one; moto's own ELBv2 (every target healthy) else.
        self.elbv2_endpoint = elbv2_endpoint or endpoint
        self.lock = threading.RLock()
        self.regions = set(regions)
        self.instances = {}  # (region, instance id) -> _Instance
        # (region, group) -> the DesiredCapacity asked here while moto's cannot say it yet (scale-in
        # held by protected instances); dropped once moto's, less the decrements on their way, says it.
        self.desired = {}
        # (region, instance id) -> the group the double first saw it in: a target moto registered for it
        # (moto never deregisters a terminated instance) is the group's to deregister, and no one else's.
        self.seen_in = {}
        self._targets_read = {}  # region -> when target registrations were last reconciled (epoch s)

    # -- moto ---------------------------------------------------------------------------------

    def _asg(self, region):
        return client("autoscaling", region, self.endpoint)

    def _groups(self, region, names=None):
        kw = {"AutoScalingGroupNames": names} if names else {}
        return paginate(self._asg(region), "describe_auto_scaling_groups", "AutoScalingGroups", **kw)

    def _hooks(self, region, group):
        return self._asg(region).describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]

    def _terminate_in_moto(self, region, instance_id, decrement):
        try:
            return self._asg(region).terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=decrement)
        except ClientError as e:  # gone meanwhile (moto scaled it in): nothing left to terminate
            self.log("asg_lifecycle", region=region, instance=instance_id, note="moto could not terminate it",
                     error=e.response["Error"].get("Code"))
            return None

    # -- state ----------------------------------------------------------------------------------

    def watch(self, region):
        with self.lock:
            self.regions.add(region)

    def _transition(self, region, iid, group, before, after, why):
        self.log("asg_lifecycle", region=region, instance=iid, group=group, transition=f"{before}->{after}", why=why)

    def sync(self, region):
        """Reads region's groups from moto: instances never seen are new (Pending:Wait under a launch
        hook, else InService), instances moto no longer has are forgotten, and expired actions take
        their hook's DefaultResult. Returns whether an instance was new or gone."""
        with self.lock:
            self.regions.add(region)
            seen, changed = set(), False
            for g in self._groups(region):
                hooks = None
                for inst in g.get("Instances", []):
                    key = (region, inst["InstanceId"])
                    seen.add(key)
                    if key in self.instances:
                        continue
                    if hooks is None:
                        hooks = self._hooks(region, g["AutoScalingGroupName"])
                    self._new(region, g["AutoScalingGroupName"], inst["InstanceId"], hooks)
                    changed = True
                key = (region, g["AutoScalingGroupName"])
                if key in self.desired and self.desired[key] == g["DesiredCapacity"] - self._decrements(*key):
                    del self.desired[key]
            for key in [k for k in self.instances if k[0] == region and k not in seen]:
                st = self.instances.pop(key)
                changed = True
                self._transition(region, key[1], st.group, st.state, "gone",
                                 "no longer in its group in moto (moto terminated or detached it)")
            self._expire(region)
            return changed

    def _new(self, region, group, iid, hooks):
        launch = [h for h in hooks if h.get("LifecycleTransition") == LAUNCHING]
        now = self.clock()
        if launch:
            st = _Instance(group, "Pending:Wait", [_Action(h, now) for h in launch])
            why = "new instance; launch hook" + ("s " if len(launch) > 1 else " ") + ", ".join(sorted(st.actions))
        else:
            st = _Instance(group, "InService", now=now)
            why = "new instance; the group has no launch hook"
        self.instances[(region, iid)] = st
        self.seen_in[(region, iid)] = group
        self._transition(region, iid, group, "new", st.state, why)

    def _expire(self, region):
        now = self.clock()
        for key in [k for k in self.instances if k[0] == region]:
            st = self.instances.get(key)
            for a in list((st.actions if st else {}).values()):
                if key in self.instances and a.hook in st.actions and a.expired(now):
                    which = "global timeout" if now >= a.global_deadline else f"heartbeat timeout ({a.timeout} s)"
                    self._finish(region, key[1], st, a, a.default_result,
                                 f"{a.hook} reached its {which}: DefaultResult {a.default_result}")

    def _finish(self, region, iid, st, action, result, why):
        del st.actions[action.hook]
        if result == "ABANDON":
            st.actions.clear()  # "ABANDON stops any remaining actions, such as other lifecycle hooks"
        if st.actions:
            self.log("asg_lifecycle", region=region, instance=iid, group=st.group, hook=action.hook, result=result,
                     waiting_for=",".join(sorted(st.actions)), why=why)
            return
        if st.state == "Pending:Wait" and result == "CONTINUE":
            # "the instance is registered with the load balancer before it reaches InService"
            found = self._groups(region, [st.group])
            arns = (found[0].get("TargetGroupARNs") or []) if found else []
            if arns:
                self._register(region, arns, [iid], why)
            st.state, st.in_service_at = "InService", self.clock()
            self._transition(region, iid, st.group, "Pending:Wait", "InService", why)
            return
        before = st.state
        del self.instances[(region, iid)]
        decrement = st.decrement if before == "Terminating:Wait" else False
        self._terminate_in_moto(region, iid, decrement)
        self._transition(region, iid, st.group, before, "Terminated",
                         why + ("; moto replaces it" if not decrement else "; desired capacity decremented"))

    def tick(self):
        """One pass over every watched region: discovery, timeouts, a scale-in that protection held
        back, and health checks (AWS runs these periodically, not on API calls)."""
        for region in sorted(self.regions):
            try:
                with self.lock:
                    changed = self.sync(region)
                    self._drained(region)
                    self._reconcile(region)
                    self.check_health(region)
                    if changed or self.clock() - self._targets_read.get(region, 0) >= TARGETS_EVERY_S:
                        self.sync_targets(region)
            except Exception as e:  # moto unreachable: say so, the next tick retries
                self.log("error", listener="asg_lifecycle", region=region, message=f"{type(e).__name__}: {e}")

    # -- target groups ------------------------------------------------------------------------------

    def _elb(self, region):
        return client("elbv2", region, self.endpoint)  # moto's own: registrations are moto's to hold

    def _deregistration_delay(self, region, arns):
        """The longest deregistration_delay.timeout_seconds of the target groups (ELB's default where unset)."""
        delays = []
        for arn in arns:
            try:
                attrs = self._elb(region).describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
            except ClientError:
                continue  # a target group deleted meanwhile: nothing to drain from it
            value = next((a["Value"] for a in attrs if a["Key"] == "deregistration_delay.timeout_seconds"), None)
            delays.append(int(value) if (value or "").isdigit() else DEFAULT_DEREGISTRATION_DELAY_S)
        return max(delays, default=0)

    def _register(self, region, arns, ids, why):
        self._targets(region, arns, ids, why, "register")

    def _deregister(self, region, arns, ids, why):
        self._targets(region, arns, ids, why, "deregister")

    def _targets(self, region, arns, ids, why, verb):
        """RegisterTargets or DeregisterTargets (verb) of instances ids in each target group, in moto."""
        call = getattr(self._elb(region), f"{verb}_targets")
        for arn in arns:
            try:
                call(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])
            except ClientError as e:  # a target group deleted meanwhile: said, and the next sync tries again
                self.log("asg_lifecycle", region=region, target_group=arn.rsplit(":", 1)[-1], note=f"could not {verb}",
                         instances=",".join(ids), error=e.response["Error"].get("Code"))
                continue
            self.log("asg_lifecycle", region=region, target_group=arn.rsplit(":", 1)[-1], **{f"{verb}ed": ",".join(ids)},
                     why=why)

    def sync_targets(self, region):
        """Each group's target groups hold exactly its instances in service: what moto registered early (every
        instance of the group at launch, Pending:Wait included) or kept (terminated instances) is deregistered,
        an InService instance missing is registered. Targets of instances the double never saw in the group
        (an operator's IP targets, another group's instances) are left alone."""
        self._targets_read[region] = self.clock()
        for g in self._groups(region):
            arns = g.get("TargetGroupARNs") or []
            if not arns:
                continue
            name = g["AutoScalingGroupName"]
            wanted = {i["InstanceId"] for i in g.get("Instances", [])
                      if (st := self.instances.get((region, i["InstanceId"]))) and st.state == "InService"}
            ours = {iid for (r, iid), grp in self.seen_in.items() if r == region and grp == name}
            for arn in arns:
                try:
                    described = self._elb(region).describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                except ClientError:
                    continue
                registered = {d["Target"]["Id"] for d in described}
                early = sorted((registered & ours) - wanted)
                if early:
                    self._deregister(region, [arn], early, "not in service (moto registers at launch and never "
                                     "deregisters a terminated instance; AWS registers before InService only)")
                missing = sorted(wanted - registered)
                if missing:
                    self._register(region, [arn], missing, "in service and not registered")

    # -- scale-in -----------------------------------------------------------------------------------

    def _decrements(self, region, group):
        """Instances of group in Terminating:Wait that leave with a decrement of the desired capacity."""
        return sum(1 for (r, _), st in self.instances.items()
                   if r == region and st.group == group and st.state in LEAVING and st.decrement)

    def _desired(self, region, group, moto_desired):
        """The group's DesiredCapacity as AWS reports it: the new value at once. moto's counts the
        instances held in Terminating:Wait until each is terminated with its decrement."""
        d = self.desired.get((region, group))
        return d if d is not None else moto_desired - self._decrements(region, group)

    def _leave(self, region, g, inst, decrement, why):
        """inst leaves group g ("How lifecycle hooks work", lifecycle-hooks-overview.html, steps 4 and 5):
        an instance in service of a group with target groups is first deregistered from them and waits
        their deregistration delay (Terminating); then, or at once for any other, through the termination
        hooks (Terminating:Wait) when g has any, else terminated by moto."""
        group, iid = g["AutoScalingGroupName"], inst["InstanceId"]
        st = self.instances[(region, iid)]
        st.decrement = decrement
        arns = g.get("TargetGroupARNs") or []
        if arns and st.state == "InService":
            delay = self._deregistration_delay(region, arns)
            self._deregister(region, arns, [iid], why)
            st.state, st.deregistered_at, st.leave_why = "Terminating", self.clock() + delay, why
            self._transition(region, iid, group, "InService", "Terminating",
                             f"{why}; deregistered from its target groups first, their deregistration delay {delay} s")
            return
        self._terminate_or_wait(region, group, iid, st, why)

    def _drained(self, region):
        """Instances whose deregistration delay is over go on to their termination hooks."""
        now = self.clock()
        for (r, iid), st in list(self.instances.items()):
            if r == region and st.state == "Terminating" and now >= st.deregistered_at:
                self._terminate_or_wait(region, st.group, iid, st, f"{st.leave_why}; deregistration complete")

    def _terminate_or_wait(self, region, group, iid, st, why):
        decrement = st.decrement
        hooks = [h for h in self._hooks(region, group) if h.get("LifecycleTransition") == TERMINATING]
        before = st.state
        if not hooks:
            del self.instances[(region, iid)]
            self._terminate_in_moto(region, iid, decrement)
            self._transition(region, iid, group, before, "Terminated", why + "; the group has no termination hook")
            return
        st.state = "Terminating:Wait"
        st.actions = {a.hook: a for a in (_Action(h, self.clock()) for h in hooks)}
        self._transition(region, iid, group, before, "Terminating:Wait",
                         why + "; termination hook" + ("s " if len(hooks) > 1 else " ") + ", ".join(sorted(st.actions)))

    def _scale_to(self, region, g, desired, why):
        """The group's desired capacity becomes desired; returns the DesiredCapacity to give moto.

        Scale-in as Auto Scaling does it, not as moto does (moto terminates its first unprotected
        instances at once): the instances chosen by the termination policy (_choose) leave through
        the termination hook, and moto is told each termination, with its decrement, only when the
        hook ends. Instances already leaving without a decrement (replacements) are not replaced
        any more when the group shrinks, before any other instance is chosen. moto's own desired
        capacity stays at least the number of instances it holds, so that it never terminates one
        by itself; scale-out is moto's (it launches the difference)."""
        name = g["AutoScalingGroupName"]
        insts = g.get("Instances", [])
        states = {i["InstanceId"]: self.instances.get((region, i["InstanceId"])) for i in insts}
        leaving = [i for i in insts if states[i["InstanceId"]] and states[i["InstanceId"]].state in LEAVING]
        staying = [i for i in insts if i not in leaving]
        replaced = [states[i["InstanceId"]] for i in leaving if not states[i["InstanceId"]].decrement]
        excess = len(staying) + len(replaced) - desired
        for st in replaced[:max(0, excess)]:
            st.decrement, excess = True, excess - 1
        victims = self._choose(region, g, staying, excess) if excess > 0 else []
        for inst in victims:
            self._leave(region, g, inst, True, why)
        if excess > len(victims):
            self.log("asg_lifecycle", region=region, group=name, desired=desired, held=excess - len(victims),
                     why="every other instance is protected from scale in (ProtectedFromScaleIn): they stay")
        self.desired[(region, name)] = desired
        now = self._groups(region, [name])
        held = len(now[0].get("Instances", [])) if now else 0
        return max(desired + self._decrements(region, name), held)

    def _choose(self, region, g, staying, n):
        """The n instances of staying that scale-in terminates, one at a time, as the termination
        policies choose them (Amazon EC2 Auto Scaling User Guide, "Control which Auto Scaling instances
        terminate during scale in", ec2-auto-scaling-termination-policies.html):

          * never an instance protected from scale in ("Use instance scale-in protection",
            ec2-auto-scaling-instance-protection.html);
          * first the Availability Zone with the most instances and at least one unprotected one;
          * then the group's TerminationPolicies in order, Default last: OldestLaunchTemplate and
            OldestLaunchConfiguration (and Default's second step): a launch configuration before a
            launch template, a template other than the group's before the group's, then its oldest
            version, as EC2 tagged each instance (aws:ec2launchtemplate:id/version; moto's Auto
            Scaling reports every instance with the template's current version); OldestInstance,
            NewestInstance by EC2's LaunchTime;
          * Default's last step, "closest to the next billing hour" and then "at random", is the
            lowest instance ID here, so that tests and drills are reproducible. ClosestToNextInstanceHour,
            AllocationStrategy and Lambda custom policies are not modelled (skipped, said in the log)."""
        if not staying or n <= 0:
            return []
        ec2 = client("ec2", region, self.endpoint)
        facts = {}
        ids = [i["InstanceId"] for i in staying]
        for r in paginate(ec2, "describe_instances", "Reservations", InstanceIds=ids):
            for inst in r["Instances"]:
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                facts[inst["InstanceId"]] = (inst["LaunchTime"].timestamp(), tags.get("aws:ec2launchtemplate:id"),
                                             tags.get("aws:ec2launchtemplate:version"))
        group_lt = (g.get("LaunchTemplate") or {}).get("LaunchTemplateId")

        def launch_age(i):
            if i.get("LaunchConfigurationName"):
                return (0, 0)
            _, lt, version = facts.get(i["InstanceId"], (0, None, None))
            if lt is None or lt != group_lt:
                return (1, 0)
            return (2, int(version) if (version or "").isdigit() else 0)
        keys = {"Default": launch_age, "OldestLaunchTemplate": launch_age, "OldestLaunchConfiguration": launch_age,
                "OldestInstance": lambda i: facts.get(i["InstanceId"], (0,))[0],
                "NewestInstance": lambda i: -facts.get(i["InstanceId"], (0,))[0]}
        policies = [*(g.get("TerminationPolicies") or []), "Default"]
        pool, chosen = list(staying), []
        for _ in range(n):
            candidates = [i for i in pool if not i.get("ProtectedFromScaleIn")]
            if not candidates:
                break
            per_az = {}
            for i in pool:
                per_az[i.get("AvailabilityZone")] = per_az.get(i.get("AvailabilityZone"), 0) + 1
            most = max(per_az[i.get("AvailabilityZone")] for i in candidates)
            candidates = [i for i in candidates if per_az[i.get("AvailabilityZone")] == most]
            for policy in policies:
                key = keys.get(policy)
                if len(candidates) == 1:
                    break
                if key is None:
                    self.log("asg_lifecycle", region=region, group=g["AutoScalingGroupName"], policy=policy[:80],
                             note="termination policy not modelled by the double: skipped")
                    continue
                best = min(key(i) for i in candidates)
                candidates = [i for i in candidates if key(i) == best]
            victim = min(candidates, key=lambda i: i["InstanceId"])
            chosen.append(victim)
            pool.remove(victim)
        return chosen

    def _reconcile(self, region):
        """A desired capacity that protected instances held back is reached once they may go: the
        group "maintains this number of running instances at all times" ("Maintaining the number of
        instances in your Auto Scaling group", as-maintain-instance-levels.html)."""
        for (r, name), desired in list(self.desired.items()):
            found = self._groups(region, [name]) if r == region else None
            if not found:
                continue
            staying = [i for i in found[0].get("Instances", [])
                       if (st := self.instances.get((region, i["InstanceId"]))) and st.state not in LEAVING]
            if len(staying) <= desired or all(i.get("ProtectedFromScaleIn") for i in staying):
                continue
            moto_desired = self._scale_to(region, found[0], desired, "scale-in held by protection resumed")
            if moto_desired != found[0]["DesiredCapacity"]:
                self._asg(region).set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=moto_desired)

    def set_desired(self, region, params, forward):
        """SetDesiredCapacity (API reference): refused outside [MinSize, MaxSize] with AWS's wording
        ("New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup."), else
        _scale_to, and moto is given the DesiredCapacity that keeps every instance it holds."""
        _required(params, ("AutoScalingGroupName", "DesiredCapacity"))
        self.sync(region)
        found = self._groups(region, [params["AutoScalingGroupName"]])
        if not found:
            return forward()  # moto's answer for a group it does not have
        g, d = found[0], int(params["DesiredCapacity"])
        if d > g["MaxSize"]:
            raise LifecycleError(f"New SetDesiredCapacity value {d} is above max value {g['MaxSize']} for the AutoScalingGroup.")
        if d < g["MinSize"]:
            raise LifecycleError(f"New SetDesiredCapacity value {d} is below min value {g['MinSize']} for the AutoScalingGroup.")
        moto_desired = self._scale_to(region, g, d, f"SetDesiredCapacity {d}")
        return forward({**params, "DesiredCapacity": str(moto_desired)})

    def update_group(self, region, params, forward):
        """UpdateAutoScalingGroup (API reference): a new MinSize above the current desired capacity, or
        a new MaxSize below it, without a DesiredCapacity, sets the desired capacity to it; a desired
        capacity outside [MinSize, MaxSize] is refused ("Desired capacity:0 must be between the
        specified min size:1 and max size:9"). An update that changes no size is moto's, unchanged."""
        if not any(k in params for k in ("MinSize", "MaxSize", "DesiredCapacity")):
            return forward()
        self.sync(region)
        found = self._groups(region, [params.get("AutoScalingGroupName", "")]) if params.get("AutoScalingGroupName") else []
        if not found:
            return forward()
        g = found[0]
        lo, hi = int(params.get("MinSize", g["MinSize"])), int(params.get("MaxSize", g["MaxSize"]))
        current = self._desired(region, g["AutoScalingGroupName"], g["DesiredCapacity"])
        if "DesiredCapacity" in params:
            d = int(params["DesiredCapacity"])
        else:
            d = lo if "MinSize" in params and lo > current else hi if "MaxSize" in params and hi < current else current
        if not lo <= d <= hi:
            raise LifecycleError(f"Desired capacity:{d} must be between the specified min size:{lo} and max size:{hi}")
        moto_desired = self._scale_to(region, g, d, f"UpdateAutoScalingGroup: desired capacity {d}")
        return forward({**params, "DesiredCapacity": str(moto_desired)})

    # -- health -------------------------------------------------------------------------------------

    def set_health(self, region, params, forward):
        """SetInstanceHealth (API reference): Unhealthy "terminates and replaces the unhealthy
        instance". ShouldRespectGracePeriod (true by default) refuses it while the instance is in its
        grace period, as AWS answers it: "The age of the instance (986 seconds) is less than the
        configured grace period of 1500 seconds" (aws/aws-cli#171); the age counts from InService
        ("Set the health check grace period", health-check-grace-period.html: with lifecycle hooks the
        grace period starts at InService). moto records HealthStatus, which Describe* then show."""
        _required(params, ("InstanceId", "HealthStatus"))
        iid, status = params["InstanceId"], params["HealthStatus"]
        if status not in ("Healthy", "Unhealthy"):
            raise LifecycleError("Valid instance health states are: [Healthy, Unhealthy]")  # moto's wording
        self.sync(region)
        found = [(g, i) for g in self._groups(region) for i in g.get("Instances", []) if i["InstanceId"] == iid]
        if not found:
            raise LifecycleError(f"Instance Id not found - No managed instance found for instance ID: {iid}")
        g, inst = found[0]
        st = self.instances[(region, iid)]
        grace = int(g.get("HealthCheckGracePeriod") or 0)
        if status == "Unhealthy" and (params.get("ShouldRespectGracePeriod") or "true").lower() != "false":
            age = self.clock() - st.in_service_at if st.in_service_at is not None else 0
            if age < grace:
                raise LifecycleError(f"The age of the instance ({int(age)} seconds) is less than the configured "
                                     f"grace period of {grace} seconds")
        answer = forward()
        if answer[0] == 200 and status == "Unhealthy" and st.state == "InService":
            self._replace(region, g, inst, "SetInstanceHealth Unhealthy")
        return answer

    def _replace(self, region, g, inst, why):
        """An unhealthy InService instance is terminated and replaced ("Health checks for instances in
        an Auto Scaling group", ec2-auto-scaling-health-checks.html): HealthStatus Unhealthy in moto,
        then it leaves without a decrement, through the termination hook when there is one; moto
        launches the replacement when it is terminated (terminate, then launch: AWS's order without
        an instance maintenance policy), and the replacement waits through the launch hook in turn."""
        if inst.get("HealthStatus") != "Unhealthy":
            self._asg(region).set_instance_health(InstanceId=inst["InstanceId"], HealthStatus="Unhealthy",
                                                  ShouldRespectGracePeriod=False)
        self._leave(region, g, inst, False, f"unhealthy: {why}; replaced")

    def check_health(self, region):
        """Auto Scaling's periodic health checks of InService instances (ec2-auto-scaling-health-checks.html):
        EC2, an instance in any state other than running, replaced even during the grace period
        (health-check-grace-period.html, "Important"); a HealthStatus set Unhealthy; and only with
        HealthCheckType ELB, a target group of the group reporting the instance `unhealthy`, read with
        DescribeTargetHealth, after HealthCheckGracePeriod from InService. With HealthCheckType EC2
        the target groups' health never replaces anything. Health nobody could read (the target
        health double answering 503) is not unhealthy: it is logged and the next tick reads again."""
        now = self.clock()
        for g in self._groups(region):
            name = g["AutoScalingGroupName"]
            inservice = [i for i in g.get("Instances", [])
                         if (st := self.instances.get((region, i["InstanceId"]))) and st.state == "InService"]
            if not inservice:
                continue
            ec2 = client("ec2", region, self.endpoint)
            running = {x["InstanceId"]: x["State"]["Name"]
                       for r in paginate(ec2, "describe_instances", "Reservations",
                                         InstanceIds=[i["InstanceId"] for i in inservice]) for x in r["Instances"]}
            elb_unhealthy = {}
            if g.get("HealthCheckType") == "ELB":
                elb = client("elbv2", region, self.elbv2_endpoint)
                for arn in g.get("TargetGroupARNs", []):
                    try:
                        described = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                    except (ClientError, BotoCoreError) as e:
                        code = e.response["Error"].get("Code") if isinstance(e, ClientError) else type(e).__name__
                        self.log("asg_lifecycle", region=region, group=name, target_group=arn.rsplit(":", 1)[-1],
                                 note="target health unreadable: not counted as unhealthy", error=code)
                        continue
                    for d in described:
                        if d["TargetHealth"]["State"] == "unhealthy":
                            elb_unhealthy[d["Target"]["Id"]] = arn.rsplit(":", 1)[-1]
            grace = int(g.get("HealthCheckGracePeriod") or 0)
            for inst in inservice:
                iid = inst["InstanceId"]
                st = self.instances[(region, iid)]
                why = None
                if running.get(iid, "running") != "running":
                    why = f"EC2 state {running[iid]} (not running; no grace period for that)"
                elif inst.get("HealthStatus") == "Unhealthy":
                    why = "HealthStatus Unhealthy"
                elif iid in elb_unhealthy and now >= (st.in_service_at or now) + grace:
                    why = (f"HealthCheckType ELB and target group {elb_unhealthy[iid]} reports it unhealthy, "
                           f"{int(now - st.in_service_at)} s after InService (grace period {grace} s)")
                if why:
                    self._replace(region, g, inst, why)

    def run(self, stop, interval=0.5):
        while not stop.is_set():
            self.tick()
            stop.wait(interval)

    # -- reads ------------------------------------------------------------------------------------

    def state(self, region, instance_id):
        with self.lock:
            st = self.instances.get((region, instance_id))
            return st.state if st else None

    def token(self, region, instance_id, hook):
        """The LifecycleActionToken of the instance's active action for hook, or None (AWS sends it in
        the notification, which this double does not model; tests and drills read it here)."""
        with self.lock:
            st = self.instances.get((region, instance_id))
            a = st.actions.get(hook) if st else None
            return a.token if a else None

    def target_lifecycle_state(self, region, instance_id):
        """IMDS autoscaling/target-lifecycle-state: InService, Terminated, or None (404)."""
        with self.lock:
            if (region, instance_id) not in self.instances:
                self.sync(region)
            st = self.instances.get((region, instance_id))
            return TARGET.get(st.state) if st else None

    # -- the API ------------------------------------------------------------------------------------

    def handle(self, region, params, forward):
        """One Auto Scaling request (params: the query parameters) for region; forward() sends it to
        moto unchanged and returns (status, headers, body)."""
        action = params.get("Action")
        self.watch(region)
        try:
            with self.lock:
                if action == "CompleteLifecycleAction":  # a termination ended: moto launches the replacement
                    return self._then_targets(region, self.complete(region, params))
                if action == "RecordLifecycleActionHeartbeat":
                    return self.heartbeat(region, params)
                if action == "TerminateInstanceInAutoScalingGroup":
                    return self._then_targets(region, self.terminate(region, params, forward))
                if action == "CreateAutoScalingGroup":
                    return self._then_targets(region, self.create_group(region, params, forward))
                if action == "SetDesiredCapacity":
                    return self._then_targets(region, self.set_desired(region, params, forward))
                if action == "UpdateAutoScalingGroup":
                    return self._then_targets(region, self.update_group(region, params, forward))
                if action == "SetInstanceHealth":
                    return self._then_targets(region, self.set_health(region, params, forward))
                if not (action or "").startswith("Describe"):  # AttachLoadBalancerTargetGroups: moto registers every instance
                    return self._then_targets(region, forward())
                self.sync(region)
                status, headers, body = forward()
                if status != 200:
                    return status, headers, body
                out = self.rewrite(region, body)
                if out is not body:
                    # moto signs its bodies with x-amz-crc32, which the AWS SDKs check (the Java SDK refuses a
                    # mismatch): an answer rewritten here carries the checksum of what it now says.
                    headers = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
                    headers.append(("x-amz-crc32", str(zlib.crc32(out))))
                return status, headers, out
        except LifecycleError as e:
            self.log("asg_lifecycle", region=region, action=action, refused=e.code, message=str(e))
            return error_response(e)

    def _then_targets(self, region, answer):
        """After a call moto may have launched or registered for: new instances read, registrations
        reconciled before the caller hears back (a Pending:Wait instance is never a target meanwhile)."""
        if answer[0] == 200:
            self.sync(region)
            self.sync_targets(region)
        return answer

    def _action(self, region, params):
        """The active action a CompleteLifecycleAction or RecordLifecycleActionHeartbeat names: the
        refusals in AWS's order (group, hook, instance or token, an action)."""
        group, hook = params["AutoScalingGroupName"], params["LifecycleHookName"]
        self.sync(region)
        if not self._groups(region, [group]):
            raise LifecycleError(f"AutoScalingGroup name not found - AutoScalingGroup '{group}' not found")
        if hook not in {h["LifecycleHookName"] for h in self._hooks(region, group)}:
            raise LifecycleError(f"No Lifecycle Hook found with name '{hook}' for group '{group}'")
        iid, token = params.get("InstanceId"), params.get("LifecycleActionToken")
        if not iid and not token:
            raise LifecycleError("Either an InstanceId or a LifecycleActionToken must be specified")
        for (r, i), st in self.instances.items():
            a = st.actions.get(hook)
            if r == region and st.group == group and a and (not iid or i == iid) and (not token or a.token == token):
                return i, st, a
        raise LifecycleError(f"No active Lifecycle Action found with token {token}" if token
                             else f"No active Lifecycle Action found with instance ID {iid}")

    def complete(self, region, params):
        _required(params, ("LifecycleHookName", "AutoScalingGroupName", "LifecycleActionResult"))
        result = params["LifecycleActionResult"]
        if result not in RESULTS:
            raise LifecycleError(f"Invalid LifecycleActionResult {result!r}: specify CONTINUE or ABANDON")
        iid, st, a = self._action(region, params)
        self._finish(region, iid, st, a, result, f"CompleteLifecycleAction {a.hook} {result}")
        return _response("CompleteLifecycleAction")

    def heartbeat(self, region, params):
        _required(params, ("LifecycleHookName", "AutoScalingGroupName"))
        iid, st, a = self._action(region, params)
        a.heartbeat(self.clock())
        self.log("asg_lifecycle", region=region, instance=iid, group=st.group, hook=a.hook, heartbeat="recorded",
                 timeout_in_s=int(a.deadline - self.clock()), why="RecordLifecycleActionHeartbeat restarts the timeout")
        return _response("RecordLifecycleActionHeartbeat")

    def terminate(self, region, params, forward):
        _required(params, ("InstanceId", "ShouldDecrementDesiredCapacity"))
        iid = params["InstanceId"]
        decrement = params["ShouldDecrementDesiredCapacity"].lower() == "true"
        self.sync(region)
        found = [(g, i) for g in self._groups(region) for i in g.get("Instances", []) if i["InstanceId"] == iid]
        if not found:
            raise LifecycleError(f"Instance Id not found - No managed instance found for instance ID: {iid}")
        g, inst = found[0]
        group = g["AutoScalingGroupName"]
        hooks = [h for h in self._hooks(region, group) if h.get("LifecycleTransition") == TERMINATING]
        st = self.instances[(region, iid)]
        if not hooks and not g.get("TargetGroupARNs"):
            status, headers, body = forward()
            if status == 200:
                del self.instances[(region, iid)]
                self._transition(region, iid, group, st.state, "Terminated",
                                 "TerminateInstanceInAutoScalingGroup; the group has no termination hook (moto's, at once)")
            return status, headers, body
        desired = self._desired(region, group, g.get("DesiredCapacity", 0))
        if st.state not in LEAVING:
            self._leave(region, g, inst, decrement, "TerminateInstanceInAutoScalingGroup")
        else:
            desired += 1 if st.decrement else 0  # asked again: the capacity it was shrunk from
        now = self.clock()
        cause = f"At {_utc(now)} instance {iid} was taken out of service in response to a user request"
        cause += f", shrinking the capacity from {desired} to {desired - 1}." if st.decrement else "."
        activity = ET.Element(f"{{{NS}}}Activity")
        for name, value in (("ActivityId", str(uuid.uuid4())), ("AutoScalingGroupName", group),
                            ("Description", f"Terminating EC2 instance: {iid}"), ("Cause", cause),
                            ("StartTime", _utc(now)), ("StatusCode", "InProgress"), ("Progress", "0"),
                            ("Details", '{"Availability Zone":"%s"}' % inst.get("AvailabilityZone", "")),
                            ("AutoScalingGroupARN", g.get("AutoScalingGroupARN", ""))):
            ET.SubElement(activity, f"{{{NS}}}{name}").text = value
        return _response("TerminateInstanceInAutoScalingGroup", [activity])

    def create_group(self, region, params, forward):
        """moto's CreateAutoScalingGroup, then the LifecycleHookSpecificationList it drops, put into
        moto (PutLifecycleHook) before anyone can see the group without them."""
        status, headers, body = forward()
        specs = _members(params, "LifecycleHookSpecificationList")
        if status != 200 or not specs:
            return status, headers, body
        asg = self._asg(region)
        for spec in specs:
            kw = {k: (int(v) if k == "HeartbeatTimeout" else v) for k, v in spec.items() if k in HOOK_FIELDS}
            asg.put_lifecycle_hook(AutoScalingGroupName=params["AutoScalingGroupName"], **kw)
        self.log("asg_lifecycle", region=region, group=params["AutoScalingGroupName"],
                 hooks_put=",".join(s.get("LifecycleHookName", "?") for s in specs),
                 why="CreateAutoScalingGroup's LifecycleHookSpecificationList (moto drops it)")
        self.sync(region)
        return status, headers, body

    def rewrite(self, region, body):
        """moto's DescribeAutoScalingGroups or DescribeAutoScalingInstances answer with the
        LifecycleState of every instance that waits here, and each group's DesiredCapacity as AWS
        reports it (_desired)."""
        ET.register_namespace("", NS)
        root = ET.fromstring(body)
        changed = False
        for member in root.iter(f"{{{NS}}}member"):
            name, desired = member.find(f"{{{NS}}}AutoScalingGroupName"), member.find(f"{{{NS}}}DesiredCapacity")
            if name is not None and desired is not None and (desired.text or "").isdigit():
                shown = str(self._desired(region, name.text, int(desired.text)))
                if shown != desired.text:
                    desired.text, changed = shown, True
            iid, state = member.find(f"{{{NS}}}InstanceId"), member.find(f"{{{NS}}}LifecycleState")
            if iid is None or state is None:
                continue
            st = self.instances.get((region, iid.text))
            if st is not None and st.state in ("Pending:Wait", *LEAVING):
                state.text, changed = st.state, True
        return ET.tostring(root, encoding="utf-8") if changed else body
