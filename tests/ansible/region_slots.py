#!/usr/bin/env python3
"""Writes the region-slot files, playbooks/regions/<x>.yml, one for each per-region play
playbooks/<x>-region.yml, from the one number they must agree on: the cap on proxy regions that
the inventory validation enforces, _teleport_inv_region_slots in roles/teleport/vars/main.yml.

import_playbook is static (no loop, and no templated file name from an outer import's vars in
ansible-core 2.18 or 2.19), so every slot is one written-out import; this keeps them in step with
the cap, and test_region_slots.py fails when they are not.

  .venv/bin/python tests/ansible/region_slots.py          # exit 1 and name the files that are stale
  .venv/bin/python tests/ansible/region_slots.py --write  # rewrite them (after changing the cap, or adding a *-region.yml)
"""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
REGIONS = PLAYBOOKS / "regions"
# The one variable a per-region play reads its slot from.
SLOT_VAR = "_region_slot"


def cap():
    """The most proxy regions the playbooks roll, as the inventory validation enforces it."""
    return yaml.safe_load((ROOT / "roles/teleport/vars/main.yml").read_text())["_teleport_inv_region_slots"]


def per_region_plays():
    """{slot file name: per-region play file name}, e.g. {"proxy.yml": "proxy-region.yml"}."""
    return {p.name.removesuffix("-region.yml") + ".yml": p.name for p in sorted(PLAYBOOKS.glob("*-region.yml"))}


def render(play, slots):
    """The text of the slot file that imports `play` once per region slot 1..slots."""
    lines = [
        "---",
        f"# The region slots of {play}: slot n imports it with {SLOT_VAR}: n, for the proxies of the",
        "# n-th region in the order validate-inventory.yml numbers them (teleport_rollout_proxy_<n>, regions",
        "# sorted by name). import_playbook is static, so each slot is written out, as many as the proxy",
        "# regions the inventory validation allows (_teleport_inv_region_slots in roles/teleport/vars/main.yml).",
        "# Written by tests/ansible/region_slots.py --write from that number: change it there (docs/ansible.md).",
        "",
    ]
    lines += [f"- {{name: Region slot {n}, ansible.builtin.import_playbook: ../{play}, vars: {{{SLOT_VAR}: {n}}}}}"
              for n in range(1, slots + 1)]
    return "\n".join(lines) + "\n"


def wanted():
    """{path: text} of every slot file as it must be."""
    slots = cap()
    return {REGIONS / name: render(play, slots) for name, play in per_region_plays().items()}


def stale():
    """Messages for slot files that differ from wanted(), are missing, or have no per-region play."""
    want = wanted()
    out = [f"{p.relative_to(ROOT)} is missing" if not p.exists() else f"{p.relative_to(ROOT)} is stale"
           for p, text in want.items() if not p.exists() or p.read_text() != text]
    out += [f"{p.relative_to(ROOT)} imports no playbooks/*-region.yml: remove it"
            for p in sorted(REGIONS.glob("*.yml")) if p not in want]
    return out


def main(argv):
    if "--write" in argv:
        REGIONS.mkdir(exist_ok=True)
        for path, text in wanted().items():
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
        return 0
    problems = stale()
    for p in problems:
        print(f"{p}; run tests/ansible/region_slots.py --write", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
