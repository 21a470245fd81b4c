"""`sandbox test`'s edge checks and drills, run in order on one converged world:
the paths through DNS and the balancers, the proxies' auth server, steering a region
off and back, losing a region and bringing it back, and the upgrade drills. Every
figure is printed as a `figure` line (docs/sandbox.md collects them)."""
import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import textwrap
import threading
import time

import yaml

from . import aws, checks, ec2, edgeworld, hosts, services, world
from .edge.nlb_double import cli_command
from .util import REPO, STATE_DIR, SandboxError, alive, log, run, save_state, wait_until

SANDBOX_DIR = os.path.join(REPO, "sandbox")

A, B = world.REGIONS
CLIENT_INTERVAL = 0.25
DATA_DIR = "/var/lib/teleport"
FAULT_FILE = f"{DATA_DIR}/test-double-fail-readyz"
T = world.EDGE_TIMING
# Route 53 sees the region fail within interval x threshold, and a caching resolver may
# hold the old answer for the TTL; 10 % for the probe, the double's cycle and CoreDNS's
# reload (docs/edge.md).
FAILOVER_BOUND_S = round((T["aws_edge_gslb_health_check_interval"] * T["aws_edge_gslb_health_check_failure_threshold"]
                          + T["aws_edge_dns_ttl"]) * 1.1, 1)
FIGURES = []
LOST_CLIENT_TIMEOUT_S = 2.0


def figure(name, value, unit="", note=""):
    FIGURES.append({"name": name, "value": value, "unit": unit, "note": note})
    log(f"figure {name} = {value}{(' ' + unit) if unit else ''}{('  (' + note + ')') if note else ''}")


# --- clients -------------------------------------------------------------------------------
class Client:
    """sandboxlib.client in a region's client namespace, by name through its resolver."""

    def __init__(self, region, label, max_seconds, interval=CLIENT_INTERVAL, timeout=5.0, name=world.CLUSTER,
                 max_requests=None):
        self.region, self.label = region, label
        self.out = os.path.join(STATE_DIR, f"client-{label}-{region['short']}.jsonl")
        self.stop_file = self.out + ".stop"
        for f in (self.out, self.stop_file):
            if os.path.exists(f):
                os.unlink(f)
        max_requests = max_requests or int(max_seconds / interval) + 1
        env = dict(os.environ, PYTHONPATH=SANDBOX_DIR)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", region["netns"], os.path.join(REPO, ".venv", "bin", "python"), "-m", "sandboxlib.client",
             "--name", name, "--cacert", edgeworld.CA_FILE, "--out", self.out, "--interval", str(interval),
             "--max-requests", str(max_requests), "--max-seconds", str(max_seconds), "--stop-file", self.stop_file,
             "--timeout", str(timeout)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.out + ".err", "w"))

    def records(self):
        try:
            with open(self.out) as f:
                return [json.loads(line) for line in f if line.strip() and not line.startswith('{"done"')]
        except FileNotFoundError:
            return []

    def wait_serving(self, address, timeout=60):
        wait_until(f"the {self.label} client in {self.region['name']} served through {address}",
                   lambda: any(r["ok"] and r["address"] == address for r in self.records()[-3:]), timeout, 0.25)

    def stop(self):
        with open(self.stop_file, "w"):
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        recs = self.records()
        failed = [r for r in recs if not r["ok"]]
        return recs, failed


def _summary(recs):
    by_addr = {}
    for r in recs:
        by_addr.setdefault(r["address"], [0, 0])[0 if r["ok"] else 1] += 1
    return ", ".join(f"{a}: {ok} ok/{bad} failed" for a, (ok, bad) in sorted(by_addr.items(), key=str))


# --- the data plane ------------------------------------------------------------------------
def _stats():
    text = cli_command(os.path.join(edgeworld.EDGE_DIR, "haproxy", "admin.sock"), "show stat").lstrip("# ")
    return {(r["pxname"], r["svname"]): int(r.get("stot") or 0) for r in csv.DictReader(io.StringIO(text)) if r.get("pxname")}


def _backend(region, kind):
    state = edgeworld.nlb_state()
    lb = next(b for b in state["load_balancers"] if b["region"] == region and b["name"] == world.NLB_NAMES[kind])
    arn = lb["listeners"][0]["target_group_arn"]
    return next(tg["backend"] for tg in state["target_groups"] if tg["arn"] == arn)


