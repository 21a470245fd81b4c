"""execution-environment.yml provides what every playbook needs, proven without building the image: its pins
are the controller's (requirements-dev.txt, collections/requirements.yml, collections/awx-requirements.yml);
every module, lookup, filter and test that playbooks/ and roles/ name is found by ansible-doc among exactly the
collections it names (an isolated collections path holding only those, at the pinned versions, from the venv's
ansible bundle and build/collections), or is a role's own module or filter, or Jinja's; every import of the roles' plugins
and of the inventory script is installed by it."""
import importlib.util
import json
import re
import subprocess

import ee_usage
import jinja2.filters
import jinja2.tests
import pytest
import yaml
from argspec_doc import ROOT

from harness.ansible import BIN, ansible_env

EE = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
BUNDLE = next((BIN.parent / "lib").glob("python3*/site-packages/ansible_collections"))
AWX_BUILD = ROOT / "build/collections/ansible_collections"
# ansible-core's own requirements: installed with it in any EE.
CORE_IMPORTS = {"ansible", "jinja2", "yaml", "packaging", "resolvelib"}
DIST_OF_IMPORT = {"yaml": "pyyaml"}


def pins(path):
    return {m.group(1).lower(): m.group(2) for line in path.read_text().splitlines()
            if (m := re.match(r"^([A-Za-z0-9_.\-\[\]]+?)(?:\[\w+\])?==(\S+)", line.strip()))}


def ee_python():
    return {re.split(r"[=<>\[]", r)[0].lower(): r.split("==")[1] for r in EE["dependencies"]["python"]}


def ee_collections():
    return {c["name"]: c["version"] for c in EE["dependencies"]["galaxy"]["collections"]}


def test_the_definition_pins_what_the_controller_runs():
    dev = pins(ROOT / "requirements-dev.txt")
    assert EE["version"] == 3
    assert EE["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={dev['ansible-core']}"
    for name, version in ee_python().items():
        assert dev.get(name) == version, f"{name}: the EE pins {version}, requirements-dev.txt {dev.get(name)}"
    wanted = {}
    for f in ("collections/requirements.yml", "collections/awx-requirements.yml"):
        wanted.update({c["name"]: c["version"] for c in yaml.safe_load((ROOT / f).read_text())["collections"]})
    assert ee_collections() == wanted
    assert "java" not in (ROOT / "execution-environment.yml").read_text().lower().replace("no java", "")


@pytest.fixture(scope="module")
def ee_collections_path(tmp_path_factory):
    """An ANSIBLE_COLLECTIONS_PATH holding exactly the definition's collections at its versions."""
    root = tmp_path_factory.mktemp("ee") / "ansible_collections"
    for fqcn, version in ee_collections().items():
        ns, name = fqcn.split(".")
        source = next((base / ns / name for base in (BUNDLE, AWX_BUILD) if (base / ns / name / "MANIFEST.json").is_file()),
                      None)
        assert source, f"{fqcn} is neither in {BUNDLE} nor {AWX_BUILD} (scripts/install-deps.sh extracts awx.awx)"
        have = json.loads((source / "MANIFEST.json").read_text())["collection_info"]["version"]
        assert have == version, f"{fqcn}: the definition pins {version}, {source} is {have}"
        (root / ns).mkdir(parents=True, exist_ok=True)
        (root / ns / name).symlink_to(source)
    return root.parent


def documented(kind, names, collections_path):
    """The names ansible-doc finds among exactly the collections of collections_path (and ansible-core)."""
    if not names:
        return set()
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False")
    run = subprocess.run([str(BIN / "ansible-doc"), "-j", "-t", kind, *sorted(names)], capture_output=True, text=True,
                         env=env, timeout=300, cwd="/")
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout))


def test_the_collections_path_holds_only_the_definition(ee_collections_path):
    # community.docker ships in the venv's ansible bundle, but not in the definition: ansible-doc must not see it.
    assert documented("module", {"community.docker.docker_container", "amazon.aws.route53"}, ee_collections_path) \
        == {"amazon.aws.route53"}


def test_every_module_the_playbooks_call_is_in_the_definition(ee_collections_path):
    used = ee_usage.modules()
    local = {p.stem for p in ROOT.glob("roles/*/library/*.py")}
    short = {m for m in used if "." not in m}
    assert short <= local, f"modules named without a collection that no role ships: {sorted(short - local)}"
    fqcn = used - short
    assert not {m for m in fqcn if m.count(".") != 2}, "every other module by its FQCN"
    missing = fqcn - documented("module", fqcn, ee_collections_path)
    assert not missing, f"modules the execution environment does not provide: {sorted(missing)}"
    assert len(fqcn) > 30


def role_filters():
    """The filters the roles ship themselves (roles/*/filter_plugins/*.py, each a FilterModule)."""
    names = set()
    for path in ROOT.glob("roles/*/filter_plugins/*.py"):
        spec = importlib.util.spec_from_file_location(f"role_filter_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names |= set(module.FilterModule().filters())
    return names


@pytest.mark.parametrize("kind", ["lookup", "filter", "test"])
def test_every_lookup_filter_and_test_is_in_the_definition(kind, ee_collections_path):
    names = ee_usage.jinja_names()[kind]
    jinja = {"filter": set(jinja2.filters.FILTERS), "test": set(jinja2.tests.TESTS), "lookup": set()}[kind]
    fqcn = {n for n in names if n.count(".") == 2}
    short = names - fqcn
    # A short name is a role's own filter (roles/*/filter_plugins, shipped with the project), ansible.builtin's
    # (ansible-core resolves it there first) or Jinja's own.
    local = role_filters() if kind == "filter" else set()
    builtin = {n for n in short if n not in jinja and n not in local}
    as_builtin = {f"ansible.builtin.{n}" for n in builtin}
    wanted = fqcn | as_builtin
    missing = wanted - documented(kind, wanted, ee_collections_path)
    assert not missing, f"{kind}s the execution environment does not provide: {sorted(missing)}"
    assert names, f"no {kind} found: the scan of playbooks/ and roles/ is broken"


def test_every_python_import_is_installed_by_the_definition():
    python = set(ee_python())
    collections = set(ee_collections())
    for module, files in ee_usage.python_imports().items():
        if module.startswith("ansible_collections."):
            assert module.removeprefix("ansible_collections.") in collections, (module, files)
        elif module not in CORE_IMPORTS:
            assert DIST_OF_IMPORT.get(module, module).lower() in python, \
                f"{module} (imported by {sorted(files)}) is not in execution-environment.yml's python"
