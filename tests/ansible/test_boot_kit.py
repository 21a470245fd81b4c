"""The boot kit an AMI carries runs the roles with what the controller runs them with: its ansible-core and boto3
defaults are requirements-dev.txt's pins (a new pin fails here until roles/boot_kit follows it)."""
import re

import yaml
from conftest import ROOT


def pins():
    out = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_the_kit_pins_the_controllers_ansible_core_and_boto3():
    defaults = yaml.safe_load((ROOT / "roles/boot_kit/defaults/main.yml").read_text())
    assert defaults["boot_kit_ansible_core_version"] == pins()["ansible-core"]
    assert defaults["boot_kit_boto3_version"] == pins()["boto3"] == pins()["botocore"]
