"""The edge in the sandbox (docs/edge.md, "Starting it"): the load balancers' addresses
and a client network namespace on each region bridge, the NLB double (HAProxy), the Route 53
routing-policy double, CoreDNS on every bridge gateway, and the ELBv2 target health double
the playbooks' ELBv2 calls go through."""
import csv
import io
import os
import re
import shutil
import subprocess
import time

from ..edge import dns as edge_dns
from ..edge import sg_double
from ..edge.common import Layout, read_json
from ..edge.nlb_double import cli_command
from ..moto import aws_env, client
from ..util import REPO, HarnessError, alive, free_port, log, run, spawn, stop_pid, venv_python, wait_until
from . import services, world
from .state import STATE_DIR

EDGE_DIR = os.path.join(STATE_DIR, "edge")
LAYOUT = Layout(EDGE_DIR)
# What the sandbox's clients trust: the root Pebble issues the cluster's certificate under.
CA_FILE = services.ACME_ROOT
COREDNS_BUILD = os.path.join(REPO, "sandbox", "edge", "coredns", "build.sh")
# Stopped last to first: the security-group double first (its table goes with it).
# Seconds between the NLB double's reads of moto when nothing changed through the API (docs/edge.md).
NLB_MOTO_INTERVAL_S = 5
PROCS = ("nlb_double", "policy_double", "coredns", "elbv2_double", "sg_double")
SG_STATE = os.path.join(EDGE_DIR, "sg-double.json")
SG_LOG = os.path.join(STATE_DIR, "sg-double.log")


def _py(module, *args):
    return [venv_python(), "-m", f"harness.edge.{module}", *args]


def coredns_binary():
    return run(["bash", COREDNS_BUILD], timeout=900).stdout.strip().splitlines()[-1]


def network_up(state):
    """The edge addresses and one client namespace per region (after network.up)."""
    edge = state.setdefault("edge", {})
    edge["netns"] = []
    for r in world.REGIONS:
        prefix = r["edge_cidr"].split("/")[1]
        run(["ip", "addr", "add", f"{r['edge_gateway']}/{prefix}", "dev", r["bridge"]])
        for ip in r["nlb"].values():
            run(["ip", "addr", "add", f"{ip}/32", "dev", r["bridge"]])
        add_client_netns(r, r["netns"], r["client_ip"], prefix)
        edge["netns"].append(r["netns"])
    log("edge addresses on the bridges: " + "; ".join(
        f"{r['bridge']} {r['edge_gateway']}/{r['edge_cidr'].split('/')[1]} + NLBs "
        + ", ".join(f"{k}={v}" for k, v in r["nlb"].items()) + f", client namespace {r['netns']} {r['client_ip']}"
        for r in world.REGIONS))


def add_client_netns(r, name, ip, prefix):
    """A network namespace on the region bridge, resolving through the region's CoreDNS
    (`ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf)."""
    veth = f"tsbx-{r['short']}-cl"
    del_client_netns(name, veth)
    run(["ip", "netns", "add", name])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name])
    run(["ip", "link", "set", veth, "master", r["bridge"], "up"])
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{ip}/{prefix}", "dev", "eth0"],
                ["ip", "link", "set", "eth0", "up"], ["ip", "route", "add", "default", "via", r["edge_gateway"]]):
        run(["ip", "netns", "exec", name, *cmd])
    os.makedirs(f"/etc/netns/{name}", exist_ok=True)
    with open(f"/etc/netns/{name}/resolv.conf", "w") as f:
        f.write(f"# Written by sandbox/sandbox: the region's resolver.\nnameserver {r['gateway']}\n"
                "options timeout:1 attempts:2\n")


def del_client_netns(name, veth=None):
    """Removes the namespace, first killing what still runs in it: a namespace a process holds outlives
    `ip netns del`, and so does its veth pair, whose host end then refuses the next world's
    `ip link add` with "File exists"."""
    if name in run(["ip", "netns", "list"], check=False).stdout.split():
        pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
        if pids:
            run(["kill", "-KILL", *pids], check=False)
            wait_until(f"the processes left in namespace {name} to exit",
                       lambda: not run(["ip", "netns", "pids", name], check=False).stdout.split(), 10)
        run(["ip", "netns", "del", name], check=False)
    if veth and run(["ip", "link", "show", veth], check=False).returncode == 0:
        run(["ip", "link", "del", veth], check=False)
    shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


def _addresses():
    out = []
    for r in world.REGIONS:
        for kind, ip in r["nlb"].items():
            out.append(f"--address={r['name']}/{world.NLB_NAMES[kind]}={ip}")
    return out


