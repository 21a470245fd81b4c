"""The region slots: every playbook that rolls the proxies region by region reaches each
per-region play through its slot file, playbooks/regions/<x>.yml, which imports
playbooks/<x>-region.yml once per slot 1..N with _region_slot: n, and N is the cap the inventory
validation enforces (_teleport_inv_region_slots). No hosts: the YAML, and ansible-playbook
--list-hosts against groups named like the ones validate-inventory.yml builds."""
import re

import yaml
from conftest import ROOT, run_playbook
from region_slots import PLAYBOOKS, REGIONS, SLOT_VAR, cap, stale

# Which slot files each playbook rolls, in order. A playbook that imports a slot file must be here.
ROLLS = {
    "site.yml": ["proxy.yml"],
    "migrate-proxy-peering.yml": ["proxy.yml"],
    "tls.yml": ["tls.yml"],
    "upgrade.yml": ["upgrade-proxy.yml"],
}


def imports(path):
    return [e["ansible.builtin.import_playbook"] for e in yaml.safe_load(path.read_text())
            if "ansible.builtin.import_playbook" in e]


def test_each_slot_file_imports_its_per_region_play_once_per_slot_up_to_the_validated_cap():
    n = cap()
    doc = (ROOT / "docs/ansible.md").read_text().replace("**", "")
    assert f"Up to {n} regions" in doc and f"roll at most {n} proxy regions" in doc, "docs/ansible.md states the cap"
    per_region = sorted(p.name for p in PLAYBOOKS.glob("*-region.yml"))
    assert sorted(p.name for p in REGIONS.glob("*.yml")) == sorted(name.removesuffix("-region.yml") + ".yml"
                                                                   for name in per_region)
    for slot_file in sorted(REGIONS.glob("*.yml")):
        entries = yaml.safe_load(slot_file.read_text())
        play = f"../{slot_file.stem}-region.yml"
        assert [(e["ansible.builtin.import_playbook"], e["vars"]) for e in entries] == \
            [(play, {SLOT_VAR: slot}) for slot in range(1, n + 1)], slot_file.name
        for per_region_play in yaml.safe_load((REGIONS / play).read_text()):
            assert per_region_play["hosts"] == f"teleport_rollout_proxy_{{{{ {SLOT_VAR} | default(1) }}}}"
    # What tests/ansible/region_slots.py --write makes of the cap, so that raising it is one edit.
    assert stale() == []


def _plays_by_playbook(stdout):
    """{playbook file name: [(host pattern, play name, [hosts])]} from ansible-playbook --list-hosts."""
    out, plays = {}, None
    for line in stdout.splitlines():
        if m := re.match(r"playbook: (.+)$", line):
            plays = out.setdefault(m[1].rsplit("/", 1)[-1], [])
        elif m := re.match(r"  play #\d+ \((.*?)\): (.*?)\tTAGS:", line):
            plays.append((m[1], m[2], []))
        elif re.match(r" {6}\S+$", line):
            plays[-1][2].append(line.strip())
    return out


def test_every_playbook_that_rolls_regions_rolls_slots_1_to_the_cap_each_on_its_own_region(tmp_path):
    top_level = [p for p in sorted(PLAYBOOKS.glob("*.yml")) if not p.name.endswith("-region.yml")]
    # Region by region only through a slot file: a per-region play imported directly is a copy of a slot.
    # boot.yml is the one exception: it configures one host, its own, which teleport-ha-boot puts in
    # slot 1's group (roles/boot_kit/files/teleport_ha_boot.py); there is no region to roll.
    assert {p.name: [i for i in imports(p) if i.endswith("-region.yml")] for p in top_level} == \
        {p.name: (["proxy-region.yml"] if p.name == "boot.yml" else []) for p in top_level}
    assert {p.name: [i.removeprefix("regions/") for i in imports(p) if i.startswith("regions/")]
            for p in top_level if any(i.startswith("regions/") for i in imports(p))} == ROLLS

    n = cap()
    # One more group than slots: nothing may roll it.
    groups = {f"teleport_rollout_proxy_{slot}": {"hosts": {f"proxy-of-slot-{slot}": {}}} for slot in range(1, n + 2)}
    first, *more = (PLAYBOOKS / name for name in ROLLS)
    result = run_playbook(first, {"all": {"children": groups}}, tmp_path, *map(str, more), "--list-hosts")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    listed = _plays_by_playbook(result.stdout)
    assert sorted(listed) == sorted(ROLLS)
    for playbook, slot_files in ROLLS.items():
        wanted = []
        for slot_file in slot_files:
            name = yaml.safe_load((PLAYBOOKS / f"{slot_file.removesuffix('.yml')}-region.yml").read_text())[0]["name"]
            wanted += [(f"teleport_rollout_proxy_{slot}", re.sub(r"\{\{.*?\}\}", str(slot), name), [f"proxy-of-slot-{slot}"])
                       for slot in range(1, n + 1)]
        rolled = [p for p in listed[playbook] if p[0].startswith("teleport_rollout_proxy_")]
        assert rolled == wanted, playbook
        # The slots are one run of plays: nothing runs between two regions.
        first = listed[playbook].index(rolled[0])
        assert listed[playbook][first:first + len(rolled)] == rolled, playbook
