"""Losing a region under load, and getting it back: every host of eu-central-1 powered off while
clients in both regions keep asking for the cluster by name."""
import math
import os
import signal
import threading
import time

from ... import machines
from ...util import log, wait_until
from .. import checks, converge, ec2, edgeworld, services, world
from ..drill import Drill
from ..load import CLIENT_INTERVAL, Load, summary
from ..state import hosts, save_state

A, B = world.REGIONS
T = world.EDGE_TIMING
# Route 53 sees the region fail within interval x threshold, and a caching resolver may
# hold the old answer for the TTL; 10 % for the probe, the double's cycle and CoreDNS's
# reload (docs/edge.md).
FAILOVER_BOUND_S = round((T["aws_edge_gslb_health_check_interval"] * T["aws_edge_gslb_health_check_failure_threshold"]
                          + T["aws_edge_dns_ttl"]) * 1.1, 1)
# The lost region's client gives up on a request after this: a request sent to the dead NLB just
# before DNS moved otherwise hangs for its whole timeout and adds it to the failover it measures
# (health check interval + probe + up to 5 s). The surviving region's client keeps 5 s, so a slow
# answer under load is never counted as a failure.
LOST_CLIENT_TIMEOUT_S = 2.0
REGION_ALERT = "TeleportRegionProxiesUnreachable"
PEER_ALERTS = (REGION_ALERT, "TeleportProxyPeerDown", "TeleportProxyPeerUnreachable")
# The lost hosts' own Teleport targets stop answering Prometheus (for: 5m): expected of the lost
# region only, never of a survivor.
LOST_HOST_ALERTS = ("TeleportDiagDown",)