def start(state, endpoint):
    """The doubles, the Corefile and CoreDNS, in docs/edge.md's order."""
    edge = state.setdefault("edge", {})
    LAYOUT.make()
    edge["dir"] = EDGE_DIR
    env = aws_env(endpoint)
    binary = coredns_binary()
    regions = [f"--region={r['name']}" for r in world.REGIONS]
    # moto read every NLB_MOTO_INTERVAL_S, and at once after a change made through the elbv2 double (every
    # ELBv2 call of the playbooks): reading it every second kept a fifth of a core busy in moto and the double.
    edge["nlb_double"] = {"pid": spawn(_py("nlb_double", "--edge-dir", EDGE_DIR, *regions, *_addresses(),
                                           f"--moto-interval={NLB_MOTO_INTERVAL_S}"),
                                       os.path.join(STATE_DIR, "nlb-double.log"), env=env)}
    wait_until("the NLB double's zone file (zones/nlb.db)", lambda: _alive_or_fail(edge, "nlb_double")
               and os.path.exists(LAYOUT.nlb_zone), 60, 0.2)
    edge["policy_double"] = {"pid": spawn(_py("route53_policy_double", "--edge-dir", EDGE_DIR,
                                              *[f"--client-region={r['name']}" for r in world.REGIONS]),
                                          os.path.join(STATE_DIR, "route53-policy-double.log"), env=env)}
    wait_until("the policy double's state", lambda: _alive_or_fail(edge, "policy_double")
               and os.path.exists(LAYOUT.policy_state), 60, 0.2)
    _dns_tool(["fix-soa", "--endpoint-url", endpoint], env)
    listen = [f"--listen={r['gateway']}:{world.DNS_PORT}" for r in world.REGIONS] + [f"--listen={world.DNS_LOCAL}"]
    views = [f"--view={r['name']}={r['edge_cidr']}" for r in world.REGIONS]
    _dns_tool(["generate", "--edge-dir", EDGE_DIR, "--endpoint-url", endpoint, *views, *listen,
               f"--default-region={world.REGIONS[0]['name']}"], env)
    argv, cenv = edge_dns.coredns_command(binary, LAYOUT, endpoint)
    edge["coredns"] = {"pid": spawn(argv, os.path.join(STATE_DIR, "coredns.log"), env=cenv, cwd=EDGE_DIR),
                       "listen": [f"{r['gateway']}:{world.DNS_PORT}" for r in world.REGIONS] + [world.DNS_LOCAL]}
    for r in world.REGIONS:
        wait_until(f"CoreDNS answering {world.CLUSTER} for {r['name']}'s clients on {r['gateway']}:53",
                   lambda r=r: _alive_or_fail(edge, "coredns") and public_answer(r) == nlb_dns(r["name"], "proxy"), 60, 0.5)
    port = free_port()
    edge["elbv2_double"] = {"pid": spawn(_py("elbv2_double", "--edge-dir", EDGE_DIR, "--endpoint-url", endpoint,
                                             "--listen", f"127.0.0.1:{port}"),
                                         os.path.join(STATE_DIR, "elbv2-double.log"), env=env),
                            "endpoint": f"http://127.0.0.1:{port}"}
    wait_until("the ELBv2 target health double", lambda: _alive_or_fail(edge, "elbv2_double")
               and client("elbv2", world.REGIONS[0]["name"], edge["elbv2_double"]["endpoint"]).describe_load_balancers(),
               30, 0.2)
    log(f"edge up: NLB double (HAProxy), Route 53 policy double, CoreDNS on {', '.join(edge['coredns']['listen'])}, "
        f"ELBv2 target health double on {edge['elbv2_double']['endpoint']}")


def start_security_groups(state, endpoint):
    """The security-group double (harness/edge/sg_double.py): moto's security groups enforced on
    the bridges from now on; returns once its first table is in place (before any host boots)."""
    edge = state.setdefault("edge", {})
    regions = [f"--region={r['name']}" for r in world.REGIONS]
    addresses = [f"--address={r['name']}/{world.NLB_NAMES[kind]}={ip}" for r in world.REGIONS for kind, ip in r["nlb"].items()]
    if os.path.exists(SG_STATE):
        os.unlink(SG_STATE)
    edge["sg_double"] = {"pid": spawn(_py("sg_double", "--state", SG_STATE, *regions, *addresses), SG_LOG,
                                      env=aws_env(endpoint)), "state": SG_STATE, "log": SG_LOG}
    wait_until("the security-group double's first table", lambda: _alive_or_fail(edge, "sg_double")
               and (read_json(SG_STATE) or {}).get("generation", 0) >= 1, 60, 0.2)
    enforced = read_json(SG_STATE)["enforced"]
    log(f"security-group double: {len(enforced)} addresses enforced (instances and NLBs, default deny inbound, "
        f"stateful) in nftables table inet {sg_double.TABLE}")


def sg_state():
    return read_json(SG_STATE) or {}


def sg_dropped(since):
    """[(src, dst, proto, port)] the security-group double logged as dropped after epoch since."""
    out = []
    if not os.path.exists(SG_LOG):
        return out
    with open(SG_LOG) as f:
        for line in f:
            m = re.match(r"(\S+) \[security-group-double\] dropped src=(\S+) dst=(\S+) proto=(\S+) port=(\S+)", line)
            if m and epoch(m.group(1)) >= since:
                out.append(m.group(2, 3, 4, 5))
    return out


