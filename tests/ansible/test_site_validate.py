"""site.yml's first play refuses a bad inventory before touching any host, and
groups the proxies by region for the rollout."""
import json

import pytest
import region_slots
from conftest import ROOT, local_host_vars, run_playbook

ENV = {"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_GATHERING": "explicit"}


def inventory(auth=None, proxies=None, stale=None, **extra_vars):
    auth = {"auth-1": {"teleport_role": "auth", "aws_region": "us-west-2"}} if auth is None else auth
    if proxies is None:
        proxies = {
            "proxy-a": {"teleport_role": "proxy", "aws_region": "us-west-2", "teleport_peer_public_addr": "a.internal:3021"},
            "proxy-b": {"teleport_role": "proxy", "aws_region": "eu-central-1", "teleport_peer_public_addr": "b.internal:3021"},
            "proxy-c": {"teleport_role": "proxy", "aws_region": "us-west-2", "teleport_peer_public_addr": "c.internal:3021"},
        }
    return {"all": {
        "vars": local_host_vars(teleport_inventory_cluster="teleport.example.com",
                                teleport_inventory_stale_regions=stale or [], **extra_vars),
        "children": {
            "teleport": {"children": {"teleport_auth": {"hosts": auth}, "teleport_proxy": {"hosts": proxies}}},
        },
    }}


def validate(tmp_path, inv):
    result = run_playbook(ROOT / "playbooks/site.yml", inv, tmp_path, "--tags", "site_validate", env=ENV)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    first_play = report["plays"][0]
    failed = [str(res.get("msg", "")) for task in first_play["tasks"] for res in task["hosts"].values() if res.get("failed")]
    added = [item for task in first_play["tasks"] for res in task["hosts"].values()
             for item in res.get("results", []) if "add_host" in item]
    return result.returncode, failed, added


def test_a_good_inventory_passes_and_proxies_are_grouped_by_region(tmp_path):
    rc, failed, added = validate(tmp_path, inventory())
    assert rc == 0 and failed == []
    groups = {r["add_host"]["host_name"]: r["add_host"]["groups"] for r in added}
    # Regions sorted: eu-central-1 is slot 1, us-west-2 slot 2.
    assert groups == {"proxy-b": ["teleport_rollout_proxy_1"],
                      "proxy-a": ["teleport_rollout_proxy_2"],
                      "proxy-c": ["teleport_rollout_proxy_2"]}


@pytest.mark.parametrize("case, inv, expected", [
    ("no auth hosts", inventory(auth={}), "The group teleport_auth is empty"),
    ("stale regions", inventory(stale=["eu-central-1"]), "could not refresh eu-central-1"),
    ("duplicate peer address", inventory(teleport_edition="enterprise", proxies={
        "proxy-a": {"teleport_role": "proxy", "teleport_peer_public_addr": "same.internal:3021"},
        "proxy-b": {"teleport_role": "proxy", "teleport_peer_public_addr": "same.internal:3021"},
    }), "teleport_peer_public_addr same.internal:3021 is used by more than one proxy"),
    ("missing peer address", inventory(teleport_edition="enterprise", proxies={"proxy-a": {"teleport_role": "proxy"}}),
     "teleport_peer_public_addr is missing on proxy-a"),
    ("role does not match group", inventory(proxies={
        "proxy-a": {"teleport_role": "auth", "teleport_peer_public_addr": "a.internal:3021"}}),
     "teleport_role is missing or does not match the group"),
    ("cluster name disagrees", inventory(teleport_cluster_name="other.example.com"),
     "teleport_cluster_name is other.example.com but the inventory service discovers the cluster teleport.example.com"),
    ("proxy peering on OSS", inventory(teleport_tunnel_strategy="proxy_peering"), "Proxy Peering is an Enterprise-only feature"),
])
def test_a_bad_inventory_fails_first_with_the_reason(tmp_path, case, inv, expected):
    rc, failed, _ = validate(tmp_path, inv)
    assert rc != 0, case
    assert any(expected in m for m in failed), (case, failed)