class RegionLoss(Drill):
    """Every host of eu-central-1 powered off under load in both regions, then booted again."""

    requires = "every host of both regions running and serving, each region's clients served by its own NLB"

    def ready(self):
        down = [h.machine for h in hosts(self.state) if not h.running()]
        if down:
            self.fail(f"hosts {down} are not running")
        self.lost = hosts(self.state, region=B["name"])
        self.survivors = hosts(self.state, role="proxy", region=A["name"])
        self.lost_addrs = {f"{h.ip}:3021" for h in self.lost}

    def inject(self):
        self.load = Load("loss", 600, timeouts={B["name"]: LOST_CLIENT_TIMEOUT_S})
        self.load.wait_serving()
        self.t_loss = time.time()
        for h in self.lost:
            os.kill(h.record["pid"], signal.SIGTERM)
        log(f"region loss: powering off every host of {B['name']}: {', '.join(h.machine for h in self.lost)}")
        self.powering_off = [threading.Thread(target=h.power_off) for h in self.lost]
        for t in self.powering_off:
            t.start()

    def verify(self):
        t_loss, cb = self.t_loss, self.load.client(B["name"])

        def failed_over():
            return next((r for r in cb.records() if r["t"] > t_loss and r["ok"] and r["address"] == A["nlb"]["proxy"]), None)
        first = wait_until(f"{B['name']}'s clients served by {A['name']}", failed_over, 90, 0.25)
        failover = round(first["t"] + first["ms"] / 1000 - t_loss, 1)
        self._powered_off()
        during = [r for r in cb.records() if t_loss - 1 <= r["t"] <= first["t"]]
        failed = [r for r in during if not r["ok"]]
        bound = math.ceil(failover / CLIENT_INTERVAL) + 1
        log(f"region loss: {B['name']}'s client failed over in {failover} s (bound {FAILOVER_BOUND_S} s); "
            f"{len(failed)} of {len(during)} requests failed meanwhile (bound {bound}): "
            + "; ".join(f"{r['t'] - t_loss:+.1f}s {r['address']} {r['error'] or r['status']}" for r in failed[:40]))
        self.figure("region_loss_failover_seconds", failover, "s", f"bound {FAILOVER_BOUND_S} s", bound=FAILOVER_BOUND_S,
                    detail="health-check interval x threshold + TTL + 10 %")
        self.figure("region_loss_failed_requests", len(failed), "", f"of {len(during)} during the failover, bound {bound}",
                    bound=bound, detail=f"failover time / client interval {CLIENT_INTERVAL} s + 1")
        detected = edgeworld.health_check_failed(t_loss)
        if detected:
            self.figure("region_loss_detected_seconds", round(detected - t_loss, 1), "s",
                        "Route 53 health check unhealthy (policy double)")

        def peers_down():
            view = self._peer_view()
            down = {k: v for k, v in view.items() if k[1] in self.lost_addrs}
            return down if down and all(not up and outcome for up, outcome in down.values()) \
                and len(down) == len(self.lost_addrs) * len(self.survivors) else None
        down = wait_until(f"{A['name']}'s node-agents to report {B['name']}'s proxies down", peers_down, 60, 1)
        log("region loss: " + "; ".join(f"{m} reports {p} down ({o})" for (m, p), (_, o) in sorted(down.items())))
        self.figure("region_loss_peers_down_seconds", round(time.time() - t_loss, 1), "s")

        limit = f"region_{A['name'].replace('-', '_')}"
        run = converge.site_yml(self.state, "region-loss-limit", "--limit", limit, "--skip-tags", "site_check")
        converge.expect_no_change(run, "region-loss-limit")
        touched = set(run.recap) & {h.instance_id for h in self.lost}
        if touched:
            self.fail(f"site.yml --limit {A['name']} touched a lost host: {sorted(touched)}")
        log(f"region loss: site.yml --limit {limit} converged with changed=0 in {run.seconds:.0f} s "
            f"on {len(set(run.recap) - {'localhost'})} surviving hosts")

        def firing():
            alerts = self._alerts()
            return alerts if alerts and alerts[0]["state"] == "firing" else None
        alert = wait_until(f"{REGION_ALERT}{{peer_region={B['name']}}} firing", firing, 240, 2)
        self.figure("region_loss_alert_firing_seconds", round(time.time() - t_loss, 1), "s",
                    f"the rule's for: 2m; active since {alert[0]['activeAt']}")
        lost_ids = {h.instance_id for h in self.lost}
        others = [a["labels"]["alertname"] for a in services.prometheus_alerts(self.state)
                  if a["state"] == "firing" and a["labels"].get("alertname") not in PEER_ALERTS
                  and not (a["labels"].get("alertname") in LOST_HOST_ALERTS
                           and a["labels"].get("aws_instance_id") in lost_ids)]
        if others:
            self.fail(f"other alerts fire too: {others}")
        checks.units(self.state, region=A["name"])

    def restore(self):
        self._powered_off()
        t_back = time.time()
        for h in self.lost:
            if not h.running():
                h.power_on()
        save_state(self.state)  # the new pids, for `down`
        machines.wait_ssh([h.record for h in self.lost], ec2.console_reader(self.state))
        self.load.client(B["name"]).wait_serving(B["nlb"]["proxy"], 120)
        self.figure("region_back_records_seconds", round(time.time() - t_back, 1), "s", "boot to DNS answering the region again")

        def peers_up():
            view = self._peer_view()
            return all(view.get((h.machine, p), (False,))[0] for h in self.survivors for p in self.lost_addrs)
        wait_until(f"{A['name']}'s node-agents to report {B['name']}'s proxies up", peers_up, 120, 1)
        self.figure("region_back_peers_up_seconds", round(time.time() - t_back, 1), "s")
        wait_until("the region alert to resolve", lambda: not self._alerts(), 90, 2)
        self.figure("region_back_alert_resolved_seconds", round(time.time() - t_back, 1), "s")
        recs, failed = self.load.stop()[A["name"]]
        log(f"region loss: the {A['name']} client sent {len(recs)} requests, {len(failed)} failed ({summary(recs)})")
        if failed:
            self.fail(f"the surviving region's client saw {len(failed)} failed requests: {failed[:3]}")

    def _powered_off(self):
        for t in getattr(self, "powering_off", []):
            t.join()

    def _peer_view(self):
        """{(machine, peer): (up, outcome)} as the surviving region's node-agents report them."""
        out = {}
        for h in self.survivors:
            for p in (h.peer_status() or {}).get("peers", []):
                out[(h.machine, p["peer"])] = (p["up"], p.get("outcome"))
        return out

    def _alerts(self):
        return [a for a in services.prometheus_alerts(self.state)
                if a["labels"].get("alertname") == REGION_ALERT and a["labels"].get("peer_region") == B["name"]]
