"""Helpers for the Ansible tests: run real ansible-playbook against localhost
(connection local) with a generated inventory, and find the Teleport test double."""
import glob
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from argspec_doc import ROOT

HERE = Path(__file__).resolve().parent


def ansible_env():
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(Path(os.environ.get("TMPDIR", "/tmp")) / "ansible-tests-local"),
    })
    return env


def run_playbook(playbook, inventory, tmp_path, *args, env=None):
    """Runs a playbook with an inventory dict; returns the CompletedProcess."""
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory))
    cmd = [str(Path(os.environ.get("ANSIBLE_BIN_DIR", ROOT / ".venv/bin")) / "ansible-playbook"),
           "-i", str(inv), str(playbook), *args]
    full_env = ansible_env()
    full_env.update(env or {})
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600)


def _messages(json_stdout, only_failed):
    import json
    report = json.loads(json_stdout[json_stdout.index("{"):])
    out = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if "msg" in res and (res.get("failed") or not only_failed):
                    out.setdefault(host, []).append(str(res["msg"]))
    return out


def failures_by_host(json_stdout):
    """{host: [failure messages]} from the json stdout callback's output."""
    return _messages(json_stdout, only_failed=True)


def messages_by_host(json_stdout):
    """{host: [every msg]} (debug warnings included)."""
    return _messages(json_stdout, only_failed=False)


def run_teleport_preflight(hosts, tmp_path):
    """Runs the teleport role's preflight (render_teleport.yml) on sample hosts of one cluster;
    returns the CompletedProcess, whose stdout is the json callback's report."""
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), teleport_cluster_name="teleport.example.com",
                                                 teleport_tarball_sha256="b" * 64),
                         "hosts": hosts}}
    return run_playbook(HERE / "render_teleport.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})


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
