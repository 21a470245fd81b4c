"""playbooks/awx.yml applied to the AWX API double (harness/awx_api_double.py; no AWX server can run here),
as one story on one double: it makes every object of awx/objects.yml as AWX holds it, a second apply
reports changed=0, and an object removed from the file is removed from AWX and nothing else is (not the
operator's objects, nor another team's copy carrying the marker in its own organization). On a fresh double,
what AWX refuses fails the run naming the object."""
import copy
import re

import pytest
from conftest import MARKER, OBJECTS, apply, load_objects


@pytest.fixture(scope="module")
def story(awx, tmp_path_factory):
    """The three applies, in order, with a snapshot of the double after each."""
    tmp = tmp_path_factory.mktemp("awx")
    runs, snapshots = {}, {}
    for stage, objects in (("first", None), ("second", None), ("trimmed", trimmed_file(tmp))):
        runs[stage] = apply(awx, tmp, objects=objects)
        with awx.world.lock:
            snapshots[stage] = Snapshot(*copy.deepcopy((awx.world.objects, awx.world.associations, awx.world.surveys)))
    return runs, snapshots


def trimmed_file(tmp):
    """awx/objects.yml without the migration's job template, the converge schedule and the workflow's last node."""
    source = OBJECTS.read_text()
    trimmed = re.sub(r'  - name: "Teleport: migrate to Proxy Peering"\n(    .*\n)+', "", source)
    trimmed = re.sub(r'  # The converge safety net.*\n  - name: "Teleport: converge safety net"\n(    .*\n)+', "", trimmed)
    trimmed = trimmed.replace("        success_nodes: [converge]\n", "        success_nodes: []\n")
    trimmed = re.sub(r"      - identifier: converge\n(        .*\n)+", "", trimmed)
    assert trimmed.count("\n") < source.count("\n") - 10
    path = tmp / "objects.yml"
    path.write_text(trimmed)
    return path


class Snapshot:
    """The double's objects after one stage, read like AwxWorld."""

    def __init__(self, objects, associations, surveys):
        self.objects, self.associations, self.surveys = objects, associations, surveys

    def __eq__(self, other):
        return (self.objects, self.associations, self.surveys) == (other.objects, other.associations, other.surveys)

    def named(self, kind, name):
        return [o for o in self.objects[kind].values() if o.get("name") == name]

    def _find_unified(self, oid):
        for kind in ("job_templates", "workflow_job_templates", "projects", "inventory_sources"):
            if oid in self.objects[kind]:
                return self.objects[kind][oid]
        return None


def names(world, kind, org="Default"):
    org_id = next(o["id"] for o in world.objects["organizations"].values() if o["name"] == org)
    return sorted(o["name"] for o in world.objects[kind].values() if o.get("organization") in (org_id, None))


def one(world, kind, name):
    [obj] = world.named(kind, name)
    return obj


def linked(world, kind, obj, association):
    ids = world.associations.get((kind, obj["id"], association), [])
    target = {"credentials": "credentials", "success_nodes": "workflow_job_template_nodes"}[association]
    return [world.objects[target][i].get("name") or world.objects[target][i].get("identifier") for i in ids]


