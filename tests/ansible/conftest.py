"""Helpers for the Ansible tests: run real ansible-playbook (harness.ansible) against localhost
(connection local) with a generated inventory, and find the Teleport test double."""
import glob
import os
import sys
import tarfile
from pathlib import Path

import pytest
from argspec_doc import ROOT

from harness.ansible import ansible_env, run_playbook

HERE = Path(__file__).resolve().parent
# Ansible's controller-side temporary files for this suite, in one place.
LOCAL_TEMP = Path(os.environ.get("TMPDIR", "/tmp")) / "ansible-tests-local"


def play(playbook, inventory, tmp_path, *args, env=None):
    """Runs a playbook with an inventory dict (harness.ansible.run_playbook, its log in tmp_path);
    env: more variables (ANSIBLE_STDOUT_CALLBACK=json). Returns the Run."""
    log = tmp_path / f"{Path(playbook).stem}-{len(list(tmp_path.glob(Path(playbook).stem + '-*.log')))}.log"
    return run_playbook(playbook, inventory, None, *args, log=log, timeout=600,
                        env=ansible_env(ANSIBLE_LOCAL_TEMP=LOCAL_TEMP, **(env or {})))


def _messages(run, only_failed):
    out = {}
    for p in run.report["plays"]:
        for task in p["tasks"]:
            for host, res in task["hosts"].items():
                if "msg" in res and (res.get("failed") or not only_failed):
                    out.setdefault(host, []).append(str(res["msg"]))
    return out


def failures_by_host(run):
    """{host: [failure messages]} from the json stdout callback's report."""
    return _messages(run, only_failed=True)


def messages_by_host(run):
    """{host: [every msg]} (debug warnings included)."""
    return _messages(run, only_failed=False)


def run_teleport_preflight(hosts, tmp_path):
    """Runs the teleport role's preflight (render_teleport.yml) on sample hosts of one cluster;
    returns the Run, with the json callback's report."""
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), teleport_cluster_name="teleport.example.com",
                                                 teleport_tarball_sha256="b" * 64),
                         "hosts": hosts}}
    return play(HERE / "render_teleport.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})


def local_host_vars(**extra):
    """Host vars that make a sample host run on this machine (connection local)."""
    base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    base.update(extra)
    return base


@pytest.fixture(scope="session")
def teleport_double(tmp_path_factory):
    """Path of the test double's teleport binary (from build/teleport-double), or None."""
    tarballs = sorted(glob.glob(str(ROOT / "build/teleport-double/teleport-v*-linux-amd64-bin.tar.gz")))
    if not tarballs:
        return None
    dest = tmp_path_factory.mktemp("double")
    with tarfile.open(tarballs[-1]) as tar:
        tar.extractall(dest, filter="data")
    binary = dest / "teleport" / "teleport"
    return binary if binary.exists() else None
