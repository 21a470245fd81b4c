"""A moto world per scenario and a runner for the AWS playbooks.

Each scenario module builds its world once (module-scoped): moto behind a CountingProxy,
the operator's part (VPCs, subnets, public zone, AMIs published by
packer/publish_ami_ids.py), then runs the real ansible-playbook against it.
"""
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

from aws_world import ansible_env, operator_world, role_vars  # noqa: E402
from moto_world import CountingProxy, MotoServer  # noqa: E402

PLAYBOOKS = {"pools": ROOT / "playbooks/aws-pools.yml", "edge": ROOT / "playbooks/aws-edge.yml",
             "both": HERE / "both.yml", "config": ROOT / "playbooks/cluster-config.yml"}
ANSIBLE = ROOT / ".venv/bin/ansible-playbook"


@dataclass
class Run:
    rc: int
    report: dict
    stderr: str
    calls: list
    messages: list = field(default_factory=list)
    seconds: float = 0.0

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
        path = self.tmp / f"vars-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(variables))
        t0 = time.monotonic()
        with CountingProxy(self.moto.endpoint) as proxy:
            env = ansible_env(proxy.endpoint, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCAL_TEMP=str(self.tmp / "ansible-tmp"))
            p = subprocess.run([str(ANSIBLE), str(PLAYBOOKS[playbook]), "-e", f"@{path}", *args], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=600)
            calls = list(proxy.calls)
        report = json.loads(p.stdout[p.stdout.index("{"):]) if "{" in p.stdout else {}
        messages = []
        for play in report.get("plays", []):
            for task in play["tasks"]:
                for res in task["hosts"].values():
                    for one in [res] + res.get("results", []):
                        if one.get("msg"):
                            messages.append((str(one["msg"]), item_failed(one)))
        run = Run(p.returncode, report, p.stderr, calls, messages, time.monotonic() - t0)
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
    assert run.rc == 0, f"run failed: {run.failures() or run.stderr[-3000:]}"
    return run
