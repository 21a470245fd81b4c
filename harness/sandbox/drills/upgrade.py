"""upgrade.yml under load: every host from 18.11.1 to 18.11.2 with no failed request, each drained from
and back in its balancers; then a release that fails its gate on the first proxy of the rollout,
stopped there and rolled back."""
import os
import textwrap
import time

import yaml

from ...moto import client
from ...util import REPO, HarnessError, log
from .. import converge, edgeworld
from ..drill import Drill
from ..load import Load, summary
from ..state import hosts

OLD, NEW, BAD = "18.11.1", "18.11.2", "19.0.0"
FAULT_FILE = "/var/lib/teleport/test-double-fail-readyz"
PLAN = os.path.join(REPO, "build", "sandbox-upgrade-plan.txt")
# The gate's wait in the failure drill: the double is ready within seconds, so a shorter
# teleport_health_timeout (default 180 s) only shortens the wait for a gate that never passes.
FAILURE_GATE_TIMEOUT_S = 40


def versions(state):
    return {h.machine: h.version() for h in hosts(state)}


def rollout_order(state):
    """The proxies in upgrade.yml's order: region slots by sorted region name, hosts by inventory
    name (roles/teleport/vars/main.yml _teleport_inv_regions, validate_inventory.yml)."""
    return sorted(hosts(state, role="proxy"), key=lambda h: (h.region, h.instance_id))


class Upgrade(Drill):
    """upgrade.yml 18.11.1 -> 18.11.2 under load in both regions: auth first, then the proxies region by region."""

    requires = f"every host on {OLD}"

    def ready(self):
        if set(versions(self.state).values()) != {OLD}:
            self.fail(f"want every host on {OLD} first, have {versions(self.state)}")

    def inject(self):
        self.load = Load("upgrade", 1200)
        self.t0 = time.time()
        self.load.wait_serving()
        self.run = converge.upgrade_yml(self.state, "upgrade", NEW)

    def verify(self):
        results = self.load.stop()
        _save_plan(self.run.text)
        sent, failed, after = self.load.sent(), self.load.failed(), versions(self.state)
        log(f"upgrade drill: {sent} requests, {len(failed)} failed; "
            + "; ".join(f"{region}: {summary(recs)}" for region, (recs, _) in results.items()))
        if failed:
            self.fail(f"{len(failed)} failed requests, want 0: {failed[:5]}")
        if set(after.values()) != {NEW}:
            self.fail(f"not every host runs {NEW} afterwards: {after}")
        rotation = edgeworld.rotation(self.state, self.t0)
        self.figure("upgrade_seconds", round(self.run.seconds), "s", f"upgrade.yml {OLD} -> {NEW}, 2 auth + 4 proxies")
        self.figure("upgrade_requests", sent, "", "0 failed")
        for machine, (out, back) in sorted(rotation.items()):
            self.figure(f"upgrade_out_of_rotation_{machine}", round(back - out, 1) if back else None, "s")
        if len(rotation) != len(self.state["hosts"]) or not all(b for _, b in rotation.values()):
            self.fail(f"every host must leave and rejoin its balancers once: {rotation}")


def _save_plan(text):
    """The plan upgrade.yml printed before its first change (its "Print the plan" task's msg,
    parsed as the YAML the callback prints), to build/sandbox-upgrade-plan.txt."""
    lines = text.splitlines()
    task = next((i for i, line in enumerate(lines) if line.startswith("TASK [teleport : Print the plan]")), None)
    first_change = next((i for i, line in enumerate(lines) if line.startswith("changed: ")), len(lines))
    if task is None or task > first_change:
        raise HarnessError("upgrade drill: upgrade.yml printed no plan before its first change")
    start = next(i for i in range(task, len(lines)) if lines[i].strip() == "msg:")
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    plan = yaml.safe_load(textwrap.dedent("\n".join(block)))["msg"]
    os.makedirs(os.path.dirname(PLAN), exist_ok=True)
    with open(PLAN, "w") as f:
        f.write("\n".join(plan) + "\n")
    log("upgrade plan (" + PLAN + "):\n  " + "\n  ".join(plan))


