#!/usr/bin/env python3
"""Generates the role variable tables of docs/ansible.md (host roles) and docs/aws.md
(AWS roles) from each role's meta/argument_specs.yml, so the documentation cannot drift
from the roles.

  tests/ansible/argspec_doc.py          # print the tables
  tests/ansible/argspec_doc.py --write  # rewrite them in the docs
  tests/ansible/argspec_doc.py --check  # exit 1 when a doc is stale
"""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- BEGIN GENERATED VARIABLES (tests/ansible/argspec_doc.py --write) -->"
END = "<!-- END GENERATED VARIABLES -->"
DOCS = {
    ROOT / "docs/ansible.md": ["teleport", "node_agent", "inventory_service"],
    ROOT / "docs/aws.md": ["aws_cluster", "aws_pools", "aws_edge"],
}
ROLES = [role for roles in DOCS.values() for role in roles]


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def type_of(opt):
    t = opt.get("type", "str")
    if t == "list" and "elements" in opt:
        t = f"list of {opt['elements']}"
    if "choices" in opt:
        t += " (" + ", ".join(str(c) for c in opt["choices"]) + ")"
    return t


def default_of(opt):
    if "default" not in opt:
        return "inventory host variable"
    value = opt["default"]
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"


def tables(roles):
    out = []
    for role in roles:
        spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
        main = spec["argument_specs"]["main"]
        out.append(f"### Role `{role}`\n")
        out.append(cell(main["short_description"]) + "\n")
        out.append("| Variable | Type | Default | Description |")
        out.append("|---|---|---|---|")
        for name, opt in main["options"].items():
            desc = opt["description"]
            desc = " ".join(desc) if isinstance(desc, list) else desc
            out.append(f"| `{name}` | {cell(type_of(opt))} | {cell(default_of(opt))} | {cell(desc)} |")
        out.append("")
    return "\n".join(out)


def render(doc_text, roles):
    head, _, rest = doc_text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{tables(roles)}\n{END}{tail}"


def main(argv):
    if "--write" in argv or "--check" in argv:
        status = 0
        for doc, roles in DOCS.items():
            current = doc.read_text()
            if BEGIN not in current or END not in current:
                print(f"{doc}: the markers {BEGIN!r} and {END!r} are missing", file=sys.stderr)
                status = 1
                continue
            wanted = render(current, roles)
            if "--check" in argv:
                if wanted != current:
                    print(f"{doc} is stale; run tests/ansible/argspec_doc.py --write", file=sys.stderr)
                    status = 1
            else:
                doc.write_text(wanted)
        return status
    for roles in DOCS.values():
        print(tables(roles))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