def test_the_first_apply_makes_every_object_as_awx_holds_it(story):
    runs, snapshots = story
    world, objects = snapshots["first"], load_objects()
    first = runs["first"]
    assert first.rc == 0, first.text[-4000:]
    assert first.recap["localhost"]["changed"] > 0

    want_jts = sorted([t["name"] for t in objects["awx_job_templates"]] + ["Someone else's job"])
    assert names(world, "job_templates") == want_jts
    site = one(world, "job_templates", "Teleport: site")
    assert MARKER in site["description"] and site["playbook"] == "playbooks/site.yml"
    assert linked(world, "job_templates", site, "credentials") == ["Teleport hosts SSH", "Teleport AWS"]
    [pools] = [o for o in world.named("job_templates", "Teleport: AWS pools") if "another team" not in o["description"]]
    assert linked(world, "job_templates", pools, "credentials") == ["Teleport AWS"]
    upgrade = one(world, "job_templates", "Teleport: upgrade")
    assert upgrade["survey_enabled"] is True
    assert [q["variable"] for q in world.surveys[("job_templates", upgrade["id"])]["spec"]] == \
        ["teleport_version", "teleport_tarball_sha256"]
    assert [t["name"] for t in world.objects["job_templates"].values() if t.get("allow_simultaneous")] == \
        ["Teleport: site (check)"]

    source = one(world, "inventory_sources", "Teleport inventory service")
    assert (source["source"], source["source_path"], source["update_on_launch"], source["overwrite"]) == \
        ("scm", "playbooks/inventory/teleport_inventory.py", True, True)
    assert source["source_project"] == one(world, "projects", "teleport-ha-aws")["id"]
    credential = one(world, "credentials", "Teleport inventory service")
    assert credential["inputs"]["token"] == "inventory-token-never-printed"  # stored; AWX answers $encrypted$
    assert "inventory-token-never-printed" not in first.text

    workflow = one(world, "workflow_job_templates", "Teleport: first deployment")
    nodes = {n["identifier"]: n for n in world.objects["workflow_job_template_nodes"].values()
             if n["workflow_job_template"] == workflow["id"]}
    order, node = [], nodes["pools"]
    while node:
        order.append(world._find_unified(node["unified_job_template"])["name"])
        nxt = linked(world, "workflow_job_template_nodes", node, "success_nodes")
        node = nodes[nxt[0]] if nxt else None
    assert order == ["Teleport: AWS pools", "Teleport: publish cluster config", "Teleport: AWS edge", "Teleport: site"]
    schedules = {s["name"]: world._find_unified(s["unified_job_template"])["name"] for s in world.objects["schedules"].values()}
    assert schedules == {"Teleport: TLS renewal": "Teleport: TLS", "Teleport: converge safety net": "Teleport: site"}



def test_the_second_apply_changes_nothing(story):
    runs, snapshots = story
    second = runs["second"]
    assert second.rc == 0, second.text[-4000:]
    assert second.recap["localhost"]["changed"] == 0, second.text[-6000:]
    assert snapshots["second"] == snapshots["first"]


def test_an_object_removed_from_the_file_is_removed_and_only_it(story):
    runs, snapshots = story
    run = runs["trimmed"]
    assert run.rc == 0, run.text[-4000:]
    before, after = snapshots["second"], snapshots["trimmed"]
    gone = {kind: sorted(set(before.objects[kind]) - set(objs)) for kind, objs in after.objects.items()}
    gone = {kind: ids for kind, ids in gone.items() if ids}
    assert {k: len(v) for k, v in gone.items()} == {"job_templates": 1, "schedules": 1, "workflow_job_template_nodes": 1}
    assert not after.named("job_templates", "Teleport: migrate to Proxy Peering")
    assert [s["name"] for s in after.objects["schedules"].values()] == ["Teleport: TLS renewal"]
    assert sorted(n["identifier"] for n in after.objects["workflow_job_template_nodes"].values()) == ["edge", "pools", "publish"]
    assert after.named("job_templates", "Someone else's job")
    assert len(after.named("job_templates", "Teleport: AWS pools")) == 2  # ours, and the other team's
    assert run.recap["localhost"]["changed"] > 0


SMALL = """\
awx_credential_types: []
awx_credentials: []
awx_projects:
  - {name: teleport-ha-aws, description: d, scm_type: git, scm_url: "{{ awx_scm_url }}", scm_branch: main,
     scm_update_on_launch: true, scm_clean: true, allow_override: false, default_environment: Teleport HA EE}
awx_inventories:
  - {name: Teleport cluster, description: d, sources: []}
awx_job_templates:
  - {name: "Teleport: AWS pools", description: d, playbook: playbooks/no-such-book.yml, credentials: []}
awx_workflow_job_templates: []
awx_schedules: []
"""


def test_what_awx_refuses_fails_the_run_naming_it(fresh_awx, tmp_path):
    """A job template whose playbook is not in the project: AWX's 400 ends the run, naming the template."""
    source = OBJECTS.read_text()
    head = source[:source.index("awx_credential_types:")]
    bad = tmp_path / "objects.yml"
    bad.write_text(head.replace("_awx_host_credentials", "_unused_a").replace("_awx_aws_credentials", "_unused_b") + SMALL)
    run = apply(fresh_awx, tmp_path, objects=bad)
    assert run.rc != 0
    assert "Unable to create job_template Teleport: AWS pools" in run.text
    assert "Playbook not found for project." in run.text
    assert not fresh_awx.world.named("job_templates", "Teleport: AWS pools")[1:]  # only the other team's