class UpgradeFailure(Drill):
    """19.0.0 made to fail its gate on the first proxy of the rollout: the run stops there, that proxy
    is rolled back and serving, the auth pool (which moves first) is on 19.0.0, and no other proxy changed."""

    requires = f"every host serving one version below {BAD}"

    def ready(self):
        running = set(versions(self.state).values())
        if len(running) != 1 or None in running or BAD in running:
            self.fail(f"want every host on one version below {BAD}, have {versions(self.state)}")
        self.bad = rollout_order(self.state)[0]

    def inject(self):
        self.bad.run(f"echo {BAD} > {FAULT_FILE}")
        self.before_versions = versions(self.state)
        self.before_pids = {h.machine: h.main_pid() for h in hosts(self.state)}
        self.load = Load("upgrade-fail", 1200)
        self.t0 = time.time()
        self.load.wait_serving()
        self.run = converge.upgrade_yml(self.state, "upgrade-failure", BAD, check=False,
                                        teleport_health_timeout=FAILURE_GATE_TIMEOUT_S)

    def verify(self):
        bad, run = self.bad, self.run
        self.load.stop()
        sent, failed = self.load.sent(), self.load.failed()
        if run.rc == 0:
            self.fail(f"upgrade.yml to {BAD} succeeded, want it to fail at {bad.machine}; log {run.log}")
        said = (f"{bad.instance_id} failed the gate '/readyz, /v1/webapi/ping and the running version ({BAD})' "
                f"on Teleport {BAD}; it was rolled back to {self.before_versions[bad.machine]} and is serving again")
        if said not in run.flat:
            self.fail(f"the run's output does not say {said!r}; log {run.log}")
        after_versions = versions(self.state)
        after_pids = {h.machine: h.main_pid() for h in hosts(self.state)}
        rotation = edgeworld.rotation(self.state, self.t0)
        bad_out = rotation.get(bad.machine, [None])[0]
        problems = []
        if after_versions[bad.machine] != self.before_versions[bad.machine]:
            problems.append(f"{bad.machine} runs {after_versions[bad.machine]}, want it rolled back to "
                            f"{self.before_versions[bad.machine]}")
        readyz = bad.readyz()
        if readyz != "200":
            problems.append(f"{bad.machine} /readyz {readyz} after the rollback")
        health = _target_health(self.state, bad)
        if not health or set(health.values()) != {"healthy"}:
            problems.append(f"{bad.machine} is not back in its target groups: {health}")
        finished_before = []
        for h in hosts(self.state):
            m = h.machine
            if m == bad.machine:
                continue
            if h.role == "auth":
                out, back = rotation.get(m, [None, None])
                if after_versions[m] != BAD or not back or not bad_out or back > bad_out:
                    problems.append(f"{m} (auth, upgraded before any proxy) runs {after_versions[m]}, out of rotation "
                                    f"{rotation.get(m)}; want {BAD}, back before {bad.machine} left")
                finished_before.append(m)
            elif after_versions[m] != self.before_versions[m] or after_pids[m] != self.before_pids[m] or m in rotation:
                problems.append(f"{m} changed: {self.before_versions[m]} -> {after_versions[m]}, pid {self.before_pids[m]} -> "
                                f"{after_pids[m]}, out of rotation {rotation.get(m)}")
        log(f"upgrade failure drill: {sent} requests, {len(failed)} failed; stopped at {bad.machine} "
            f"({bad.instance_id}), rolled back to {after_versions[bad.machine]}; finished before it: {finished_before}; "
            f"unchanged: {sorted(set(after_versions) - set(finished_before) - {bad.machine})}")
        if failed:
            problems.append(f"{len(failed)} failed requests, want 0: {failed[:5]}")
        if problems:
            self.fail("; ".join(problems))
        self.figure("upgrade_failure_seconds", round(run.seconds), "s", f"{BAD} failing its gate on {bad.machine}, rolled back")
        self.figure("upgrade_failure_requests", sent, "", "0 failed")

    def restore(self):
        self.bad.run(f"rm -f {FAULT_FILE}", check=False)


def _target_health(state, h):
    elb = client("elbv2", h.region, state["edge"]["elbv2_double"]["endpoint"])
    out = {}
    for tg in elb.describe_target_groups()["TargetGroups"]:
        for d in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]:
            if d["Target"]["Id"] == h.instance_id:
                out[tg["TargetGroupName"]] = d["TargetHealth"]["State"]
    return out
