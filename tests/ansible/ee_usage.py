"""What the playbooks and roles use, read from their files: the modules their tasks call, and the lookups,
filters and tests their Jinja names (tasks, handlers, defaults, vars, templates); the Python imports of the
roles' plugins and of the inventory script. tests/ansible/test_execution_environment.py checks each against
execution-environment.yml.

  .venv/bin/python tests/ansible/ee_usage.py   # print what is used, by kind
"""
import ast
import re
import sys
from pathlib import Path

import yaml
from ansible.playbook.block import Block
from ansible.playbook.handler import Handler
from ansible.playbook.play import Play
from ansible.playbook.task import Task

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = set(Task.fattributes) | set(Handler.fattributes) | set(Block.fattributes) | {"local_action", "action", "args", "delegate_to"}
PLAY_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
# Keys whose value is a bare Jinja expression, not a template string.
CONDITIONAL_KEYS = {"when", "that", "failed_when", "changed_when", "until"}
NAME = r"[A-Za-z_]\w*(?:\.\w+){0,2}"


def product_yaml():
    """The YAML of playbooks/ and roles/ (tests and fixtures are not the product)."""
    return sorted(p for p in [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/*/*/**/*.yml")]
                  if "/molecule/" not in str(p) and "/meta/" not in str(p))


def templates():
    return sorted(ROOT.glob("roles/*/templates/**/*.j2"))


def _tasks(items, found):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            if key in task:
                _tasks(task[key], found)
        if any(k in task for k in ("block", "rescue", "always")):
            continue
        actions = [k for k in task if k not in KEYWORDS and not k.startswith("with_")]
        if "local_action" in task or "action" in task:
            value = task.get("local_action") or task.get("action")
            actions.append(value["module"] if isinstance(value, dict) else str(value).split()[0])
        found.update(actions)


def modules():
    """Every action a task of playbooks/ or roles/ names (FQCN, or a role's own library module)."""
    found = set()
    for path in product_yaml():
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, list):
            continue
        if "/tasks/" in str(path) or "/handlers/" in str(path):
            _tasks(doc, found)
            continue
        for play in doc:
            if isinstance(play, dict) and not set(play) & {"import_playbook", "ansible.builtin.import_playbook"}:
                assert set(play) <= set(Play.fattributes) | {"vars", "name"}, f"{path}: not a play: {sorted(play)}"
                for key in PLAY_TASK_LISTS:
                    _tasks(play.get(key), found)
    return found


def _strings(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield key, node


def expressions():
    """Every Jinja expression of playbooks/ and roles/: template parts of strings, bare conditionals, templates."""
    out = []
    for path in product_yaml():
        doc = yaml.safe_load(path.read_text())
        for key, text in _strings(doc):
            if key in CONDITIONAL_KEYS:
                out.append(text)
            out.extend("".join(m) for m in re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", text, re.S))
    for path in templates():
        out.extend("".join(m) for m in re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", path.read_text(), re.S))
    return out


def jinja_names():
    """{'lookup': names, 'filter': names, 'test': names} named in the expressions."""
    lookups, filters, tests = set(), set(), set()
    for expr in expressions():
        lookups.update(re.findall(r"\b(?:lookup|query|q)\(\s*['\"](" + NAME + r")['\"]", expr))
        bare = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", expr)
        filters.update(re.findall(r"\|\s*(" + NAME + r")", bare))
        tests.update(n for n in re.findall(r"\bis\s+(?:not\s+)?(" + NAME + r")", bare) if n not in ("not",))
    return {"lookup": lookups, "filter": filters, "test": tests}


def python_files():
    return sorted([*ROOT.glob("roles/*/library/*.py"), *ROOT.glob("roles/*/module_utils/*.py"),
                   *ROOT.glob("roles/*/*_plugins/*.py"), ROOT / "playbooks/inventory/teleport_inventory.py"])


def python_imports():
    """{top-level module: [files]} of what the roles' plugins and the inventory script import, stdlib aside."""
    found = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names:
                    continue
                if top == "ansible_collections":
                    top = ".".join(name.split(".")[:3])
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


if __name__ == "__main__":
    print("modules:", sorted(modules()))
    for kind, names in jinja_names().items():
        print(f"{kind}s:", sorted(names))
    print("imports:", sorted(python_imports()))