def _answered_by(state, backend, before, after):
    """{machine: new sessions} of the servers of one backend between two stats."""
    by_id = {h["instance_id"]: h for h in state["hosts"]}
    out = {}
    for (be, server), n in after.items():
        if be != backend or server in ("BACKEND", "FRONTEND"):
            continue
        grew = n - before.get((be, server), 0)
        if grew > 0:
            iid = server.split("-")[0] + "-" + server.split("-")[1]
            out[by_id[iid]["machine"] if iid in by_id else server] = grew
    return out


def _region_proxies(state, region):
    return [h for h in state["hosts"] if h["region"] == region["name"] and h["role"] == "proxy"]


def _ns(region, *cmd, timeout=30):
    return run(["ip", "netns", "exec", region["netns"], *cmd], check=False, timeout=timeout)


# --- the paths ----------------------------------------------------------------------------
def check_paths(state):
    """Per region, from the client namespace (public view) and from a host (inside the VPC:
    split DNS): the cluster name and a wildcard resolve to the region's balancer, and the
    ping through it is answered by a proxy of the region (HAProxy's per-server sessions).
    The hosts trust Pebble's root through their system store (the node_agent role puts it
    there), the namespace through --cacert."""
    for r in world.REGIONS:
        pub, internal = edgeworld.nlb_dns(r["name"], "proxy"), edgeworld.nlb_dns(r["name"], "proxy-int")
        for name in (world.CLUSTER, f"app1.{world.CLUSTER}"):
            got = _ns(r, "dig", "+short", name).stdout.split()
            if got != [pub + ".", r["nlb"]["proxy"]]:
                raise SandboxError(f"{r['netns']}: {name} resolves to {got}, want {pub}. {r['nlb']['proxy']} "
                                   f"(the {r['name']} proxy NLB); see {edgeworld.LAYOUT.policy_state}")
        proxies = {h["machine"] for h in _region_proxies(state, r)}
        backend = _backend(r["name"], "proxy")
        before = _stats()
        for _ in range(4):
            p = _ns(r, "curl", "-sS", "--cacert", edgeworld.CA_FILE, "-o", "/dev/null", "-w", "%{http_code} %{remote_ip}",
                    f"https://{world.CLUSTER}/v1/webapi/ping")
            if p.stdout.strip() != f"200 {r['nlb']['proxy']}":
                raise SandboxError(f"{r['netns']}: curl https://{world.CLUSTER}/v1/webapi/ping: {p.stdout.strip()} {p.stderr.strip()}")
        served = _answered_by(state, backend, before, _stats())
        if not served or not set(served) <= proxies or sum(served.values()) < 4:
            raise SandboxError(f"{r['netns']}: pings through {backend} answered by {served}, want only {sorted(proxies)}")
        log(f"{r['name']} client namespace: {world.CLUSTER} and app1.{world.CLUSTER} -> {pub} ({r['nlb']['proxy']}); "
            f"4 pings answered by {served}")
        h = _region_proxies(state, r)[-1]  # a host whose trust store holds Pebble's root
        for name in (world.CLUSTER, f"app1.{world.CLUSTER}"):
            got = hosts.ssh(h, f"getent ahostsv4 {name} | awk 'NR==1{{print $1}}'").stdout.strip()
            if got != r["nlb"]["proxy-int"]:
                raise SandboxError(f"{h['machine']}: {name} resolves to {got!r}, want {r['nlb']['proxy-int']} "
                                   f"({internal}, split DNS inside the VPC)")
        backend = _backend(r["name"], "proxy-int")
        before = _stats()
        code = hosts.ssh(h, f"for i in 1 2 3 4; do curl -sS -o /dev/null -w '%{{http_code}}\\n' "
                            f"https://{world.CLUSTER}/v1/webapi/ping; done").stdout.split()
        served = _answered_by(state, backend, before, _stats())
        if code != ["200"] * 4 or not served or not set(served) <= proxies:
            raise SandboxError(f"{h['machine']}: pings through {internal}: {code}, answered by {served}")
        log(f"{h['machine']} (inside the {r['name']} VPC): {world.CLUSTER} -> {internal} ({r['nlb']['proxy-int']}); "
            f"4 pings answered by {served}")


