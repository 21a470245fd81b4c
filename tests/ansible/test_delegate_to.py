"""Every delegate_to that names a host through an inventory group survives an inventory without that group.

Ansible templates a task's delegate_to before it evaluates its `when`, so `groups['teleport_auth'] | first`
fails the run on a host whose inventory has no auth group even when the task is skipped. A proxy configuring
itself at boot (playbooks/boot.yml, docs/boot.md) has only its own pool's groups: such a task ABANDONed every
proxy an Auto Scaling group launched until roles/teleport/tasks/ca_pin.yml gave a fallback. Read from the YAML,
nothing run."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GROUP_INDEX = re.compile(r"groups\[\s*['\"]([^'\"]+)['\"]\s*\]((?:\s*\|\s*default\([^)]*\))?)")


def _tasks(node):
    """Every mapping in a task file, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key))


def _delegations():
    for path in sorted([*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/handlers/*.yml"), *ROOT.glob("playbooks/*.yml")]):
        doc = yaml.safe_load(path.read_text())
        plays = doc if isinstance(doc, list) else []
        for node in plays:
            for task in _tasks([node, *(node.get(k) or [] for k in ("tasks", "pre_tasks", "post_tasks", "handlers")
                                        if isinstance(node, dict))]):
                value = task.get("delegate_to")
                if isinstance(value, str):
                    yield path.relative_to(ROOT), task.get("name", "(unnamed)"), value


def test_the_scan_finds_the_delegations_it_is_about():
    through_groups = {str(p) for p, _, v in _delegations() if "groups[" in v}
    assert "roles/teleport/tasks/ca_pin.yml" in through_groups, through_groups


def test_a_delegation_through_a_group_has_a_default_for_an_inventory_without_it():
    bare = [f"{p}: {name}: {value}" for p, name, value in _delegations()
            for group, default in GROUP_INDEX.findall(value) if not default]
    assert bare == [], "delegate_to is templated before `when`; give groups[...] a default:\n" + "\n".join(bare)
