"""playbooks/upgrade.yml on the lab (after test_editions.py left it an Enterprise
Proxy Peering cluster on 18.11.1): the refusals of Teleport's version rules, each
before any host is touched, and the plan in check mode. The lab has no load
balancers: the upgrade itself, under load and drained, then site.yml with the new
version changing nothing, and a failed gate rolled back, are the sandbox's (its
upgrade drills in harness/sandbox/drills/upgrade.py and its second-run check)."""
import pytest

OLD, NEW = "18.11.1", "18.11.2"


def versions(world):
    return {h.machine: h.version() for h in world.hosts}


def staged(world, version):
    return [h.machine for h in world.hosts
            if h.run(f"test -d /opt/teleport/teleport-ent-v{version}", check=False).returncode == 0]


@pytest.mark.parametrize("target, message", [
    ("20.0.0", "skips a major: the cluster runs major 18"),
    ("17.9.0", "is a major downgrade from 18.x"),
])
def test_a_major_skip_or_a_major_downgrade_is_refused_before_any_host_is_touched(world, target, message):
    before = versions(world)
    # The refused target need not exist: the plan refuses before anything is fetched.
    p = world.playbook("upgrade.yml", world.extra_vars("enterprise", OLD, teleport_version=target))
    assert p.rc != 0
    assert message in p.flat, p.tail(3000)
    assert versions(world) == before
    assert staged(world, target) == []


def test_proxies_ahead_of_auth_are_refused(world):
    proxy = world.proxies[0]
    # One proxy runs ahead of the auth pool (site.yml forced past its own version guard).
    p = world.playbook("site.yml", world.extra_vars("enterprise", NEW, _teleport_upgrade=True), "--limit", "proxy-0")
    assert p.rc == 0, p.tail(4000)
    assert proxy.version() == NEW
    p = world.playbook("upgrade.yml", world.extra_vars("enterprise", NEW))
    assert p.rc != 0
    assert "The proxy proxy-0 runs a newer release than the oldest auth server" in p.flat, p.tail(3000)
    assert world.auth.version() == OLD
    p = world.playbook("site.yml", world.extra_vars("enterprise", OLD, _teleport_upgrade=True), "--limit", "proxy-0")
    assert p.rc == 0, p.tail(4000)
    assert proxy.version() == OLD


def test_check_mode_prints_the_plan_and_changes_nothing(world):
    p = world.playbook("upgrade.yml", world.extra_vars("enterprise", NEW), "--check")
    assert p.rc == 0, p.tail(4000)
    assert f"Upgrade plan to Teleport {NEW} (enterprise), auth first" in p.flat
    # One row per host, in the order the plays take them: order, host, role, region, from, to.
    rows = [line.strip().removeprefix("- ").split() for line in p.text.splitlines()]
    plan = [r for r in rows if len(r) == 6 and r[0].isdigit()]
    assert plan == [["1", "auth-0", "auth", "lab-1", OLD, NEW], ["2", "proxy-0", "proxy", "lab-1", OLD, NEW],
                    ["3", "proxy-1", "proxy", "lab-1", OLD, NEW]], plan
    assert set(versions(world).values()) == {OLD}