def check_auth_server(state):
    """The proxies' teleport.auth_server is the auth NLB's name, which they resolve through
    their region's DNS and reach through the balancer (HAProxy's auth backend)."""
    value = checks.auth_server_from_edge()
    name = value.rsplit(":", 1)[0]
    want_ip = A["nlb"]["auth"]
    for h in [x for x in state["hosts"] if x["role"] == "proxy"]:
        doc = yaml.safe_load(hosts.ssh(h, "cat /etc/teleport.yaml").stdout)
        if doc["teleport"].get("auth_server") != value:
            raise SandboxError(f"{h['machine']}: teleport.auth_server {doc['teleport'].get('auth_server')!r}, want {value!r}")
        got = hosts.ssh(h, f"getent ahostsv4 {name} | awk 'NR==1{{print $1}}'").stdout.strip()
        if got != want_ip:
            raise SandboxError(f"{h['machine']}: {name} resolves to {got!r}, want the auth NLB {want_ip}")
    backend = _backend(A["name"], "auth")
    sessions = {s: n for (be, s), n in _stats().items() if be == backend and s not in ("BACKEND", "FRONTEND")}
    if sum(sessions.values()) == 0:
        raise SandboxError(f"no connection went through the auth NLB's backend {backend}: {sessions}")
    log(f"every proxy: auth_server {value}, resolved to {want_ip} through DNS; {sum(sessions.values())} connections "
        f"forwarded by {backend}")


# --- steering ----------------------------------------------------------------------------
def drill_steering(state):
    region = B["name"]
    clients = [Client(r, "steer", 300) for r in world.REGIONS]
    try:
        for c in clients:
            c.wait_serving(c.region["nlb"]["proxy"])
        t0 = time.monotonic()
        aws.playbook("aws-edge.yml", state["moto"]["endpoint"], state, "steer-off",
                     "-e", json.dumps({"aws_edge_steered_off_regions": [region]}))
        clients[1].wait_serving(A["nlb"]["proxy"], 60)
        off = time.monotonic() - t0
        t1 = time.monotonic()
        aws.playbook("aws-edge.yml", state["moto"]["endpoint"], state, "steer-on")
        clients[1].wait_serving(B["nlb"]["proxy"], 60)
        on = time.monotonic() - t1
    finally:
        results = [c.stop() for c in clients]
    for (recs, failed), c in zip(results, clients, strict=True):
        log(f"steering client in {c.region['name']}: {len(recs)} requests, {len(failed)} failed ({_summary(recs)})")
        if failed:
            raise SandboxError(f"steering {region} off and back: the {c.region['name']} client saw {len(failed)} failed "
                               f"requests, want 0: {failed[:3]}")
    figure("steer_off_seconds", round(off, 1), "s", f"aws-edge.yml run + until {region}'s clients are served by {A['name']}")
    figure("steer_on_seconds", round(on, 1), "s", f"aws-edge.yml run + until {region}'s clients are back")
    figure("steer_failed_requests", 0, "", f"{sum(len(r) for r, _ in results)} requests in both regions")


# --- region loss ---------------------------------------------------------------------------
def _peer_view(state, region):
    """{peer: (up, outcome)} as the node-agents of one region's proxies report them."""
    out = {}
    for h in _region_proxies(state, region):
        st = hosts.ssh(h, f"curl -sf http://{h['private_ip']}:{world.NODE_AGENT_PORT}/v1/peers/status", check=False)
        for p in (json.loads(st.stdout).get("peers", []) if st.returncode == 0 else []):
            out[(h["machine"], p["peer"])] = (p["up"], p.get("outcome"))
    return out


def _alert(state, name, peer_region):
    return [a for a in services.prometheus_alerts(state)
            if a["labels"].get("alertname") == name and a["labels"].get("peer_region") == peer_region]


