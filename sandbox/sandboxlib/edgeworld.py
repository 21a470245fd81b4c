"""The edge in the sandbox (docs/edge.md, "Starting it"): the load balancers' addresses
and a client network namespace on each region bridge, the NLB double (HAProxy), the Route 53
routing-policy double, CoreDNS on every bridge gateway, and the ELBv2 target health double
the playbooks' ELBv2 calls go through."""
import os
import shutil
import subprocess

from . import aws, services, world
from .edge import dns as edge_dns
from .edge.common import Layout, read_json
from .util import REPO, STATE_DIR, SandboxError, alive, free_port, log, run, spawn, stop_pid, wait_until

EDGE_DIR = os.path.join(STATE_DIR, "edge")
LAYOUT = Layout(EDGE_DIR)
# What the sandbox's clients trust: the root Pebble issues the cluster's certificate under.
CA_FILE = services.ACME_ROOT
COREDNS_BUILD = os.path.join(REPO, "sandbox", "edge", "coredns", "build.sh")
# Stopped last to first.
PROCS = ("nlb_double", "policy_double", "coredns", "elbv2_double")


def _env(endpoint):
    env = aws.aws_env(endpoint)
    env["PYTHONPATH"] = os.path.join(REPO, "sandbox")
    return env


def _py(module, *args):
    return [os.path.join(REPO, ".venv", "bin", "python"), "-m", f"sandboxlib.edge.{module}", *args]


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
    env = _env(endpoint)
    binary = coredns_binary()
    regions = [f"--region={r['name']}" for r in world.REGIONS]
    edge["nlb_double"] = {"pid": spawn(_py("nlb_double", "--edge-dir", EDGE_DIR, *regions, *_addresses()),
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
               and aws.client("elbv2", world.REGIONS[0]["name"], edge["elbv2_double"]["endpoint"]).describe_load_balancers(),
               30, 0.2)
    log(f"edge up: NLB double (HAProxy), Route 53 policy double, CoreDNS on {', '.join(edge['coredns']['listen'])}, "
        f"ELBv2 target health double on {edge['elbv2_double']['endpoint']}")


def _alive_or_fail(edge, key):
    if not alive(edge[key]["pid"]):
        raise SandboxError(f"{key} exited; its log: {STATE_DIR}/{key.replace('_', '-')}.log")
    return True


def _dns_tool(args, env):
    p = subprocess.run(_py("dns", *args), env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SandboxError(f"sandboxlib.edge.dns {args[0]} failed: {p.stderr.strip() or p.stdout.strip()}")


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
    for r in world.REGIONS:
        del_client_netns(r["netns"], f"tsbx-{r['short']}-cl")
    for name in sorted(set(edge.get("netns", [])) - {r["netns"] for r in world.REGIONS}):
        del_client_netns(name)
