"""autoscaling-lifecycle-double: the Auto Scaling instance lifecycle that moto lacks, for the
ec2-double (harness/edge/ec2_double.py) when it runs with --autoscaling-lifecycle. It is a DOUBLE:
it mirrors what AWS documents, and its log lines say so (event `asg_lifecycle`, `[ec2-double]`).

moto stores lifecycle hooks but puts every instance InService at once, answers "not implemented"
to CompleteLifecycleAction and RecordLifecycleActionHeartbeat, and terminates at once. This double
holds only what moto lacks: each instance's lifecycle state and its lifecycle actions (token,
deadlines). Groups, hooks and instances are read from moto at every tick and request.

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
  * **DescribeAutoScalingGroups, DescribeAutoScalingInstances**: moto's answer, with each instance's
    LifecycleState the double's while it waits (Pending:Wait, Terminating:Wait).
  * **IMDS** ("Retrieve the target lifecycle state through instance metadata",
    retrieving-target-lifecycle-state-through-imds.html): `autoscaling/target-lifecycle-state` is
    "the state that the instance is transitioning to": `InService` from Pending:Wait on (AWS's own
    tutorial, tutorial-lifecycle-hook-instance-metadata.html, polls for InService to complete the
    launch hook), `Terminated` in Terminating:Wait; 404 for an instance the double holds nothing for.

Every transition is one log line: instance, group, from, to, why.

Not modelled: scale-in through SetDesiredCapacity or UpdateAutoScalingGroup (moto's: it terminates
at once, without Terminating:Wait), instances moto terminates by itself, DeleteLifecycleHook with
outstanding actions (AWS completes them first), Pending/Pending:Proceed/Terminating:Proceed as
states of their own, the decrement of DesiredCapacity before the termination reaches moto, warm
pools, instance refresh, maximum instance lifetime, Standby, notifications (SNS, SQS,
EventBridge), launch rate limiting after failing hooks, and real timings (the tick is 0.5 s).
"""
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zlib

from botocore.exceptions import ClientError

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
           "DescribeAutoScalingGroups", "DescribeAutoScalingInstances", "CreateAutoScalingGroup")
# The target lifecycle state each state of ours is transitioning to (the IMDS item).
TARGET = {"Pending:Wait": "InService", "InService": "InService", "Terminating:Wait": "Terminated"}
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
    def __init__(self, group, state, actions=()):
        self.group, self.state = group, state
        self.actions = {a.hook: a for a in actions}
        self.decrement = False


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

    def __init__(self, endpoint, log, clock=time.time, regions=()):
        self.endpoint, self.log, self.clock = endpoint, log, clock
        self.lock = threading.RLock()
        self.regions = set(regions)
        self.instances = {}  # (region, instance id) -> _Instance

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
        their hook's DefaultResult."""
        with self.lock:
            self.regions.add(region)
            seen = set()
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
            for key in [k for k in self.instances if k[0] == region and k not in seen]:
                st = self.instances.pop(key)
                self._transition(region, key[1], st.group, st.state, "gone",
                                 "no longer in its group in moto (moto terminated or detached it)")
            self._expire(region)

    def _new(self, region, group, iid, hooks):
        launch = [h for h in hooks if h.get("LifecycleTransition") == LAUNCHING]
        now = self.clock()
        if launch:
            st = _Instance(group, "Pending:Wait", [_Action(h, now) for h in launch])
            why = "new instance; launch hook" + ("s " if len(launch) > 1 else " ") + ", ".join(sorted(st.actions))
        else:
            st = _Instance(group, "InService")
            why = "new instance; the group has no launch hook"
        self.instances[(region, iid)] = st
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
            st.state = "InService"
            self._transition(region, iid, st.group, "Pending:Wait", "InService", why)
            return
        before = st.state
        del self.instances[(region, iid)]
        decrement = st.decrement if before == "Terminating:Wait" else False
        self._terminate_in_moto(region, iid, decrement)
        self._transition(region, iid, st.group, before, "Terminated",
                         why + ("; moto replaces it" if not decrement else "; desired capacity decremented"))

    def tick(self):
        """One pass over every watched region: discovery and timeouts."""
        for region in sorted(self.regions):
            try:
                self.sync(region)
            except Exception as e:  # moto unreachable: say so, the next tick retries
                self.log("error", listener="asg_lifecycle", region=region, message=f"{type(e).__name__}: {e}")

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
                if action == "CompleteLifecycleAction":
                    return self.complete(region, params)
                if action == "RecordLifecycleActionHeartbeat":
                    return self.heartbeat(region, params)
                if action == "TerminateInstanceInAutoScalingGroup":
                    return self.terminate(region, params, forward)
                if action == "CreateAutoScalingGroup":
                    return self.create_group(region, params, forward)
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
        if not hooks:
            status, headers, body = forward()
            if status == 200:
                del self.instances[(region, iid)]
                self._transition(region, iid, group, st.state, "Terminated",
                                 "TerminateInstanceInAutoScalingGroup; the group has no termination hook (moto's, at once)")
            return status, headers, body
        desired = g.get("DesiredCapacity", 0)
        if st.state != "Terminating:Wait":
            before = st.state
            st.state, st.decrement = "Terminating:Wait", decrement
            st.actions = {a.hook: a for a in (_Action(h, self.clock()) for h in hooks)}
            self._transition(region, iid, group, before, "Terminating:Wait",
                             "TerminateInstanceInAutoScalingGroup; termination hook" + ("s " if len(hooks) > 1 else " ")
                             + ", ".join(sorted(st.actions)))
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
        LifecycleState of every instance that waits here."""
        ET.register_namespace("", NS)
        root = ET.fromstring(body)
        changed = False
        for member in root.iter(f"{{{NS}}}member"):
            iid, state = member.find(f"{{{NS}}}InstanceId"), member.find(f"{{{NS}}}LifecycleState")
            if iid is None or state is None:
                continue
            st = self.instances.get((region, iid.text))
            if st is not None and st.state in ("Pending:Wait", "Terminating:Wait"):
                state.text, changed = st.state, True
        return ET.tostring(root, encoding="utf-8") if changed else body
