"""The proxies' certificate (docs/tls.md), on the converged world:

1. it requires the first converge's: tls.yml issued the apex and the wildcard from Pebble before
   site.yml, which handed the pair to every proxy of both regions before Teleport started there; a
   client that trusts nothing but Pebble's root gets it through each region's NLB, for the cluster
   name and a name under the wildcard; the ACME account key is on no host;
2. the CA's renewal information (ARI) asks for renewal: tls.yml orders once and hands the new pair
   over region by region while a bounded client in each region keeps requesting through its NLB,
   with no failed request; every node-agent confirms Teleport serves it;
3. a run with nothing due changes nothing and logs into no proxy.
"""
import datetime
import itertools
import os

from ...edge.common import list_record_sets, read_json
from ...moto import client
from ...util import HarnessError, log
from .. import converge, services, world
from ..drill import Drill
from ..load import Client, Load
from ..state import hosts
from .upgrade import rollout_order

CURRENT = os.path.join(converge.TLS_STORE, "current")
RENEWAL_CLIENT_SECONDS = 600


class TlsRenewal(Drill):
    """The first converge's certificate everywhere, then a renewal the CA asks for, under load in both regions."""

    requires = "the first converge's ACME certificate for the cluster and its wildcard on every proxy, the account key on no host"

    def ready(self):
        stored = _stored()
        want = sorted([world.CLUSTER, "*." + world.CLUSTER])
        if stored.get("source") != "acme" or sorted(stored.get("names", [])) != want:
            self.fail(f"the issuer's store holds {stored}, want an ACME certificate for {want}")
        _served_everywhere(self.state, stored["fingerprint_sha256"], "first converge")
        self._account_key_nowhere()
        self.figure("tls_issue_seconds", self.state["timings"]["issue_seconds"], "s",
                    "tls.yml before site.yml: order, dns-01 through Route 53 (moto) and CoreDNS, Pebble validating at once")

    def inject(self):
        self.pebble = services.pebble(self.state)
        self.old = _stored()["fingerprint_sha256"]
        with open(os.path.join(CURRENT, "tls.crt")) as f:
            self.pebble.renewal_due_now(f.read())
        self.orders = self.pebble.orders()
        self.before = _statuses(self.state)
        self.load = Load("tls", RENEWAL_CLIENT_SECONDS)
        self.load.wait_serving()
        # As AWX's "Teleport: TLS" job template runs it: ansible-runner, no Java (issue 26).
        self.run = converge.tls_yml(self.state, "renew", awx=True)
        # New hosts get the renewed pair (the next site.yml would publish it too, and report the change).
        converge.publish(self.state, "publish-renewed")

    def verify(self):
        results, old, run = self.load.stop(), self.old, self.run
        new = _stored()["fingerprint_sha256"]
        problems = []
        if "the CA asks for renewal" not in run.flat:
            problems.append("the run does not say the CA's renewal information asked for renewal")
        if "PRIVATE KEY" in run.flat:
            problems.append("a private key is in the run's output")
        if new == old:
            problems.append("the store still holds the old certificate")
        if self.pebble.orders() != self.orders + 1:
            problems.append(f"Pebble accepted {self.pebble.orders() - self.orders} orders, want 1")
        sent, failed = self.load.sent(), self.load.failed()
        if failed:
            problems.append(f"{len(failed)} of {sent} requests through the NLBs failed, want 0: {failed[:5]}")
        for region, (recs, _) in results.items():
            # Round robin over the region's proxies: both certificates alternate while the region
            # rotates (each proxy picks the pair up on its own reload interval).
            served = [rec["sha256"] for rec in recs if rec.get("sha256")]
            if not served or served[0] != old or served[-1] != new or set(served) != {old, new}:
                problems.append(f"the {region} client was served {len(set(served))} certificates, first "
                                f"{served[0][:12] if served else None}, last {served[-1][:12] if served else None}; want "
                                f"the old ({old[:12]}) first, the new ({new[:12]}) last, nothing else")
        after = _statuses(self.state)
        for machine, status in after.items():
            rot, was = status.get("last_rotation") or {}, self.before[machine].get("last_rotation") or {}
            if rot.get("at") == was.get("at") or rot.get("result") != "installed":
                problems.append(f"{machine}: last rotation {rot}, want a new one installed")
            served = (status.get("served") or {}).get("fingerprint_sha256")
            if served != new:
                problems.append(f"{machine}'s node-agent has not confirmed Teleport serves {new[:12]}: {served}")
        # Serial by region: every proxy of a region slot finished before the next slot's began.
        slots = []
        for h in rollout_order(self.state):
            if not slots or slots[-1][0] != h.region:
                slots.append((h.region, []))
            at = (after[h.machine].get("last_rotation") or {}).get("at")
            # Java's Instant, with up to 9 fraction digits: fromisoformat keeps microseconds. A proxy
            # with no rotation is a problem above already; it has no place in the order.
            if at:
                slots[-1][1].append(datetime.datetime.fromisoformat(at))
        for (ra, ta), (rb, tb) in itertools.pairwise(slots):
            if ta and tb and max(ta) >= min(tb):
                problems.append(f"{rb}'s proxies rotated ({tb}) before {ra}'s had all finished ({ta}); want region by region")
        left = _challenge_records(self.state)
        if left:
            problems.append(f"challenge records left in {world.ZONE}: {left}")
        distributed = read_json(os.path.join(CURRENT, "distributed.json")) or {}
        if distributed.get("fingerprint_sha256") != new:
            problems.append(f"distributed.json records {distributed}, want {new}")
        if problems:
            self.fail("TLS renewal: " + "; ".join(problems) + f"; log {run.log}")
        _served_everywhere(self.state, new, "renewal", after)
        log(f"TLS renewal: {sent} requests through both regions' NLBs, 0 failed, old then new certificate in each; "
            f"order {' then '.join(r for r, _ in slots)}; {sum(r['changed'] for r in run.recap.values())} changes")
        self.figure("tls_renewal_seconds", round(run.seconds, 1), "s", "tls.yml: ARI due, order, 4 proxies in 2 regions, confirmed")
        self.figure("tls_renewal_requests", sent, "", "through both regions' NLBs, 0 failed")
        self._nothing_due()

    def _nothing_due(self):
        proxies = hosts(self.state, role="proxy")
        before = {h.machine: h.ssh_logins() for h in proxies}
        # As AWX's "Teleport: TLS" job template (and its schedule) runs it: ansible-runner, no Java (issue 26).
        run = converge.tls_yml(self.state, "nothing-due", awx=True)
        # Only the counting's own login since: the run logged into no proxy (validate-inventory.yml's
        # tasks count as ok on the first host of the run without connecting to it).
        logged_in = {h.machine: n - before[h.machine] - 1 for h in proxies if (n := h.ssh_logins()) - before[h.machine] != 1}
        changed = run.changed()
        if changed or logged_in or "Nothing is due" not in run.flat:
            self.fail(f"tls.yml with nothing due: changed {changed}, SSH logins on proxies {logged_in}, "
                      f"'Nothing is due' {'said' if 'Nothing is due' in run.flat else 'not said'}; want changed=0 "
                      f"and no login on any proxy; log {run.log}")
        log(f"tls.yml with nothing due: changed=0, no SSH login on any of the {len(before)} proxies")
        self.figure("tls_nothing_due_seconds", round(run.seconds, 1), "s", "changed=0, no proxy contacted")

    def _account_key_nowhere(self):
        """A line from the middle of the ACME account key is in no file on any host."""
        with open(os.path.join(converge.TLS_STORE, "account.key")) as f:
            line = f.read().splitlines()[1]
        for h in hosts(self.state):
            if h.run(f"grep -rqsF '{line}' /etc /var/lib /root /opt", check=False).returncode != 1:
                self.fail(f"{h.machine}: the ACME account key is on the host; it must stay in the issuer's store")


