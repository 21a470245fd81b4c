"""A three-host lab (one auth, two proxies) from the sandbox's own host code, for
cluster-level tests that need real systemd hosts but not the whole sandbox."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sandbox"))

from sandboxlib import checks, hosts, lab, pki  # noqa: E402

LAB = "editions"
CLUSTER = "lab.teleport.test"


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (systemd-nspawn, bridges)")
    # LAB_KEEP=1 (while developing a test): keep the lab afterwards, and reuse a kept one.
    keep = os.environ.get("LAB_KEEP") == "1"
    state = lab.load(LAB) if keep else None
    if not state:
        lab.down(LAB)
        state = lab.up(LAB, 3, "198.18.240.0/24")
    tmp = tmp_path_factory.mktemp("lab")
    try:
        yield World(state, tmp)
    finally:
        if not keep:
            lab.down(LAB)


class World:
    def __init__(self, state, tmp):
        self.hosts = state["hosts"]
        self.key = state["ssh_key"]
        self.tmp = tmp
        self.auth, self.proxies = self.hosts[0], self.hosts[1:]
        self.tls = pki.issue(str(tmp / "tls"), [CLUSTER, "*." + CLUSTER])
        self.license = pki.test_license(str(tmp / "license.pem"))
        self.inventory = tmp / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(self._inventory()))

    def _inventory(self):
        def host(h, role, **extra):
            return {"ansible_host": h["private_ip"], "teleport_role": role, "aws_region": "lab-1",
                    "aws_private_ip": h["private_ip"], **extra}
        return {"all": {
            "vars": {"teleport_inventory_cluster": CLUSTER, "teleport_inventory_stale_regions": [],
                     "ansible_user": "root", "ansible_ssh_private_key_file": self.key},
            "children": {"teleport": {"children": {
                "teleport_auth": {"hosts": {"auth-0": host(self.auth, "auth")}},
                # The second proxy runs without the SSH Service: both settings render and start.
                "teleport_proxy": {"hosts": {f"proxy-{n}": host(p, "proxy", teleport_peer_public_addr=f"{p['private_ip']}:3021",
                                                                 **({"teleport_ssh_service_enabled": False} if n else {}))
                                             for n, p in enumerate(self.proxies)}},
            }}},
        }}

    def extra_vars(self, edition, version=None, **more):
        version, tarball, sha = checks.build_double(edition, version)
        v = {
            "teleport_edition": edition,
            "teleport_version": version,
            "teleport_tarball_src": tarball,
            "teleport_tarball_sha256": sha,
            "teleport_storage_type": "dynamodb",
            "teleport_storage_region": "us-west-2",
            "teleport_dynamodb_table_name": "lab-backend",
            "teleport_storage_audit_events_uri": ["dynamodb://lab-events"],
            "teleport_storage_audit_sessions_uri": "s3://lab-sessions/records",
            "teleport_auth_server": f"{self.auth['private_ip']}:3025",
            "teleport_join_method": "token",
            "teleport_join_token": "lab-join-token-not-a-secret",
            "teleport_public_addr": [f"{CLUSTER}:443"],
            "node_agent_jar_src": str(ROOT / "node-agent/target/node-agent.jar"),
            # No Auto Scaling group launches a lab host: nothing to publish (cluster_config_enabled, docs/boot.md).
            "cluster_config_enabled": False,
            # A drill's failing gate need not take the default three minutes.
            "teleport_health_timeout": 40,
            "node_agent_peers_probe_interval": "2s",
            "node_agent_peers_probe_timeout": "1s",
            "node_agent_peers_refresh_interval": "2s",
            "node_agent_tls_cert_pem": "{{ lookup('ansible.builtin.file', '%s') }}" % self.tls["tls.crt"],
            "node_agent_tls_key_pem": "{{ lookup('ansible.builtin.file', '%s') }}" % self.tls["tls.key"],
            "node_agent_tls_ca_pem": "{{ lookup('ansible.builtin.file', '%s') }}" % self.tls["ca.crt"],
        }
        if edition == "enterprise":
            v["teleport_license_content"] = "{{ lookup('ansible.builtin.file', '%s') }}" % self.license
        v.update(more)
        path = self.tmp / f"vars-{len(list(self.tmp.glob('vars-*')))}.json"
        path.write_text(json.dumps(v))
        return path

    def playbook(self, name, vars_file, *args):
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null "
                                    "-o StrictHostKeyChecking=no",
                   PATH=str(ROOT / ".venv/bin") + os.pathsep + os.environ.get("PATH", ""))
        cmd = ["ansible-playbook", "-i", str(self.inventory), str(ROOT / "playbooks" / name), "-e", f"@{vars_file}", *args]
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        log = self.tmp / f"{name}-{len(list(self.tmp.glob(name + '-*.log')))}.log"
        log.write_text(p.stdout + p.stderr)
        return p

    def ssh(self, h, command, check=True):
        return hosts.ssh(h, command, check=check)

    def running_version(self, h):
        """The release of the Teleport process answering on the host's diag address."""
        out = self.ssh(h, f"curl -sf http://{h['private_ip']}:3000/metrics", check=False).stdout
        m = re.search(r'teleport_build_info\{(?:[^}]*,)?version="([^"]+)"', out)
        return m.group(1) if m else None