def _alive_or_fail(edge, key):
    if not alive(edge[key]["pid"]):
        raise HarnessError(f"{key} exited; its log: {STATE_DIR}/{key.replace('_', '-')}.log")
    return True


def _dns_tool(args, env):
    p = subprocess.run(_py("dns", *args), env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise HarnessError(f"harness.edge.dns {args[0]} failed: {p.stderr.strip() or p.stdout.strip()}")


def dig(name, server, source=None, qtype="A"):
    """[(name, type, value)] of a real query, or the status when not NOERROR."""
    host, _, port = server.partition(":")
    cmd = ["dig", f"@{host}", "-p", port or "53", "+noall", "+answer", "+comments", "+tries=1", "+time=2", name, qtype]
    if source:
        cmd[1:1] = ["-b", source]
    out = run(cmd, check=False, timeout=10).stdout
    status, answers = None, []
    for line in out.splitlines():
        if "status:" in line:
            status = line.split("status:", 1)[1].split(",", 1)[0].strip()
        elif line and not line.startswith(";"):
            f = line.split()
            answers.append((f[0].rstrip("."), f[3], " ".join(f[4:]).rstrip(".")))
    return answers if status == "NOERROR" else status


def public_answer(r, name=world.CLUSTER):
    """The CNAME a client of region r on the internet gets (the bridge's edge gateway
    address is in that region's public view)."""
    ans = dig(name, f"{r['gateway']}:{world.DNS_PORT}", source=r["edge_gateway"])
    return next((v for _, t, v in ans if t == "CNAME"), None) if isinstance(ans, list) else ans


def nlb_dns(region, kind):
    """A load balancer's DNS name as the NLB double serves it."""
    for lb in (read_json(LAYOUT.nlb_state) or {}).get("load_balancers", []):
        if lb["region"] == region and lb["name"] == world.NLB_NAMES[kind]:
            return lb["dns_name"]
    return None


def nlb_state():
    return read_json(LAYOUT.nlb_state) or {}


def policy_state():
    return read_json(LAYOUT.policy_state) or {}


def stop(state):
    edge = (state or {}).get("edge", {})
    for key in reversed(PROCS):
        stop_pid(edge.get(key, {}).get("pid"), key.replace("_", "-"))
    sg_double.remove()  # the double removes its table when stopped; also when it died before
    for r in world.REGIONS:
        del_client_netns(r["netns"], f"tsbx-{r['short']}-cl")
    for name in sorted(set(edge.get("netns", [])) - {r["netns"] for r in world.REGIONS}):
        del_client_netns(name)


# --- the data plane, as the drills read it -------------------------------------------------
def sessions():
    """{(backend, server): sessions so far} from the NLB double's HAProxy."""
    text = cli_command(os.path.join(EDGE_DIR, "haproxy", "admin.sock"), "show stat").lstrip("# ")
    return {(r["pxname"], r["svname"]): int(r.get("stot") or 0) for r in csv.DictReader(io.StringIO(text)) if r.get("pxname")}


def backend(region, kind):
    """The HAProxy backend of a region's load balancer (kind: proxy, proxy-int, auth)."""
    state = nlb_state()
    lb = next(b for b in state["load_balancers"] if b["region"] == region and b["name"] == world.NLB_NAMES[kind])
    arn = lb["listeners"][0]["target_group_arn"]
    return next(tg["backend"] for tg in state["target_groups"] if tg["arn"] == arn)


def served_by(state, backend, before, after):
    """{machine: new sessions} of the servers of one backend between two sessions()."""
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


def rotation(state, since):
    """{machine: [first deregistration, last back up]} (epoch s) from the NLB double's log since an epoch."""
    by_id = {h["instance_id"]: h["machine"] for h in state["hosts"]}
    out = {}
    with open(os.path.join(STATE_DIR, "nlb-double.log")) as f:
        for line in f:
            m = re.match(r"(\S+) \[nlb-double\] (deregistered|target) .*?target=(i-[0-9a-f]+)[-:]\d+(.*)", line)
            if not m or epoch(m.group(1)) < since or m.group(3) not in by_id:
                continue
            t, machine = epoch(m.group(1)), by_id[m.group(3)]
            if m.group(2) == "deregistered":
                out.setdefault(machine, [t, None])
            elif re.search(r"transition=\S+->up", m.group(4)) and machine in out:
                out[machine][1] = t
    return out


def health_check_failed(since):
    """When (epoch s) the Route 53 policy double first saw a health check go unhealthy after since, or None."""
    with open(os.path.join(STATE_DIR, "route53-policy-double.log")) as f:
        for line in f:
            m = re.match(r"(\S+) \[route53-policy-double\] health_check .*transition=healthy->unhealthy", line)
            if m and epoch(m.group(1)) > since:
                return epoch(m.group(1))
    return None


def epoch(stamp):
    """An edge log line's UTC time stamp (2026-12-01T10:00:00.123Z) as epoch seconds."""
    base, _, ms = stamp.rstrip("Z").partition(".")
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone + int(ms or 0) / 1000