def _stored():
    return read_json(os.path.join(CURRENT, "meta.json")) or {}


def _statuses(state):
    """{machine: the node-agent's /v1/tls/status} of every proxy."""
    return {h.machine: h.tls_status() for h in hosts(state, role="proxy")}


def _through_nlb(r, name):
    """One request from the region's client namespace to `name` through DNS and the region's
    NLB, trusting only Pebble's root: the client's record (address, status, sha256)."""
    one = Client(r, "tls-once", 10, name=name, max_requests=1)
    one.proc.wait(30)
    recs, _ = one.stop()
    if not recs:
        raise HarnessError(f"{r['netns']}: the client for {name} sent no request; see {one.out}.err")
    return recs[0]


def _served_everywhere(state, fingerprint, when, statuses=None):
    """Every node-agent reports the pair installed, and each region's NLB serves it for the
    cluster name and a wildcard name, verified against Pebble's root alone. statuses: the
    proxies' /v1/tls/status by machine, when the caller has just read them."""
    statuses = statuses or _statuses(state)
    for machine, status in statuses.items():
        installed = status["installed"]["fingerprint_sha256"]
        if installed != fingerprint:
            raise HarnessError(f"{when}: {machine}'s node-agent has sha256 {installed} installed, want {fingerprint}")
    for r in world.REGIONS:
        for name in (world.CLUSTER, f"app1.{world.CLUSTER}"):
            rec = _through_nlb(r, name)
            if not rec["ok"] or rec["address"] != r["nlb"]["proxy"] or rec.get("sha256") != fingerprint:
                raise HarnessError(f"{when}: https://{name} from {r['netns']}: {rec}; want 200 through "
                                            f"{r['nlb']['proxy']} with sha256 {fingerprint}, verified against Pebble's root")
    log(f"{when}: every proxy's node-agent has sha256 {fingerprint[:16]}... installed; through each region's NLB "
        f"{world.CLUSTER} and app1.{world.CLUSTER} verify against Pebble's root alone")


def _challenge_records(state):
    r53 = client("route53", world.REGIONS[0]["name"], state["moto"]["endpoint"])
    zone = next(z["Id"] for z in r53.list_hosted_zones()["HostedZones"]
                if z["Name"] == world.ZONE + "." and not z["Config"]["PrivateZone"])
    return [rr["Name"] for rr in list_record_sets(r53, zone) if rr["Name"].startswith("_acme-challenge")]
