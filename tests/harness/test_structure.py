"""The harness's shape (tests/README.md): modules import one way, CLI -> drills -> checks ->
converge -> hosts/AWS/network, with no circle; the package imports nothing from tests/; nothing
edits sys.path; and one module starts ansible-playbook. Read from the sources (ast), nothing run."""
import ast
import importlib.util
import subprocess
from pathlib import Path

import pytest

from harness.util import REPO

ROOT = Path(REPO)
HARNESS = ROOT / "harness"
# Top to bottom: a module may import its own tier or a lower one, never a higher one.
TIERS = [
    ("the CLI", ["harness.sandbox.cli"]),
    ("the runner", ["harness.sandbox.runner"]),
    ("the drills", ["harness.sandbox.drills", "harness.sandbox.drills.*", "harness.sandbox.drill"]),
    ("the checks, the sandbox's life", ["harness.sandbox.checks", "harness.sandbox.lifecycle"]),
    ("the converges", ["harness.sandbox.converge"]),
    ("the sandbox's hosts, AWS and network", ["harness.sandbox", "harness.sandbox.*"]),
    ("the harness's parts (the labs' too)", ["harness", "harness.*"]),
]


def modules():
    """{module name: its file} of every module of the package."""
    out = {}
    for path in sorted(HARNESS.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name, path):
    """The modules name imports: absolute names, relative ones resolved, `from x import y` as x.y
    when x.y is a module of the package."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def tier(name):
    for n, (_, patterns) in enumerate(TIERS):
        for p in patterns:
            if name == p or (p.endswith(".*") and name.startswith(p[:-1])):
                return n
    raise AssertionError(f"{name}: in no tier of TIERS")


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    return {name: {i for i in imports(name, path) if i in mods and i != name} for name, path in mods.items()}


def test_every_module_imports_its_own_tier_or_a_lower_one(graph):
    upward = [f"{a} ({TIERS[tier(a)][0]}) imports {b} ({TIERS[tier(b)][0]})"
              for a, targets in graph.items() for b in targets if tier(b) < tier(a)]
    assert upward == []


def test_no_two_modules_import_each_other_even_through_others(graph):
    circles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_package_imports_nothing_from_tests():
    """Every import of the package resolves to the package itself, the standard library or an
    installed distribution: none to a file under tests/."""
    from_tests = []
    for name, path in modules().items():
        for imported in imports(name, path):
            if imported.startswith("harness"):
                continue
            try:
                spec = importlib.util.find_spec(imported.split(".")[0])
            except (ImportError, ValueError):
                spec = None
            origin = Path(spec.origin).resolve() if spec and spec.origin else None
            if spec is None or (origin and (ROOT / "tests") in origin.parents):
                from_tests.append(f"{name} imports {imported} ({origin or 'not installed'})")
    assert from_tests == []


def python_files():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py", "sandbox/sandbox"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in listed if (ROOT / f).exists() and ROOT / f != Path(__file__)
            and f.startswith(("harness/", "tests/", "bench/", "sandbox/", "packer/", "scripts/"))]


def test_nothing_edits_sys_path():
    """The package is found through its installed path, not through a path the code adds."""
    edits = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno} sys.path")
            if isinstance(node, ast.Constant) and node.value == "PYTHONPATH":
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno} PYTHONPATH")
            if isinstance(node, ast.keyword) and node.arg == "PYTHONPATH":
                edits.append(f"{path.relative_to(ROOT)}:{node.value.lineno} PYTHONPATH=")
    assert edits == []


def test_only_the_runner_starts_ansible_playbook():
    """harness/ansible.py builds every ansible-playbook command (molecule's AnsiblePlaybook). A name
    tested with endswith() reads a command something else built (tests/boot: teleport-ha-boot's
    converge, which a fake host records); it starts nothing."""
    starts = []
    # The benches' anchors (another checkout's, another release's Ansible) go through it too: bin_dir.
    for path in python_files():
        if path == HARNESS / "ansible.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        read = {id(a) for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "endswith" for a in node.args}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in read and (
                    node.value == "ansible-playbook" or node.value.endswith("/ansible-playbook")):
                starts.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert starts == []
