#!/usr/bin/env python3
"""Generates the role variable tables of docs/ansible.md (host roles) and docs/aws.md
(AWS roles) from each role's meta/argument_specs.yml, and docs/ansible.md's tag table
from the playbooks and the roles' tasks/main.yml, so the documentation cannot drift
from them.

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
TAGS_BEGIN = "<!-- BEGIN GENERATED TAGS (tests/ansible/argspec_doc.py --write) -->"
TAGS_END = "<!-- END GENERATED TAGS -->"
DOCS = {
    ROOT / "docs/ansible.md": ["teleport", "node_agent", "inventory_service"],
    ROOT / "docs/aws.md": ["aws_cluster", "aws_pools", "aws_edge"],
    ROOT / "docs/tls.md": ["tls_issuer", "tls_renewal"],
    ROOT / "docs/boot.md": ["cluster_config", "boot_kit"],
}
# The doc that carries the tag table.
TAGS_DOC = ROOT / "docs/ansible.md"
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


def tag_table():
    """| tag | what it selects |, from the plays' tags and the roles' tasks/main.yml."""
    where = {}
    for pb in sorted((ROOT / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(pb.read_text()) or []:
            for tag in play.get("tags", []):
                if tag != "always":
                    where.setdefault(tag, []).append(f"`{pb.name}`: {play['name']}")
    for main in sorted((ROOT / "roles").glob("*/tasks/main.yml")):
        role = main.parent.parent.name
        tasks = yaml.safe_load(main.read_text()) or []
        for tag in dict.fromkeys(t for task in tasks for t in task.get("tags", [])):
            named = [task["name"] for task in tasks if tag in task.get("tags", [])]
            what = "every task" if len(named) == len(tasks) else "; ".join(named)
            where.setdefault(tag, []).append(f"role `{role}`: {what}")
    out = ["| Tag | Selects |", "|---|---|"]
    for tag in sorted(where):
        seen = list(dict.fromkeys(where[tag]))
        out.append(f"| `{tag}` | {cell('; '.join(seen))} |")
    return "\n".join(out) + "\n"


def _replace(text, begin, end, content):
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n\n{content}\n{end}{tail}"


def render(doc_text, roles, doc):
    text = _replace(doc_text, BEGIN, END, tables(roles))
    return _replace(text, TAGS_BEGIN, TAGS_END, tag_table()) if doc == TAGS_DOC else text


def main(argv):
    if "--write" in argv or "--check" in argv:
        status = 0
        for doc, roles in DOCS.items():
            current = doc.read_text()
            markers = [(BEGIN, END)] + ([(TAGS_BEGIN, TAGS_END)] if doc == TAGS_DOC else [])
            missing = [m for pair in markers for m in pair if m not in current]
            if missing:
                print(f"{doc}: the markers {missing} are missing", file=sys.stderr)
                status = 1
                continue
            wanted = render(current, roles, doc)
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