def drill_region_loss(state):
    lost = [h for h in state["hosts"] if h["region"] == B["name"]]
    lost_addrs = {f"{h['private_ip']}:3021" for h in lost}
    # The lost region's client gives up on a request after LOST_CLIENT_TIMEOUT_S: a request sent
    # to the dead NLB just before DNS moved otherwise hangs for its whole timeout and adds it to
    # the failover it measures (health check interval + probe + up to 5 s). The surviving
    # region's client keeps 5 s, so a slow answer under load is never counted as a failure.
    clients = {A["name"]: Client(A, "loss", 600), B["name"]: Client(B, "loss", 600, timeout=LOST_CLIENT_TIMEOUT_S)}
    try:
        for r in world.REGIONS:
            clients[r["name"]].wait_serving(r["nlb"]["proxy"])
        t_loss = time.time()
        for h in lost:
            os.kill(h["pid"], signal.SIGTERM)
        log(f"region loss: powering off every host of {B['name']}: {', '.join(h['machine'] for h in lost)}")
        threads = [threading.Thread(target=hosts.power_off, args=(h,)) for h in lost]
        for t in threads:
            t.start()
        cb = clients[B["name"]]

        def failed_over():
            return next((r for r in cb.records() if r["t"] > t_loss and r["ok"] and r["address"] == A["nlb"]["proxy"]), None)
        first = wait_until(f"{B['name']}'s clients served by {A['name']}", failed_over, 90, 0.25)
        failover = round(first["t"] + first["ms"] / 1000 - t_loss, 1)
        for t in threads:
            t.join()
        during = [r for r in cb.records() if t_loss - 1 <= r["t"] <= first["t"]]
        failed = [r for r in during if not r["ok"]]
        bound = math.ceil(failover / CLIENT_INTERVAL) + 1
        log(f"region loss: {B['name']}'s client failed over in {failover} s (bound {FAILOVER_BOUND_S} s); "
            f"{len(failed)} of {len(during)} requests failed meanwhile (bound {bound}): "
            + "; ".join(f"{r['t'] - t_loss:+.1f}s {r['address']} {r['error'] or r['status']}" for r in failed[:40]))
        if failover > FAILOVER_BOUND_S:
            raise SandboxError(f"region loss: failover took {failover} s, more than {FAILOVER_BOUND_S} s "
                               "(health-check interval x threshold + TTL + 10 %)")
        if len(failed) > bound:
            raise SandboxError(f"region loss: {len(failed)} failed requests, more than {bound} "
                               f"(failover time / client interval {CLIENT_INTERVAL} s + 1)")
        figure("region_loss_failover_seconds", failover, "s", f"bound {FAILOVER_BOUND_S} s")
        figure("region_loss_failed_requests", len(failed), "", f"of {len(during)} during the failover, bound {bound}")
        _policy_transition(t_loss)

        def peers_down():
            view = _peer_view(state, A)
            down = {k: v for k, v in view.items() if k[1] in lost_addrs}
            return down if down and all(not up and outcome for up, outcome in down.values()) \
                and len(down) == len(lost_addrs) * len(_region_proxies(state, A)) else None
        down = wait_until(f"{A['name']}'s node-agents to report {B['name']}'s proxies down", peers_down, 60, 1)
        log("region loss: " + "; ".join(f"{m} reports {p} down ({o})" for (m, p), (_, o) in sorted(down.items())))
        figure("region_loss_peers_down_seconds", round(time.time() - t_loss, 1), "s")

        t_site = time.monotonic()
        recap = checks.playbook(state, "region-loss-limit", "--limit", f"region_{A['name'].replace('-', '_')}",
                                "--skip-tags", "site_check")
        checks.expect_no_change(recap, "region-loss-limit")
        lost_ids = {h["instance_id"] for h in lost}
        if set(recap) & lost_ids:
            raise SandboxError(f"site.yml --limit {A['name']} touched a lost host: {sorted(set(recap) & lost_ids)}")
        log(f"region loss: site.yml --limit region_{A['name'].replace('-', '_')} converged with changed=0 "
            f"in {time.monotonic() - t_site:.0f} s on {len(set(recap) - {'localhost'})} surviving hosts")

        def firing():
            alerts = _alert(state, "TeleportRegionProxiesUnreachable", B["name"])
            return alerts if alerts and alerts[0]["state"] == "firing" else None
        alert = wait_until(f"TeleportRegionProxiesUnreachable{{peer_region={B['name']}}} firing", firing, 240, 2)
        figure("region_loss_alert_firing_seconds", round(time.time() - t_loss, 1), "s",
               f"the rule's for: 2m; active since {alert[0]['activeAt']}")
        others = [a["labels"]["alertname"] for a in services.prometheus_alerts(state) if a["state"] == "firing"
                  and a["labels"].get("alertname") not in ("TeleportRegionProxiesUnreachable", "TeleportProxyPeerDown",
                                                             "TeleportProxyPeerUnreachable")]
        if others:
            raise SandboxError(f"region loss: other alerts fire too: {others}")
        checks.check_units({"hosts": [h for h in state["hosts"] if h["region"] == A["name"]]})

        t_back = time.time()
        for h in lost:
            hosts.power_on(h)
        save_state(state)  # the new pids, for `down`
        hosts.wait_ssh(lost, ec2.console_reader(state))
        clients[B["name"]].wait_serving(B["nlb"]["proxy"], 120)
        figure("region_back_records_seconds", round(time.time() - t_back, 1), "s", "boot to DNS answering the region again")

        def peers_up():
            view = _peer_view(state, A)
            return all(view.get((m, p), (False,))[0] for m in [h["machine"] for h in _region_proxies(state, A)]
                       for p in lost_addrs)
        wait_until(f"{A['name']}'s node-agents to report {B['name']}'s proxies up", peers_up, 120, 1)
        figure("region_back_peers_up_seconds", round(time.time() - t_back, 1), "s")
        wait_until("the region alert to resolve", lambda: not _alert(state, "TeleportRegionProxiesUnreachable", B["name"]),
                   90, 2)
        figure("region_back_alert_resolved_seconds", round(time.time() - t_back, 1), "s")
    finally:
        results = {k: c.stop() for k, c in clients.items()}
        for h in lost:
            if not alive(h["pid"]):
                hosts.power_on(h)
        save_state(state)
    recs, failed = results[A["name"]]
    log(f"region loss: the {A['name']} client sent {len(recs)} requests, {len(failed)} failed ({_summary(recs)})")
    if failed:
        raise SandboxError(f"region loss: the surviving region's client saw {len(failed)} failed requests: {failed[:3]}")


