"""The teleport role's package install points at Teleport's repositories by the
os-release ID (amzn, rhel, ubuntu, debian), as Teleport's install instructions do,
rendered for the facts of Amazon Linux 2023, RHEL 9, Ubuntu 24.04 and Debian 12."""
import json

import pytest
from conftest import HERE, local_host_vars, play

# Facts as Ansible gathers them on each distribution.
FACTS = {
    "al2023": {"distribution": "Amazon", "os_family": "RedHat", "distribution_major_version": "2023", "distribution_release": "NA"},
    "rhel9": {"distribution": "RedHat", "os_family": "RedHat", "distribution_major_version": "9", "distribution_release": "Plow"},
    "ubuntu2404": {"distribution": "Ubuntu", "os_family": "Debian", "distribution_major_version": "24", "distribution_release": "noble"},
    "debian12": {"distribution": "Debian", "os_family": "Debian", "distribution_major_version": "12", "distribution_release": "bookworm"},
}
# The channel of the role's default release (teleport_version 18.11.1).
CHANNEL = "stable/v18"


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repos")
    hosts = {name: {"render_facts": facts} for name, facts in FACTS.items()}
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp), teleport_role="auth"), "hosts": hosts}}
    result = play(HERE / "render_package_repo.yml", inventory, tmp)
    assert result.rc == 0, result.text[-5000:]
    return {name: json.loads((tmp / f"{name}.json").read_text()) for name in FACTS}


@pytest.mark.parametrize("host, os_id, major", [("al2023", "amzn", "2023"), ("rhel9", "rhel", "9")])
def test_yum_repository_uses_the_os_release_id_and_major_version(repos, host, os_id, major):
    assert repos[host]["family"] == "RedHat"
    assert repos[host]["yum"] == f"https://yum.releases.teleport.dev/{os_id}/{major}/Teleport/$basearch/{CHANNEL}"


@pytest.mark.parametrize("host, os_id, suite", [("ubuntu2404", "ubuntu", "noble"), ("debian12", "debian", "bookworm")])
def test_apt_repository_uses_the_os_release_id_and_codename(repos, host, os_id, suite):
    assert repos[host]["family"] == "Debian"
    assert repos[host]["apt"] == f"https://apt.releases.teleport.dev/{os_id}"
    assert repos[host]["suite"] == suite
