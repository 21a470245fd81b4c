"""roles/host_files/library/host_accounts.py, run as Ansible runs it on a host, with the real groupadd,
useradd and usermod, inside a private mount namespace whose /etc is a copy (this machine's own accounts
are never touched): groups and users created once, left alone when right, corrected when their group,
shell or home differ, check mode changing nothing, and refusals that name the item and the fix."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

MODULE = ROOT / "roles/host_files/library/host_accounts.py"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("useradd"),
                                reason="needs root, unshare and shadow-utils (the test machine has them)")


@pytest.fixture
def etc(tmp_path):
    """A copy of /etc that the module's runs see as /etc."""
    copy = tmp_path / "etc"
    subprocess.run(["cp", "-a", "/etc", str(copy)], check=True)
    return copy


def run(etc, tmp_path, check=False, **params):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**params, "_ansible_check_mode": check}}))
    script = f'mount --bind "{etc}" /etc && exec "{sys.executable}" "{MODULE}" "{args}"'
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def entry(etc, name, db="passwd"):
    for line in (etc / db).read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


SVC = {"groups": ["tha-test"], "users": [{"name": "tha-test", "group": "tha-test", "home": "/var/lib/tha-test"}]}


def test_created_once_then_left_alone(etc, tmp_path):
    assert entry(etc, "tha-test") is None
    first = run(etc, tmp_path, **SVC)
    assert first["changed"] and first["changed_accounts"] == ["group:tha-test", "user:tha-test"]
    user, group = entry(etc, "tha-test"), entry(etc, "tha-test", "group")
    assert user[3] == group[2], "the user's primary group is the group"
    assert user[5:] == ["/var/lib/tha-test", "/usr/sbin/nologin"]
    assert int(user[2]) < 1000, "a system user"
    assert not os.path.exists("/var/lib/tha-test"), "no home created"
    assert not any(line.startswith("tha-test:") for line in open("/etc/passwd")), "this machine's accounts untouched"
    again = run(etc, tmp_path, **SVC)
    assert not again["changed"] and again["changed_accounts"] == []


def test_a_user_that_differs_is_corrected(etc, tmp_path):
    run(etc, tmp_path, **SVC)
    changed = {"groups": ["tha-test", "tha-other"],
               "users": [{"name": "tha-test", "group": "tha-other", "home": "/srv/tha", "shell": "/bin/false"}]}
    plan = run(etc, tmp_path, check=True, **changed)
    assert plan["changed_accounts"] == ["group:tha-other", "user:tha-test"]
    assert entry(etc, "tha-other", "group") is None and entry(etc, "tha-test")[5] == "/var/lib/tha-test", \
        "check mode changes nothing"
    done = run(etc, tmp_path, **changed)
    assert done["changed_accounts"] == ["group:tha-other", "user:tha-test"]
    user = entry(etc, "tha-test")
    assert user[3] == entry(etc, "tha-other", "group")[2] and user[5:] == ["/srv/tha", "/bin/false"]
    assert run(etc, tmp_path, **changed)["changed"] is False


def test_check_mode_on_a_new_host_plans_both(etc, tmp_path):
    plan = run(etc, tmp_path, check=True, **SVC)
    assert plan["changed_accounts"] == ["group:tha-test", "user:tha-test"]
    assert entry(etc, "tha-test") is None and entry(etc, "tha-test", "group") is None


@pytest.mark.parametrize("params, said", [
    ({"users": [{"name": "tha-test", "group": "tha-missing", "home": "/var/lib/x"}]},
     "user tha-test: its group tha-missing does not exist; list it in groups (before its user)"),
    ({"groups": ["Bad Name"]}, "groups: 'Bad Name': not a valid group name"),
    ({"groups": ["tha-test"], "users": [{"name": "tha-test", "group": "tha-test", "home": "relative"}]},
     "user tha-test: home must be an absolute path"),
    ({"groups": ["tha-test"], "users": [{"name": "tha-test", "group": "tha-test", "home": "/x:/bin/sh"}]},
     "user tha-test: home must be an absolute path without ':'"),
])
def test_refusals_name_the_item(etc, tmp_path, params, said):
    result = run(etc, tmp_path, **params)
    assert result["failed"] and said in result["msg"], result
    assert entry(etc, "tha-test") is None and entry(etc, "tha-test", "group") is None, "nothing half-applied"
