"""Editions and the Proxy Peering migration on real systemd hosts (one auth, two
proxies, the Teleport double), in the order an operator lives them:

1. a fresh OSS cluster converges with the agent mesh (no peer listener) and with
   no certificate placed by hand;
2. the cluster moves to Enterprise, still on the agent mesh;
3. playbooks/migrate-proxy-peering.yml follows Teleport's guide (auth pool
   restarted first, then every proxy) and proves every peer listener and every
   node-agent's view of the other proxy;
4. a config-only run by tag reloads what it changed.
Between 1 and 2, the SSH Service's sessions: as other logins, with nothing more than the unit grants.
test_upgrades.py continues on the same lab and ends with a site.yml run that must
change nothing.
"""
from harness.host import SESSION_CAPS
from harness.util import wait_until

OPERATOR = "ops-ada"


def started_at(h):
    return int(h.run("systemctl show -p ExecMainStartTimestampMonotonic --value teleport").stdout.strip() or 0)


def test_a_fresh_oss_cluster_converges_on_the_agent_mesh(world):
    p = world.playbook("site.yml", world.extra_vars("oss"))
    assert p.rc == 0, p.tail(5000)
    assert "Teleport v" in world.auth.run("teleport version").stdout
    assert "Enterprise" not in world.auth.run("teleport version").stdout
    assert world.auth.teleport_yaml()["auth_service"]["tunnel_strategy"] == {"type": "agent_mesh"}
    for n, h in enumerate(world.proxies):
        doc = h.teleport_yaml()
        assert "peer_listen_addr" not in doc["proxy_service"]
        assert not h.listening(3021), f"{h.machine}: a peer listener under the agent mesh"
        # The SSH Service is on by default; the second proxy turns it off.
        assert doc["ssh_service"]["enabled"] is (n == 0)
        assert h.listening(3022) is (n == 0), f"{h.machine}: SSH Service listener"
        # Joined its auth (the double's proxy stays not ready until it has).
        assert h.run(f"curl -sf http://{h.ip}:3000/readyz", check=False).returncode == 0
    # No teleport_ca_pin was given: each proxy pinned the CA that `tctl status` on the auth server printed,
    # and, joined, holds no join token any more (only the auth pool keeps its static copy).
    pin = next(line.split()[2] for line in world.auth.run("tctl status -c /etc/teleport.yaml").stdout.splitlines()
               if line.startswith("CA pin"))
    for h in world.proxies:
        assert h.teleport_yaml()["teleport"]["ca_pin"] == [pin]
        assert h.run("test -e /var/lib/teleport/join-token", check=False).returncode == 1
        assert h.run("test -e /var/lib/teleport/.joined", check=False).returncode == 0


def test_the_ssh_service_starts_sessions_as_other_logins_and_grants_them_nothing_more(world):
    auth, with_ssh, without = world.auth, world.proxies[0], world.proxies[1]
    for h in (auth, with_ssh):
        proc = h.teleport_process()
        assert proc["Uid"] == "0 0 0 0" and proc["CapBnd"] == SESSION_CAPS and proc["CapAmb"] == 0, (h.machine, proc)
    # Without the SSH Service: the unit's own hardening, a dedicated user with no capability at all.
    proc = without.teleport_process()
    teleport_uid = without.run("id -u teleport").stdout.strip()
    assert proc["Uid"] == " ".join([teleport_uid] * 4) and proc["CapBnd"] == proc["CapEff"] == 0, proc
    # An operator's login, with sudo rights as hosts commonly give them.
    auth.run(f"id {OPERATOR} >/dev/null 2>&1 || useradd -m -s /bin/bash {OPERATOR}; "
             f"echo '{OPERATOR} ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/{OPERATOR}; chmod 0440 /etc/sudoers.d/{OPERATOR}")
    uid = auth.run(f"id -u {OPERATOR}").stdout.strip()
    status, answer = auth.session(via=with_ssh, login=OPERATOR, command="id -u; grep -E '^Cap(Prm|Eff|Amb)' /proc/self/status; sudo -n id -u")
    assert status == 200, answer
    lines = answer["output"].splitlines()
    # The switch from root cleared every capability; sudo is refused (the unit's NoNewPrivileges holds in a session).
    assert lines[0] == uid and [line.split()[1] for line in lines[1:4]] == ["0000000000000000"] * 3, answer
    assert "no new privileges" in answer["output"] and answer["exit_code"] == 1, answer
    status, answer = auth.session(via=with_ssh, login=OPERATOR, command="stat -c '%U %G %a' $(tty)", terminal=True)
    assert status == 200 and answer["output"].split() == [OPERATOR, "tty", "600"], answer
    # A root login has the bounding set and nothing more.
    status, answer = auth.session(via=with_ssh, login="root", command="grep ^CapBnd /proc/self/status")
    assert status == 200 and int(answer["output"].split()[1], 16) == SESSION_CAPS, answer
    # A host without the SSH Service has nothing on 3022.
    assert not without.listening(3022)


