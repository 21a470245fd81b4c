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

    def __init__(self, run, calls, signed=()):
        self.rc, self.calls, self.seconds, self.log = run.rc, calls, run.seconds, run.log
        self.signed = list(signed)  # each call as IAM evaluates it (CountingProxy.signed)
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
            calls, signed = list(proxy.calls), list(proxy.signed)
        run = Run(done, calls, signed)
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


ACCOUNT = "123456789012"  # moto's

# The statements of teleport-ha-aws-pools and teleport-ha-aws-edge a first converge of the playbooks needs (each the
# only one allowing some call), whatever the scenario; each scenario adds what its own runs need
# (NEEDED_BY_THIS_SCENARIO; test_iam_infrastructure.py: the scenarios together need every statement).
POOLS_CONVERGE_NEEDS = [
    "pools:DiscoverTheNetworkImagesAndGroups", "pools:ReadThePublishedImage", "pools:CreateTheClustersGroupsAndTemplates",
    "pools:CreateSecurityGroupsInTheVpcs", "pools:TagWhatItCreates", "pools:LaunchFromTheClustersTemplates",
    "pools:LaunchWhatTheTemplatesName", "pools:TagWhatTheTemplatesLaunch", "pools:KeepThePoolsGroups",
    "pools:CreateAutoScalingsServiceLinkedRole", "pools:KeepTheConfigBuckets", "pools:RecordTheConfigBucketsAndTheMembership",
]
EDGE_CONVERGE_NEEDS = [
    "edge:DiscoverTheNetworkAndTheEdge", "edge:CreateTheClustersSecurityGroups", "edge:CreateSecurityGroupsInTheVpcs",
    "edge:TagWhatItCreates", "edge:KeepTheRulesOfTheClustersGroups", "edge:KeepTheLoadBalancers", "edge:KeepTheTargetGroups",
    "edge:CreateElasticLoadBalancingsServiceLinkedRole", "edge:AttachTheTargetGroupsToThePools", "edge:ReadTheZones",
    "edge:ChangeTheClustersRecords", "edge:CreateHealthChecks", "edge:KeepTheHealthChecks",
]


def infra_documents(world, variables):
    """{"pools": aws-pools.yml's document, "edge": aws-edge.yml's} for a scenario's variables, rendered as
    tests/aws/iam_policy_docs.py renders the example's (roles/cluster_config/module_utils)."""
    from iam_policy_docs import published
    v = variables
    cluster = v["aws_cluster_name"]
    short = v.get("aws_cluster_short_name", cluster.split(".")[0])
    pools = [{"role": "auth", "region": world.auth_region, "asg": f"{short}-auth-{world.auth_region}"}] + [
        {"role": "proxy", "region": r, "asg": f"{short}-proxy-{r}"} for r in world.regions]
    profiles = {p: p for p in (v.get("aws_pools_auth_instance_profile"), v.get("aws_pools_proxy_instance_profile")) if p}
    lbs = [f"{short}-proxy", f"{short}-auth"] + ([f"{short}-proxy-int"] if v.get("aws_edge_internal_nlb") else [])
    return {
        "pools": published.aws_pools_policy("aws", ACCOUNT, cluster, short, pools,
                                            f"/teleport/{cluster}/ami/x86_64", profiles,
                                            v.get("aws_pools_inventory_service_iam_role", "")),
        "edge": published.aws_edge_policy("aws", ACCOUNT, cluster, short, pools, lbs,
                                          [cluster, "*." + cluster], split_dns=v.get("aws_edge_split_dns", False),
                                          purge_listeners=v.get("aws_edge_purge_listeners", False))}


def infra_policy_proof(world, needed):
    """Every call of every aws-pools.yml and aws-edge.yml run of the scenario, as IAM evaluates it (iam_calls.py), is
    allowed by its playbook's document (a run of both.yml by the two together), and each statement in needed is
    the only one allowing some call. Returns {"pools:<Sid>" or "edge:<Sid>": [calls refused without it]}."""
    import iam_calls
    from iam_proof import allows, without
    docs = infra_documents(world, world.base)
    both = {"Version": "2012-10-17", "Statement": docs["pools"]["Statement"] + docs["edge"]["Statement"]}
    runs = [(pb, r.signed) for pb, _, r in world.runs if pb in ("pools", "edge", "both")]
    table = iam_calls.World(lambda service, region: world.client(service, region), "aws", ACCOUNT)
    evaluated = [(pb, auth) for pb, signed in runs for call in signed for auth in iam_calls.authorizations(call, table)]
    document = {"pools": docs["pools"], "edge": docs["edge"], "both": both}
    refused = [(pb, a) for pb, a in evaluated if not allows(document[pb], *a)]
    assert not refused, "calls the documents do not allow: %s" % refused[:10]
    only = {}
    for name in ("pools", "edge"):
        for s in docs[name]["Statement"]:
            sid = f"{name}:{s['Sid']}"
            less = {"pools": without(docs["pools"], s["Sid"]) if name == "pools" else docs["pools"],
                    "edge": without(docs["edge"], s["Sid"]) if name == "edge" else docs["edge"]}
            less["both"] = {"Statement": less["pools"]["Statement"] + less["edge"]["Statement"]}
            only.setdefault(sid, [])
            only[sid] += [a for pb, a in evaluated if pb in (name, "both") and not allows(less[pb], *a)]
    missing = sorted(set(needed) - {sid for sid, calls in only.items() if calls})
    assert not missing, f"statements no call of this scenario needed: {missing}"
    return only
