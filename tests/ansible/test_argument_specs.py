"""Keeps each role's defaults/main.yml and meta/argument_specs.yml in sync, and
docs/ansible.md's variable tables current."""
import subprocess
import sys

import pytest
import yaml
from argspec_doc import ROLES
from conftest import HERE, ROOT

# Variables a role reads from the inventory (contract with the inventory service), not from its defaults.
INVENTORY_VARS = {"teleport_role", "teleport_peer_public_addr"}


def load(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_and_every_documented_variable_has_a_default(role):
    defaults, options = load(role)
    documented_with_default = {name for name, opt in options.items() if "default" in opt}
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml but not in meta/argument_specs.yml"
    assert sorted(documented_with_default - set(defaults)) == [], "documented with a default but missing from defaults/main.yml"
    without_default = set(options) - documented_with_default
    assert without_default <= INVENTORY_VARS, f"only inventory host variables may lack a default: {without_default}"


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_equal_the_real_defaults(role):
    defaults, options = load(role)
    for name, value in defaults.items():
        assert options[name]["default"] == value, f"{role}: {name} default differs between defaults/main.yml and argument_specs"


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_typed_described_and_role_prefixed(role):
    _, options = load(role)
    for name, opt in options.items():
        assert opt.get("type"), f"{name}: no type"
        assert str(opt.get("description", "")).strip(), f"{name}: no description"
        assert name.startswith(role + "_") or name in INVENTORY_VARS, f"{name}: not prefixed {role}_"


def test_docs_variable_tables_are_current():
    result = subprocess.run([sys.executable, str(HERE / "argspec_doc.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