def _policy_transition(t_loss):
    with open(os.path.join(STATE_DIR, "route53-policy-double.log")) as f:
        for line in f:
            m = re.match(r"(\S+) \[route53-policy-double\] health_check .*transition=healthy->unhealthy", line)
            if m and _epoch(m.group(1)) > t_loss:
                figure("region_loss_detected_seconds", round(_epoch(m.group(1)) - t_loss, 1), "s",
                       "Route 53 health check unhealthy (policy double)")
                return


def _epoch(stamp):
    base, _, ms = stamp.rstrip("Z").partition(".")
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone + int(ms or 0) / 1000


# --- upgrades -------------------------------------------------------------------------------
UPGRADE = os.path.join(REPO, "playbooks", "upgrade.yml")


def _upgrade(state, name, version, expect_ok=True, **extra):
    _, tarball, sha = checks.build_double("enterprise", version)
    logfile = os.path.join(STATE_DIR, f"ansible-{name}.log")
    cmd = ["ansible-playbook", "-i", checks.INVENTORY_SCRIPT, UPGRADE, "-e", "@" + checks.VARS_FILE,
           "-e", json.dumps({"teleport_version": version, "teleport_tarball_src": tarball, "teleport_tarball_sha256": sha,
                             **extra})]
    log(f"upgrade.yml ({name}) to {version}")
    t0 = time.monotonic()
    with open(logfile, "w") as out:
        p = subprocess.run(cmd, cwd=REPO, env=checks.ansible_env(state), stdout=out, stderr=out, timeout=1800)
    took = time.monotonic() - t0
    with open(logfile) as f:
        text = f.read()
    if (p.returncode == 0) != expect_ok:
        raise SandboxError(f"upgrade.yml ({name}) exited {p.returncode} after {took:.0f} s, want "
                           f"{'success' if expect_ok else 'failure'}; log {logfile}:\n{text[-5000:]}")
    return took, text


def running_versions(state):
    out = {}
    for h in state["hosts"]:
        diag = f"{h['private_ip']}:3000"
        m = re.search(r'teleport_build_info\{(?:[^}]*,)?version="([^"]+)"',
                      hosts.ssh(h, f"curl -sf http://{diag}/metrics", check=False).stdout)
        out[h["machine"]] = m.group(1) if m else None
    return out


def _main_pids(state):
    return {h["machine"]: hosts.ssh(h, "systemctl show -p MainPID --value teleport").stdout.strip() for h in state["hosts"]}


