"""awx/objects.yml is what the awx.awx modules accept: every key of every object is an option of the module
that makes it (ansible-doc -j, awx.awx 24.6.1) with a value of its type and among its choices, every key is
passed on by playbooks/awx.yml's task for that module, and every playbook and inventory path it names exists
in the project (the inventory script executable)."""
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import OBJECTS, load_objects

from harness.ansible import BIN, ansible_env
from harness.util import REPO

# objects.yml list -> (module, keys awx.yml itself handles rather than passing on)
KINDS = {
    "awx_credential_types": ("credential_type", ()),
    "awx_credentials": ("credential", ()),
    "awx_projects": ("project", ()),
    "awx_inventories": ("inventory", ("sources",)),
    "awx_job_templates": ("job_template", ()),
    "awx_workflow_job_templates": ("workflow_job_template", ("nodes",)),
    "awx_schedules": ("schedule", ()),
}
NESTED = {("awx_inventories", "sources"): "inventory_source", ("awx_workflow_job_templates", "nodes"): "workflow_job_template_node"}
TYPES = {"str": str, "bool": bool, "dict": dict, "list": list, "int": int, "path": str, "raw": object, "json": object}


@pytest.fixture(scope="module")
def specs():
    modules = sorted({m for m, _ in KINDS.values()} | set(NESTED.values()))
    out = subprocess.run([str(BIN / "ansible-doc"), "-j", "-t", "module", *[f"awx.awx.{m}" for m in modules]],
                         capture_output=True, text=True, env=ansible_env(), cwd=REPO, check=True, timeout=300).stdout
    docs = json.loads(out)
    assert set(docs) == {f"awx.awx.{m}" for m in modules}, "awx.awx is missing: scripts/install-deps.sh extracts it"
    return {name.removeprefix("awx.awx."): d["doc"]["options"] for name, d in docs.items()}


def objects_of(module):
    objects = load_objects()
    for kind, (m, _) in KINDS.items():
        if m == module:
            yield from objects[kind]
    for (kind, key), m in NESTED.items():
        if m == module:
            for parent in objects[kind]:
                yield from parent[key]


def task_args(module):
    """The option names playbooks/awx.yml's tasks pass to awx.awx.<module> when they make an object."""
    play = yaml.safe_load(Path(REPO, "playbooks/awx.yml").read_text())[0]
    return {arg for t in play["tasks"] if f"awx.awx.{module}" in t and t[f"awx.awx.{module}"].get("state") != "absent"
            for arg in t[f"awx.awx.{module}"]}


def check_value(option, value, where):
    if isinstance(value, str) and "{{" in value:
        return  # templated at run time: the run against the double checks it
    want = TYPES[option.get("type", "str")]
    assert isinstance(value, want), f"{where}: {value!r} is not a {option.get('type', 'str')}"
    if option.get("choices") and not isinstance(value, (list, dict)):
        assert value in option["choices"], f"{where}: {value!r} not in {option['choices']}"


@pytest.mark.parametrize("module", sorted({m for m, _ in KINDS.values()} | set(NESTED.values())))
def test_every_object_is_what_its_module_accepts(module, specs):
    options = specs[module]
    handled = {k for m, keys in KINDS.values() if m == module for k in keys}
    passed = task_args(module)
    objects = list(objects_of(module))
    assert objects, f"awx/objects.yml makes no {module}"
    for obj in objects:
        name = obj.get("name") or obj.get("identifier")
        for key, value in obj.items():
            if key in handled:
                continue
            assert key in options, f"{module} {name!r}: {key} is not an option of awx.awx.{module}"
            assert key in passed, f"{module} {name!r}: playbooks/awx.yml never passes {key} to awx.awx.{module}"
            check_value(options[key], value, f"{module} {name!r}.{key}")
        for key, option in options.items():
            if option.get("required") and key not in obj:
                assert key in passed, f"awx.awx.{module} requires {key}"


def test_every_path_the_objects_name_is_in_the_project():
    objects = load_objects()
    playbooks = [t["playbook"] for t in objects["awx_job_templates"]]
    for book in playbooks:
        assert Path(REPO, book).is_file(), book
    # Every controller playbook has a job template, but the per-region and imported ones, boot.yml (run by an
    # instance on itself) and tls-renewal.yml (a systemd timer AWX's schedule replaces).
    not_jobs = {"boot.yml", "tls-renewal.yml", "auth-pool.yml", "proxy-region.yml", "tls-region.yml",
                "upgrade-proxy-region.yml", "validate-inventory.yml", "check-cluster.yml", "awx.yml"}
    assert {Path(b).name for b in playbooks} == {p.name for p in Path(REPO, "playbooks").glob("*.yml")} - not_jobs
    for inventory in objects["awx_inventories"]:
        for source in inventory["sources"]:
            path = Path(REPO, source["source_path"])
            assert path.is_file() and os.access(path, os.X_OK), f"{path}: AWX runs only an executable inventory script"


def test_upgrade_asks_for_the_version():
    [upgrade] = [t for t in load_objects()["awx_job_templates"] if t["playbook"] == "playbooks/upgrade.yml"]
    assert upgrade["survey_enabled"]
    [version] = [q for q in upgrade["survey_spec"]["spec"] if q["variable"] == "teleport_version"]
    assert version["required"] and version["type"] == "text"


def test_only_the_check_mode_template_runs_simultaneously():
    simultaneous = [t["name"] for t in load_objects()["awx_job_templates"] if t.get("allow_simultaneous")]
    assert simultaneous == ["Teleport: site (check)"]
    assert OBJECTS.is_file()
