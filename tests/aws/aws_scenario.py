"""A moto world per scenario and a runner for the AWS playbooks (a module, not a conftest: no fixtures).

Each scenario module builds its world once (module-scoped): moto behind a CountingProxy,
the operator's part (VPCs, subnets, public zone, AMIs published by
packer/publish_ami_ids.py), then runs the real ansible-playbook against it
(harness.ansible.run_playbook).
"""
import sys
import uuid
from pathlib import Path

from harness.ansible import ansible_env, run_playbook
from harness.aws_world import operator_world, role_vars
from harness.moto import CountingProxy, MotoServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PLAYBOOKS = {"pools": "aws-pools.yml", "edge": "aws-edge.yml", "both": HERE / "both.yml",
             "config": "cluster-config.yml"}


class Run:
    """One run as the scenarios read it: the json callback's report and the AWS calls it made."""

    def __init__(self, run, calls):
        self.rc, self.calls, self.seconds, self.log = run.rc, calls, run.seconds, run.log
        self.report = run.report or {}
        self.rest = run.rest  # Ansible's warnings and errors
        self.messages = []
        for play in self.report.get("plays", []):
            for task in play["tasks"]:
                for res in task["hosts"].values():
                    for one in [res] + res.get("results", []):
                        if one.get("msg"):
                            self.messages.append((str(one["msg"]), item_failed(one)))

    @property
    def changed(self):
        return sum(s["changed"] for s in self.report.get("stats", {}).values())

    @property
    def mutating(self):
        return [c for c in self.calls if c[2]]

    def failures(self):
        return [m for m, failed in self.messages if failed]

    def task(self, name):
        """Results of the task whose name contains name (the last one that ran)."""
        found = [t for p in self.report["plays"] for t in p["tasks"] if name in t["task"]["name"]]
        assert found, f"no task {name!r} ran"
        return found[-1]["hosts"]["localhost"]


class World:
    def __init__(self, tmp, cluster, auth_region, regions, zone="example.com", publish=True):
        self.tmp, self.cluster, self.auth_region, self.zone = tmp, cluster, auth_region, zone
        self.moto = MotoServer(log_path=str(tmp / "moto.log")).start()
        self.made = operator_world(self.moto, cluster, regions, zone, publish=publish)
        self.regions = list(regions)
        self.runs = []

    def vars(self, **extra):
        return role_vars(self.cluster, self.auth_region, self.made, self.zone, **extra)

    def client(self, service, region="us-east-1"):
        return self.moto.client(service, region)

    def run(self, playbook, variables, *args):
        """One ansible-playbook run, through its own CountingProxy (so runs may overlap)."""
        with CountingProxy(self.moto.endpoint) as proxy:
            env = ansible_env(aws=proxy.endpoint, AWS_REGION="us-east-1", ANSIBLE_STDOUT_CALLBACK="json",
                              ANSIBLE_LOCAL_TEMP=self.tmp / "ansible-tmp")
            done = run_playbook(PLAYBOOKS[playbook], None, variables, *args, env=env, timeout=600,
                                log=self.tmp / f"{playbook}-{uuid.uuid4().hex}.log")
            calls = list(proxy.calls)
        run = Run(done, calls)
        self.runs.append((playbook, args, run))
        return run

    def timings(self):
        return ", ".join(f"{pb}{''.join(' ' + a for a in args)} {r.seconds:.1f}s ({len(r.mutating)} mutating)"
                         for pb, args, r in self.runs)

    def stop(self):
        print(f"\n{self.cluster}: {self.timings()}", file=sys.stderr)
        self.moto.stop()


def item_failed(result):
    """Whether one result of the json callback failed. ansible-core 2.21 no longer hands a loop
    item's `failed` to callbacks (the json callback adds it only to the task's result); a failed
    item, whether fail_json, a failed assert, failed_when or a non-zero rc, carries `exception`."""
    return bool(result.get("failed")) or "exception" in result


def converged(run):
    assert run.rc == 0, f"run failed: {run.failures() or run.rest[-3000:]}"
    return run