def test_limit_without_localhost_still_validates_the_whole_inventory(tmp_path):
    # The bad proxy is outside the limit: the inventory-wide checks see it anyway.
    bad = inventory(teleport_edition="enterprise", proxies={
        "proxy-a": {"teleport_role": "proxy", "aws_region": "us-west-2", "teleport_peer_public_addr": "a.internal:3021"},
        "proxy-b": {"teleport_role": "proxy", "aws_region": "us-west-2", "teleport_peer_public_addr": "a.internal:3021"}})
    result = run_playbook(ROOT / "playbooks/site.yml", bad, tmp_path, "--limit", "proxy-a", "--tags", "site_validate", env=ENV)
    assert result.returncode != 0
    assert "is used by more than one proxy" in result.stdout


def _plays_and_hosts(stdout):
    """{play name: sorted hosts that ran any task, over all its serial batches} from the json callback."""
    report = json.loads(stdout[stdout.index("{"):])
    hosts = {}
    for p in report["plays"]:
        hosts.setdefault(p["play"]["name"], set()).update(h for t in p["tasks"] for h in t["hosts"])
    return {name: sorted(h) for name, h in hosts.items()}


@pytest.mark.parametrize("limit", [None, "proxy-c"])
def test_tags_site_proxy_alone_rolls_the_proxies_of_each_region(tmp_path, limit):
    # Every role task is skipped by tag; fact gathering (always) shows which hosts each play has.
    args = ["--tags", "site_proxy", "--skip-tags", "teleport,node_agent,cluster_config"] + (["--limit", limit] if limit else [])
    result = run_playbook(ROOT / "playbooks/site.yml", inventory(), tmp_path, *args, env=ENV)
    assert result.returncode == 0, result.stdout[-3000:]
    plays = _plays_and_hosts(result.stdout)
    slot2 = ["proxy-c"] if limit else ["proxy-a", "proxy-c"]
    assert plays["Roll the proxies of region slot 2"] == slot2
    assert plays.get("Roll the proxies of region slot 1", []) == ([] if limit else ["proxy-b"])
    report = json.loads(result.stdout[result.stdout.index("{"):])
    auth_tasks = [t["task"]["name"] for p in report["plays"] if p["play"]["name"] == "Roll the auth pool"
                  for t in p["tasks"] if t["task"]["name"] != "Gathering Facts" and "Validating arguments" not in t["task"]["name"]]
    assert auth_tasks == []


def test_more_proxy_regions_than_region_slots_fail_naming_the_cap_and_how_to_raise_it(tmp_path):
    # The slots themselves: test_region_slots.py.
    slots = region_slots.cap()
    regions = [f"xx-test-{n}" for n in range(1, slots + 2)]
    proxies = {f"proxy-{n}": {"teleport_role": "proxy", "aws_region": r, "teleport_peer_public_addr": f"p{n}.internal:3021"}
               for n, r in enumerate(regions, 1)}
    rc, failed, added = validate(tmp_path, inventory(proxies=proxies))
    assert rc != 0 and added == []
    assert any(f"The proxies span {slots + 1} regions" in m and f"the playbooks roll at most {slots}" in m
               and "raise _teleport_inv_region_slots" in m and "region_slots.py --write" in m for m in failed), failed

    rc, failed, added = validate(tmp_path, inventory(proxies=dict(list(proxies.items())[:slots])))
    assert rc == 0 and failed == []
    assert sorted(g for r in added for g in r["add_host"]["groups"]) == sorted(f"teleport_rollout_proxy_{n}" for n in range(1, slots + 1))


def test_a_failing_inventory_stops_site_yml_before_any_host(tmp_path):
    # An inventory script that fails leaves Ansible with an empty inventory (a warning only):
    # the validation still runs, on localhost, and stops the run.
    script = tmp_path / "broken_inventory.py"
    script.write_text("#!/bin/sh\necho 'inventory-service: HTTP 503' >&2\nexit 1\n")
    script.chmod(0o755)
    import os
    import subprocess
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json")
    result = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(script), str(ROOT / "playbooks/site.yml")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "The group teleport_auth is empty" in result.stdout
