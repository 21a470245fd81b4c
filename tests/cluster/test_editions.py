"""Editions and the Proxy Peering migration on real systemd hosts (one auth, two
proxies, the Teleport double), in the order an operator lives them:

1. a fresh OSS cluster converges with the agent mesh (no peer listener) and with
   no certificate placed by hand;
2. the cluster moves to Enterprise, still on the agent mesh;
3. playbooks/migrate-proxy-peering.yml follows Teleport's guide (auth pool
   restarted first, then every proxy) and proves every peer listener and every
   node-agent's view of the other proxy;
4. a config-only run by tag reloads what it changed.
test_upgrades.py continues on the same lab and ends with a site.yml run that must
change nothing.
"""
import yaml


def listening(world, h, port):
    return f":{port} " in world.ssh(h, "ss -Hltn", check=False).stdout


def started_at(world, h):
    return int(world.ssh(h, "systemctl show -p ExecMainStartTimestampMonotonic --value teleport").stdout.strip() or 0)


def teleport_yaml(world, h):
    return yaml.safe_load(world.ssh(h, "cat /etc/teleport.yaml").stdout)


def test_a_fresh_oss_cluster_converges_on_the_agent_mesh(world):
    p = world.playbook("site.yml", world.extra_vars("oss"))
    assert p.returncode == 0, p.stdout[-5000:]
    assert "Teleport v" in world.ssh(world.auth, "teleport version").stdout
    assert "Enterprise" not in world.ssh(world.auth, "teleport version").stdout
    assert teleport_yaml(world, world.auth)["auth_service"]["tunnel_strategy"] == {"type": "agent_mesh"}
    for n, h in enumerate(world.proxies):
        doc = teleport_yaml(world, h)
        assert "peer_listen_addr" not in doc["proxy_service"]
        assert not listening(world, h, 3021), f"{h['machine']}: a peer listener under the agent mesh"
        # The SSH Service is on by default; the second proxy turns it off.
        assert doc["ssh_service"]["enabled"] is (n == 0)
        assert listening(world, h, 3022) is (n == 0), f"{h['machine']}: SSH Service listener"
        # Joined its auth (the double's proxy stays not ready until it has).
        assert world.ssh(h, f"curl -sf http://{h['private_ip']}:3000/readyz", check=False).returncode == 0
    # No teleport_ca_pin was given: each proxy pinned the CA that `tctl status` on the auth server printed,
    # and, joined, holds no join token any more (only the auth pool keeps its static copy).
    pin = next(line.split()[2] for line in world.ssh(world.auth, "tctl status -c /etc/teleport.yaml").stdout.splitlines()
               if line.startswith("CA pin"))
    for h in world.proxies:
        assert teleport_yaml(world, h)["teleport"]["ca_pin"] == [pin]
        assert world.ssh(h, "test -e /var/lib/teleport/join-token", check=False).returncode == 1
        assert world.ssh(h, "test -e /var/lib/teleport/.joined", check=False).returncode == 0


def test_the_cluster_moves_to_enterprise_still_on_the_agent_mesh(world):
    p = world.playbook("site.yml", world.extra_vars("enterprise", teleport_tunnel_strategy="agent_mesh"))
    assert p.returncode == 0, p.stdout[-5000:]
    assert "Enterprise" in world.ssh(world.auth, "teleport version").stdout
    for h in world.proxies:
        assert not listening(world, h, 3021)


def test_the_migration_restarts_auth_first_then_the_proxies_and_proves_peering(world):
    before = {h["machine"]: started_at(world, h) for h in world.hosts}
    p = world.playbook("migrate-proxy-peering.yml", world.extra_vars("enterprise"))
    assert p.returncode == 0, p.stdout[-5000:]
    after = {h["machine"]: started_at(world, h) for h in world.hosts}
    assert all(after[m] > before[m] for m in before), "every Teleport restarted"
    assert all(after[world.auth["machine"]] < after[h["machine"]] for h in world.proxies), "auth pool first"
    for h in world.proxies:
        assert listening(world, h, 3021), f"{h['machine']}: no peer listener after the migration"
    assert "reaches 1\n      peer(s)" in p.stdout or "reaches 1 peer(s)" in p.stdout


def reloads(world, h):
    out = world.ssh(h, f"curl -sf http://{h['private_ip']}:3000/metrics", check=False).stdout
    return int(next((line.split()[1] for line in out.splitlines() if line.startswith("teleport_test_double_reloads_total ")), -1))


def test_a_config_only_run_by_tag_reloads_what_it_changed(world):
    before = {h["machine"]: reloads(world, h) for h in world.hosts}
    p = world.playbook("site.yml", world.extra_vars("enterprise", teleport_log_severity="DEBUG"), "--tags", "teleport_configure")
    assert p.returncode == 0, p.stdout[-4000:]
    for h in world.hosts:
        assert teleport_yaml(world, h)["teleport"]["log"]["severity"] == "DEBUG"
        assert reloads(world, h) == before[h["machine"]] + 1, f"{h['machine']}: teleport.yaml changed but Teleport was not reloaded"
    p = world.playbook("site.yml", world.extra_vars("enterprise"), "--tags", "teleport_configure")
    assert p.returncode == 0, p.stdout[-4000:]