def _rotation(state, since):
    """{machine: (first deregistration, last back up)} from the NLB double's log since an epoch."""
    by_id = {h["instance_id"]: h["machine"] for h in state["hosts"]}
    out = {}
    with open(os.path.join(STATE_DIR, "nlb-double.log")) as f:
        for line in f:
            m = re.match(r"(\S+) \[nlb-double\] (deregistered|target) .*?target=(i-[0-9a-f]+)[-:]\d+(.*)", line)
            if not m or _epoch(m.group(1)) < since or m.group(3) not in by_id:
                continue
            t, machine = _epoch(m.group(1)), by_id[m.group(3)]
            if m.group(2) == "deregistered":
                out.setdefault(machine, [t, None])
            elif re.search(r"transition=\S+->up", m.group(4)) and machine in out:
                out[machine][1] = t
    return out


def drill_upgrade(state):
    versions = running_versions(state)
    if set(versions.values()) != {"17.7.1"}:
        raise SandboxError(f"upgrade drill: want every host on 17.7.1 first, have {versions}")
    clients = [Client(r, "upgrade", 1200) for r in world.REGIONS]
    t0 = time.time()
    try:
        for c in clients:
            c.wait_serving(c.region["nlb"]["proxy"])
        took, text = _upgrade(state, "upgrade", "17.8.0")
    finally:
        results = [c.stop() for c in clients]
    _save_plan(text)
    sent = sum(len(r) for r, _ in results)
    failed = [f for _, fs in results for f in fs]
    versions = running_versions(state)
    log(f"upgrade drill: {sent} requests, {len(failed)} failed; " + "; ".join(
        f"{c.region['name']}: {_summary(r)}" for (r, _), c in zip(results, clients, strict=True)))
    if failed:
        raise SandboxError(f"upgrade drill: {len(failed)} failed requests, want 0: {failed[:5]}")
    if set(versions.values()) != {"17.8.0"}:
        raise SandboxError(f"upgrade drill: not every host runs 17.8.0 afterwards: {versions}")
    rotation = _rotation(state, t0)
    figure("upgrade_seconds", round(took), "s", "upgrade.yml 17.7.1 -> 17.8.0, 2 auth + 4 proxies")
    figure("upgrade_requests", sent, "", "0 failed")
    for machine, (out, back) in sorted(rotation.items()):
        figure(f"upgrade_out_of_rotation_{machine}", round(back - out, 1) if back else None, "s")
    if len(rotation) != len(state["hosts"]) or not all(b for _, b in rotation.values()):
        raise SandboxError(f"upgrade drill: every host must leave and rejoin its balancers once: {rotation}")