def test_switching_the_ssh_service_gives_the_data_directory_and_the_key_to_the_process_and_keeps_its_identity(world):
    # The auth host and the proxy that has the SSH Service, off and on again.
    auth, proxy = world.auth, world.proxies[0]
    owners = "find /var/lib/teleport -mindepth 1 ! -name license.pem ! -name join-token ! -name .joined -printf '%u\\n' | sort -u"
    for on, user in [(False, "teleport"), (True, "root")]:
        p = world.playbook("site.yml", world.extra_vars("oss", teleport_ssh_service_enabled=on), "--limit", "auth-0,proxy-0")
        assert p.rc == 0, p.tail(5000)
        for h in (auth, proxy):
            assert h.run(owners).stdout.split() == [user], f"{h.machine}, SSH Service {on}: the data directory's entries"
            assert h.teleport_process()["Uid"].split()[0] == h.run(f"id -u {user}").stdout.strip()
            assert h.exists("/etc/systemd/system/teleport.service.d/ssh-service.conf") is on
            assert h.listening(3022) is on
        # The node-agent gave the installed key pair (mode 0600) to the user Teleport now runs as.
        assert proxy.run("stat -L -c '%U %a' /etc/teleport-tls/tls.key").stdout.split() == [user, "600"]
        # The same cluster, not a new one: the CA pin every proxy holds still matches.
        pin = next(line.split()[2] for line in auth.run("tctl status -c /etc/teleport.yaml").stdout.splitlines()
                   if line.startswith("CA pin"))
        assert all(h.teleport_yaml()["teleport"]["ca_pin"] == [pin] for h in world.proxies)
        wait_until("every proxy ready again", lambda: all(
            h.run(f"curl -sf http://{h.ip}:3000/readyz", check=False).returncode == 0 for h in world.proxies), 60, 1)


def test_the_cluster_moves_to_enterprise_still_on_the_agent_mesh(world):
    p = world.playbook("site.yml", world.extra_vars("enterprise", teleport_tunnel_strategy="agent_mesh"))
    assert p.rc == 0, p.tail(5000)
    assert "Enterprise" in world.auth.run("teleport version").stdout
    for h in world.proxies:
        assert not h.listening(3021)


def test_the_migration_restarts_auth_first_then_the_proxies_and_proves_peering(world):
    before = {h.machine: started_at(h) for h in world.hosts}
    p = world.playbook("migrate-proxy-peering.yml", world.extra_vars("enterprise"))
    assert p.rc == 0, p.tail(5000)
    after = {h.machine: started_at(h) for h in world.hosts}
    assert all(after[m] > before[m] for m in before), "every Teleport restarted"
    assert all(after[world.auth.machine] < after[h.machine] for h in world.proxies), "auth pool first"
    for h in world.proxies:
        assert h.listening(3021), f"{h.machine}: no peer listener after the migration"
    assert "reaches 1 peer(s)" in p.flat


def test_a_config_only_run_by_tag_reloads_what_it_changed(world):
    before = {h.machine: h.reloads() for h in world.hosts}
    p = world.playbook("site.yml", world.extra_vars("enterprise", teleport_log_severity="DEBUG"), "--tags", "teleport_configure")
    assert p.rc == 0, p.tail(4000)
    for h in world.hosts:
        assert h.teleport_yaml()["teleport"]["log"]["severity"] == "DEBUG"
        assert h.reloads() == before[h.machine] + 1, f"{h.machine}: teleport.yaml changed but Teleport was not reloaded"
    p = world.playbook("site.yml", world.extra_vars("enterprise"), "--tags", "teleport_configure")
    assert p.rc == 0, p.tail(4000)
