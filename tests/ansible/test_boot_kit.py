"""The boot kit an AMI carries runs the roles with what the controller runs them with: its ansible-core, boto3
and cryptography defaults are requirements-dev.txt's pins (a new pin fails here until roles/boot_kit follows it),
and the bake refuses a Python that ansible-core cannot run its controller on, since the kit runs ansible-playbook
on the instance."""
import importlib.metadata
import re

import pytest
import yaml
from conftest import HERE, ROOT, failures_by_host, local_host_vars, play


def pins():
    out = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def defaults():
    return yaml.safe_load((ROOT / "roles/boot_kit/defaults/main.yml").read_text())


def test_the_kit_pins_the_controllers_ansible_core_boto3_and_cryptography():
    assert defaults()["boot_kit_ansible_core_version"] == pins()["ansible-core"]
    assert defaults()["boot_kit_boto3_version"] == pins()["boto3"] == pins()["botocore"]
    # Unpinned, the kit's ansible-core would get the newest cryptography, whose warning the controller's pin avoids.
    assert defaults()["boot_kit_cryptography_version"] == pins()["cryptography"]


def test_the_kits_minimum_python_is_what_its_ansible_core_requires():
    # The tests run in the controller's venv, which holds the pinned ansible-core: its own Requires-Python.
    assert importlib.metadata.version("ansible-core") == pins()["ansible-core"]
    requires = importlib.metadata.metadata("ansible-core")["Requires-Python"]
    assert re.fullmatch(r">=\s*3\.\d+", requires), f"ansible-core's Requires-Python {requires!r} is not a plain minimum"
    assert defaults()["boot_kit_python_min_version"] == requires.lstrip(">= ")


def fake_python(tmp_path, name, version):
    """An interpreter that answers the version question as a Python of that version would."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_the_bake_refuses_a_python_the_kits_ansible_core_cannot_run_on(tmp_path, check):
    hosts = {
        # Debian 12's python3, Amazon Linux 2023's python3: ansible-core 2.21 runs no controller on them.
        "py311": {"boot_kit_python": fake_python(tmp_path, "python3.11", "3.11")},
        "py39": {"boot_kit_python": fake_python(tmp_path, "python3.9", "3.9")},
        "py312": {"boot_kit_python": fake_python(tmp_path, "python3.12", "3.12")},
        "py313": {"boot_kit_python": fake_python(tmp_path, "python3.13", "3.13")},
        "missing": {"boot_kit_python": str(tmp_path / "no-such-python")},
    }
    inventory = {"all": {"vars": local_host_vars(boot_kit_python_packages=[]),
                         "hosts": hosts}}
    r = play(HERE / "boot_kit_python.yml", inventory, tmp_path, *(["--check"] if check else []),
             env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    failures = failures_by_host(r)
    core = defaults()["boot_kit_ansible_core_version"]
    for host, version in (("py311", "3.11"), ("py39", "3.9")):
        msg = " ".join(failures.get(host, []))
        assert f"is Python {version} on this host" in msg, failures
        assert f"runs ansible-core {core} there as its own controller, which needs Python 3.12 or later" in msg
        assert "boot_kit_python" in msg and "Ubuntu 24.04" in msg
    assert "py312" not in failures and "py313" not in failures, failures
    if check:
        # Not installed in check mode (its packages are not): only a real run can tell.
        assert "missing" not in failures, failures
    else:
        assert "is missing on this host" in " ".join(failures.get("missing", [])), failures