def _save_plan(text):
    """The plan upgrade.yml printed before its first change (its "Print the plan" task's msg,
    parsed as the YAML the callback prints), to build/sandbox-upgrade-plan.txt."""
    lines = text.splitlines()
    task = next((i for i, line in enumerate(lines) if line.startswith("TASK [teleport : Print the plan]")), None)
    first_change = next((i for i, line in enumerate(lines) if line.startswith("changed: ")), len(lines))
    if task is None or task > first_change:
        raise SandboxError("upgrade drill: upgrade.yml printed no plan before its first change")
    start = next(i for i in range(task, len(lines)) if lines[i].strip() == "msg:")
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    plan = yaml.safe_load(textwrap.dedent("\n".join(block)))["msg"]
    path = os.path.join(REPO, "build", "sandbox-upgrade-plan.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(plan) + "\n")
    log("upgrade plan (" + path + "):\n  " + "\n  ".join(plan))


# The gate's wait in the failure drill: the double is ready within seconds, so a shorter
# teleport_health_timeout (default 180 s) only shortens the wait for a gate that never passes.
FAILURE_GATE_TIMEOUT_S = 40


def rollout_order(state):
    """The proxies in upgrade.yml's order: region slots by sorted region name, hosts by inventory
    name (roles/teleport/vars/main.yml _teleport_inv_regions, validate_inventory.yml)."""
    proxies = [h for h in state["hosts"] if h["role"] == "proxy"]
    return sorted(proxies, key=lambda h: (h["region"], h["instance_id"]))


def drill_upgrade_failure(state):
    """18.0.0 made to fail its gate on the first proxy of the rollout: the run stops there,
    that proxy is rolled back and serving, the auth pool (which must move first) is on
    18.0.0, and no other proxy has changed."""
    bad = rollout_order(state)[0]
    hosts.ssh(bad, f"echo 18.0.0 > {FAULT_FILE}")
    before_versions, before_pids = running_versions(state), _main_pids(state)
    clients = [Client(r, "upgrade-fail", 1200) for r in world.REGIONS]
    t0 = time.time()
    try:
        for c in clients:
            c.wait_serving(c.region["nlb"]["proxy"])
        took, text = _upgrade(state, "upgrade-failure", "18.0.0", expect_ok=False,
                              teleport_health_timeout=FAILURE_GATE_TIMEOUT_S)
    finally:
        results = [c.stop() for c in clients]
        hosts.ssh(bad, f"rm -f {FAULT_FILE}", check=False)
    sent = sum(len(r) for r, _ in results)
    failed = [f for _, fs in results for f in fs]
    flat = " ".join(text.split())  # Ansible's YAML callback folds long messages
    said = (f"{bad['instance_id']} failed the gate '/readyz, /v1/webapi/ping and the running version (18.0.0)' "
            f"on Teleport 18.0.0; it was rolled back to {before_versions[bad['machine']]} and is serving again")
    if said not in flat:
        raise SandboxError(f"upgrade failure drill: the run's output does not say {said!r}; log "
                           f"{os.path.join(STATE_DIR, 'ansible-upgrade-failure.log')}")
    after_versions, after_pids = running_versions(state), _main_pids(state)
    rotation = _rotation(state, t0)
    bad_out = rotation.get(bad["machine"], [None])[0]
    problems = []
    if after_versions[bad["machine"]] != before_versions[bad["machine"]]:
        problems.append(f"{bad['machine']} runs {after_versions[bad['machine']]}, want it rolled back to "
                        f"{before_versions[bad['machine']]}")
    readyz = hosts.ssh(bad, f"curl -s -o /dev/null -w '%{{http_code}}' http://{bad['private_ip']}:3000/readyz", check=False).stdout
    if readyz != "200":
        problems.append(f"{bad['machine']} /readyz {readyz} after the rollback")
    health = _target_health(state, bad)
    if not health or set(health.values()) != {"healthy"}:
        problems.append(f"{bad['machine']} is not back in its target groups: {health}")
    finished_before = []
    for h in state["hosts"]:
        m = h["machine"]
        if m == bad["machine"]:
            continue
        if h["role"] == "auth":
            out, back = rotation.get(m, [None, None])
            if after_versions[m] != "18.0.0" or not back or not bad_out or back > bad_out:
                problems.append(f"{m} (auth, upgraded before any proxy) runs {after_versions[m]}, out of rotation "
                                f"{rotation.get(m)}; want 18.0.0, back before {bad['machine']} left")
            finished_before.append(m)
        elif after_versions[m] != before_versions[m] or after_pids[m] != before_pids[m] or m in rotation:
            problems.append(f"{m} changed: {before_versions[m]} -> {after_versions[m]}, pid {before_pids[m]} -> "
                            f"{after_pids[m]}, out of rotation {rotation.get(m)}")
    log(f"upgrade failure drill: {sent} requests, {len(failed)} failed; stopped at {bad['machine']} "
        f"({bad['instance_id']}), rolled back to {after_versions[bad['machine']]}; finished before it: {finished_before}; "
        f"unchanged: {sorted(set(after_versions) - set(finished_before) - {bad['machine']})}")
    if failed:
        problems.append(f"{len(failed)} failed requests, want 0: {failed[:5]}")
    if problems:
        raise SandboxError("upgrade failure drill: " + "; ".join(problems))
    figure("upgrade_failure_seconds", round(took), "s", f"18.0.0 failing its gate on {bad['machine']}, rolled back")
    figure("upgrade_failure_requests", sent, "", "0 failed")


def _target_health(state, h):
    elb = aws.client("elbv2", h["region"], state["edge"]["elbv2_double"]["endpoint"])
    out = {}
    for tg in elb.describe_target_groups()["TargetGroups"]:
        for d in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]:
            if d["Target"]["Id"] == h["instance_id"]:
                out[tg["TargetGroupName"]] = d["TargetHealth"]["State"]
    return out


def write_figures():
    path = os.path.join(REPO, "build", "sandbox-figures.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(FIGURES, f, indent=2)
    log(f"figures written to {path}")
