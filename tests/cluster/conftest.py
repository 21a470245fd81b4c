"""A three-host lab (one auth, two proxies) from the harness's own host code, for
cluster-level tests that need real systemd hosts but not the whole sandbox."""
import pytest

from harness import lab, pki
from harness.ansible import ansible_env, run_playbook
from harness.site import site_vars

LAB = "editions"
CLUSTER = "lab.teleport.test"


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    with lab.session(LAB, 3, "198.18.240.0/24") as state:
        yield World(state, tmp_path_factory.mktemp("lab"))


class World:
    def __init__(self, state, tmp):
        self.hosts = lab.hosts(state)
        self.tmp = tmp
        self.auth, self.proxies = self.hosts[0], self.hosts[1:]
        self.tls = pki.issue(str(tmp / "tls"), [CLUSTER, "*." + CLUSTER])
        self.license = pki.test_license(str(tmp / "license.pem"))
        # The second proxy runs without the SSH Service: both settings render and start.
        self.inventory = lab.inventory(CLUSTER, state, self.auth, [
            (p, "lab-1", {"teleport_ssh_service_enabled": False} if n else {}) for n, p in enumerate(self.proxies)])
        self.runs = 0

    def extra_vars(self, edition, version=None, **more):
        return site_vars(
            CLUSTER, prefix="lab", auth_server=f"{self.auth.ip}:3025", tls_dir=str(self.tmp / "tls"),
            edition=edition, version=version, license=self.license,
            teleport_join_method="token", teleport_join_token="lab-join-token-not-a-secret",
            # No Auto Scaling group launches a lab host: nothing to publish (cluster_config_enabled, docs/boot.md).
            cluster_config_enabled=False,
            # A drill's failing gate need not take the default three minutes.
            teleport_health_timeout=40,
            node_agent_peers_probe_interval="2s", node_agent_peers_probe_timeout="1s",
            node_agent_peers_refresh_interval="2s", **more)

    def playbook(self, name, extra_vars, *args):
        self.runs += 1
        return run_playbook(name, self.inventory, extra_vars, *args, env=ansible_env(ssh="unchecked"), timeout=1200,
                            log=self.tmp / f"{self.runs:02d}-{name.removesuffix('.yml')}.log")
