"""playbooks/tls.yml end to end, in the order an operator lives it, on one lab:

1. a new cluster: tls.yml issues (nothing on the hosts yet), site.yml hands the pair
   from the issuer's store to every proxy before Teleport starts;
2. a brought pair with the wrong names is refused on the controller;
3. a challenge record that never reaches one name server fails the run before the
   CA is asked, and nothing is left behind (the resolver silent, so the check asked every
   name server: the fallback of a controller outside a VPC);
4. two runs at once, when the CA's renewal information asks for renewal: one order;
5. a proxy whose Teleport does not serve the new pair: the agent rolls back, the run
   fails naming it, the next region is untouched; once Teleport is back, the next run
   finishes the hand-over;
6. a run with nothing due changes nothing and logs into no proxy;
7. the CA down: a clear failure, nothing touched.

The renewal that rotates every proxy while clients keep requesting, with no failed request,
is `sandbox test`'s "tls" check: there the clients go through each region's balancer.

Every run uses Pebble with PEBBLE_VA_NOSLEEP=1: it validates the moment it is asked,
so each issuance also shows the propagation check at work.
"""
from conftest import CLUSTER

from harness import pki
from harness.ansible import unfold
from harness.util import free_port


def flat_contains(run, text):
    return unfold(text) in run.flat


def snapshot(world):
    """What a failed run must leave as it was: the installed pairs byte for byte, the drop
    directories, the agents' installed fingerprints, and the issuer's store."""
    return {"hosts": {h.machine: (world.installed_bytes(h), world.drop_dirs(h), h.tls_status()["installed"]["fingerprint_sha256"])
                      for h in world.proxies},
            "store": world.stored()["fingerprint_sha256"]}


def logins(world):
    return {h.machine: h.ssh_logins() for h in world.proxies}


def no_login_since(world, before):
    """True when no SSH login reached any proxy since `before` but this check's own."""
    return {m: n - before[m] for m, n in logins(world).items()} == {m: 1 for m in before}


def ari_due_now(world):
    """Makes Pebble's renewal information (RFC 9773) say the stored certificate is due."""
    world.pebble.renewal_due_now((world.store / "current" / "tls.crt").read_text())


def test_a_new_cluster_gets_an_issued_certificate_on_every_proxy_before_teleport_starts(world):
    p = world.playbook("tls.yml", world.tls_vars(tls_issuer_distribute=False))
    assert p.rc == 0, p.tail(4000)
    world.timings["issuance only (first run, account created)"] = p.seconds
    # Through the resolver, as a controller whose only DNS is the VPC's.
    assert f"The resolver {world.dns} served the challenge records after" in p.flat, p.tail(3000)
    stored = world.stored()
    assert stored["source"] == "acme" and sorted(stored["names"]) == sorted([CLUSTER, "*." + CLUSTER])
    assert (world.store / "account.key").stat().st_mode & 0o777 == 0o600
    assert (world.store / "current" / "tls.key").stat().st_mode & 0o777 == 0o600
    assert world.challenge_records() == []
    assert all(r["failed"] == 0 and r["changed"] == 0 for h, r in p.recap.items() if h != "localhost")

    p = world.playbook("site.yml", world.site_vars())
    assert p.rc == 0, p.tail(4000)
    world.timings["site.yml first converge (3 hosts)"] = p.seconds
    account_line = (world.store / "account.key").read_text().splitlines()[1]
    for h in world.proxies:
        assert h.tls_status()["installed"]["fingerprint_sha256"] == stored["fingerprint_sha256"]
        # A client that trusts nothing but Pebble's root accepts the apex and the wildcard.
        assert world.served(h) == stored["fingerprint_sha256"]
        assert world.served(h, "app." + CLUSTER) == stored["fingerprint_sha256"]
        # The account key never reaches a proxy.
        assert h.run(f"grep -rqsF '{account_line}' /etc /var/lib /root", check=False).returncode == 1


def test_a_brought_pair_with_the_wrong_names_is_refused_on_the_controller(world, tmp_path):
    wrong = pki.issue(str(tmp_path / "byo"), ["teleport.wrong.test", "*.teleport.wrong.test"])
    before, seen = snapshot(world), logins(world)
    p = world.playbook("tls.yml", world.tls_vars(
        tls_issuer_byo_cert_pem=open(wrong["tls.crt"]).read(), tls_issuer_byo_key_pem=open(wrong["tls.key"]).read(),
        tls_issuer_ca_pem=open(wrong["ca.crt"]).read()), multiplex=False)
    assert p.rc != 0
    assert flat_contains(p, "The pair in tls_issuer_byo_cert_pem/tls_issuer_byo_key_pem was refused on the controller"), p.tail(3000)
    assert f"does not cover [{CLUSTER}, *.{CLUSTER}]" in p.flat, p.tail(3000)
    assert "BEGIN PRIVATE KEY" not in p.text
    assert no_login_since(world, seen)
    assert snapshot(world) == before


def test_a_record_that_never_reaches_one_name_server_fails_before_the_ca_is_asked(world):
    lagging_ns = world.nameservers[2]
    before, orders = snapshot(world), world.pebble.orders()
    # A resolver that gives no answer (a controller outside a VPC): the check falls back to every name server.
    silent = f"127.0.0.1:{free_port()}"
    p = world.playbook("tls.yml", world.tls_vars(
        tls_issuer_force_renewal=True, tls_issuer_dns_propagation_timeout=8, tls_issuer_dns_resolver=silent,
        tls_issuer_dns_nameserver_addresses={lagging_ns: world.lagging_dns, "*": world.dns}))
    assert p.rc != 0
    assert "1 of 4 authoritative name servers still do not serve every challenge record" in p.flat, p.tail(3000)
    assert f"Asked them because the resolver {silent} gave no answer" in p.flat
    assert f"{lagging_ns} ({world.lagging_dns})" in p.flat
    assert "The CA was not asked to validate" in p.flat
    assert world.pebble.orders() == orders + 1
    assert world.challenge_records() == []
    assert snapshot(world) == before
    # The lock was released: nobody holds it.
    item = world.moto.client("dynamodb", "us-east-1").get_item(
        TableName="teleport-tls-issuer-lock", Key={"lock_id": {"S": f"tls-issuer/{CLUSTER}"}}, ConsistentRead=True)["Item"]
    assert "owner" not in item and item["expires_at"]["N"] == "0"


def test_two_runs_at_once_place_one_order(world):
    old, orders = world.stored()["fingerprint_sha256"], world.pebble.orders()
    ari_due_now(world)
    vars_file = world.tls_vars(tls_issuer_distribute=False)
    runs = [run.wait(timeout=600) for run in [world.start("tls.yml", vars_file) for _ in range(2)]]
    outputs = [run.flat for run in runs]
    assert [run.rc for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert world.pebble.orders() == orders + 1
    assert sum("Another run issued a certificate while this one waited for the lock" in o for o in outputs) == 1
    assert world.stored()["fingerprint_sha256"] != old


def test_a_rollback_fails_the_run_naming_the_proxy_and_the_next_region_stays_untouched(world):
    first, second = world.proxies
    pending = world.stored()["fingerprint_sha256"]  # stored by the previous test, not handed over yet
    untouched, seen = snapshot(world)["hosts"][second.machine], logins(world)
    # Teleport hangs: its port still accepts connections, but no handshake completes.
    freeze = "kill -{} \"$(systemctl show -p MainPID --value teleport)\""
    try:
        first.run(freeze.format("STOP"))
        p = world.playbook("tls.yml", world.tls_vars(), multiplex=False)
    finally:
        first.run(freeze.format("CONT"))
    assert p.rc != 0
    assert "was not served by 1 of 1 proxies in this region" in p.flat, p.tail(4000)
    assert "proxy-0: rolled_back (not_confirmed)" in p.flat
    status = first.tls_status()
    assert status["installed"]["fingerprint_sha256"] != pending and status["last_rotation"]["result"] == "rolled_back"
    assert logins(world)[second.machine] - seen[second.machine] == 1
    assert snapshot(world)["hosts"][second.machine] == untouched

    # Teleport answers again: the next run finishes the hand-over, nothing to order.
    orders = world.pebble.orders()
    p = world.playbook("tls.yml", world.tls_vars())
    assert p.rc == 0, p.tail(4000)
    world.timings["distribution only, 2 regions, confirmed"] = p.seconds
    assert world.pebble.orders() == orders
    for h in world.proxies:
        assert h.tls_status()["served"]["fingerprint_sha256"] == pending
        assert world.served(h) == pending


def test_a_run_with_nothing_due_changes_nothing_and_logs_into_no_proxy(world):
    seen = logins(world)
    p = world.playbook("tls.yml", world.tls_vars(), multiplex=False)
    assert p.rc == 0, p.tail(4000)
    world.timings["nothing due"] = p.seconds
    assert {h: r["changed"] for h, r in p.recap.items() if r["changed"]} == {}
    assert "Nothing is due" in p.flat and "no proxy is contacted" in p.flat
    # No task ran on a proxy (the region plays end before their first task).
    assert all(p.recap.get(f"proxy-{n}", {"ok": 0})["ok"] == 0 for n in range(len(world.proxies)))
    assert no_login_since(world, seen)


def test_a_ca_that_is_down_fails_clearly_and_touches_nothing(world):
    before, seen = snapshot(world), logins(world)
    world.pebble.stop()
    p = world.playbook("tls.yml", world.tls_vars(tls_issuer_force_renewal=True), multiplex=False)
    assert p.rc != 0
    assert "did not answer with an ACME directory" in p.flat, p.tail(3000)
    assert "Nothing was ordered, no DNS record was written and no host was touched" in p.flat
    assert world.challenge_records() == []
    assert no_login_since(world, seen)
    assert snapshot(world) == before
