#!/usr/bin/env python3
"""node-agent beside blackbox_exporter (a measurement, not a test).

For each peer count, simulated peers (70 % TLS servers that demand a client certificate like
Teleport's peer port, 15 % listeners that accept and never answer, 5 % closed ports, 10 % addresses
in 198.18.99.0/24 on a bridge without ports, where SYNs vanish) are probed by the packaged node-agent
and by Debian's prometheus-blackbox-exporter with the equivalent module (TCP connect plus TLS
handshake, the same timeout), side by side in the same run. A Prometheus-style scraper asks
blackbox_exporter for every peer (/probe?module=...&target=...) and the agent for /metrics once per
probe interval. Both processes are measured over the same steady-state window: RSS, CPU as % of one
core, and the probe cycle (agent: its cycle metric; blackbox_exporter: the slowest probe of a round).
Run by bench/node-agent-bench.sh; see bench/README.md."""
import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from harness import util
from harness.util import REPO, free_port

JAR = os.path.join(REPO, "node-agent", "target", "node-agent.jar")
BRIDGE = "na-bench0"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RSS_TARGET_MIB = 56


def wait_until(what, condition, timeout=60):
    try:
        util.wait_until(what, condition, timeout)
    except util.Timeout as e:
        sys.exit(f"bench: {e}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


async def http_get(port, path, timeout):
    """One GET on a fresh connection, as Prometheus's scrapes of different targets are; (seconds, body)."""
    start = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                 f"Accept: text/plain;version=0.0.4\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n".encode())
    body = await asyncio.wait_for(reader.read(-1), timeout)
    writer.close()
    return time.monotonic() - start, body.decode("utf-8", "replace")


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


# Why a JVM exits on its own: -XX:+ExitOnOutOfMemoryError (the role's) exits with 3.
EXIT_MEANING = {3: "OutOfMemoryError under -XX:+ExitOnOutOfMemoryError: its heap (-Xmx) is too small for this size"}


class Side:
    """One probing process: its pid, its log, and what the steady-state window saw."""

    def __init__(self, name, proc, log=None):
        self.name, self.proc, self.log = name, proc, log
        self.cycles, self.rss_max, self.up = [], 0, 0

    def sample(self):
        if self.proc.poll() is not None:
            code = self.proc.returncode
            tail = ""
            if self.log:
                with open(self.log, errors="replace") as f:
                    tail = "".join(f.readlines()[-15:])
            sys.exit(f"bench: {self.name} exited ({code}: {EXIT_MEANING.get(code, 'see its log')}); "
                     f"the end of its log:\n{tail}")
        self.rss_max = max(self.rss_max, status_kib(self.proc.pid, "VmRSS"))


async def scrape_round(agent_port, bb_port, peers):
    """What Prometheus does each interval: every blackbox target and the agent's /metrics."""
    probes = [http_get(bb_port, f"/probe?module=tls_connect&target={p}", 15) for p in peers]
    results = await asyncio.gather(http_get(agent_port, "/metrics", 15), *probes)
    agent_text = results[0][1]
    bb = results[1:]
    bb_up = sum(1 for _, body in bb if metric(body, "probe_success") == 1.0)
    bb_slowest = max(metric(body, "probe_duration_seconds") or 0.0 for _, body in bb)
    return agent_text, bb_up, bb_slowest


def measure(n, args, work, blackholes, java_opts, env):
    n_black = min(len(blackholes), round(n * 0.10))
    n_tls, n_closed = round(n * 0.70), round(n * 0.05)
    n_silent = n - n_tls - n_closed - n_black
    peers_file = os.path.join(work, f"peers-{n}.txt")
    sim = subprocess.Popen([sys.executable, os.path.join(REPO, "bench", "peer_simulator.py"), str(n_tls), str(n_silent),
                            str(n_closed), work, peers_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [sim]
    try:
        wait_until("the simulated peers", lambda: os.path.exists(peers_file))
        with open(peers_file, "a") as f:
            f.write("".join(f"{a}\n" for a in blackholes[:n_black]))
            f.write("bench-self.internal:3021\n")  # this host: excluded by self_addr
        with open(peers_file) as f:
            peers = [line.strip() for line in f if line.strip() and not line.startswith("bench-self")]

        agent_port, bb_port = free_port(), free_port()
        config = os.path.join(work, f"agent-{n}.yaml")
        with open(config, "w") as f:
            f.write(f"""listen_addr: 127.0.0.1:{agent_port}
tls:
  source_dir: {work}/incoming-{n}
  target_dir: {work}/teleport-tls-{n}
  owner: {os.getuid()}
  group: {os.getgid()}
  required_names: ["teleport.example.com", "*.teleport.example.com"]
  trust_bundle: {work}/ca.crt
  min_validity: 24h
  verify:
    addr: ""
peers:
  self_addr: bench-self.internal:3021
  file: {peers_file}
  probe_interval: {args.interval}s
  probe_timeout: {args.timeout}s
""")
        os.makedirs(f"{work}/incoming-{n}")
        shutil.copy(f"{work}/proxy.crt", f"{work}/incoming-{n}/tls.crt")
        shutil.copy(f"{work}/proxy.key", f"{work}/incoming-{n}/tls.key")
        t0 = time.monotonic()
        agent_log = os.path.join(work, f"agent-{n}.log")
        with open(agent_log, "w") as log:
            # stdout too: the JVM says "Terminating due to java.lang.OutOfMemoryError" there.
            agent = subprocess.Popen(["java", *java_opts, "-jar", JAR, "--config", config], env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        procs.append(agent)
        bb = subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={work}/blackbox.yml",
                               f"--web.listen-address=127.0.0.1:{bb_port}", "--log.level=error"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(bb)
        a, b = Side("node-agent", agent, agent_log), Side("blackbox_exporter", bb)

        def agent_cycled():
            a.sample()
            try:
                text = asyncio.run(http_get(agent_port, "/metrics", 2))[1]
            except OSError:
                return False
            return (metric(text, "teleport_node_agent_peer_last_probe_cycle_timestamp_seconds") or 0) > 0
        wait_until("the agent's first probe cycle", agent_cycled, timeout=60 + args.interval)
        first_cycle_s = time.monotonic() - t0
        asyncio.run(scrape_round(agent_port, bb_port, peers))  # blackbox_exporter's first (cold) round

        # Steady state: one scrape round per interval, RSS sampled every second, CPU over the window.
        cpu0 = {s: cpu_seconds(s.proc.pid) for s in (a, b)}
        w0 = time.monotonic()
        next_round, rounds = w0, 0
        while time.monotonic() - w0 < args.seconds:
            now = time.monotonic()
            if now >= next_round:
                text, bb_up, bb_slowest = asyncio.run(scrape_round(agent_port, bb_port, peers))
                b.cycles.append(bb_slowest)
                b.up = bb_up
                c = metric(text, "teleport_node_agent_peer_probe_cycle_duration_seconds")
                a.cycles.append(c)
                a.up = sum(1 for v in re.findall(r"^teleport_node_agent_peer_up\{[^}]*\} (\S+)$", text, re.M) if float(v) == 1.0)
                rounds += 1
                next_round += args.interval
            for s in (a, b):
                s.sample()
            time.sleep(min(1.0, max(0.05, next_round - time.monotonic())))  # pacing of the sampler
        wall = time.monotonic() - w0
        if os.environ.get("BENCH_DETAIL"):  # where the agent's RSS is; NMT lines need -XX:NativeMemoryTracking=summary
            with open(f"/proc/{agent.pid}/smaps_rollup") as f:
                print("".join("  " + line for line in f if re.match(r"(Rss|Private|Shared|Anonymous)", line)), end="")
            nmt = subprocess.run(["jcmd", str(agent.pid), "VM.native_memory", "summary"], capture_output=True, text=True).stdout
            print("".join("  " + line + "\n" for line in nmt.splitlines() if re.match(r"(Total|-)", line)), end="")
        out = {}
        for s in (a, b):
            s.sample()
            out[s.name] = dict(rss_end=status_kib(s.proc.pid, "VmRSS") / 1024, rss_max=s.rss_max / 1024,
                               cpu=100 * (cpu_seconds(s.proc.pid) - cpu0[s]) / wall, cycle=max(s.cycles),
                               cycle_median=statistics.median(s.cycles), up=s.up,
                               threads=status_kib(s.proc.pid, "Threads"))
        out["node-agent"]["first_cycle_s"] = first_cycle_s
        out["tls_peers"] = n_tls
        out["rounds"] = rounds
        return out
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def setup(work):
    def sh(*cmd):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
       "-subj", "/CN=bench CA", "-keyout", f"{work}/ca.key", "-out", f"{work}/ca.crt")
    for name, sans in (("peer", "DNS:localhost,IP:127.0.0.1"), ("proxy", "DNS:teleport.example.com,DNS:*.teleport.example.com")):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
           "-keyout", f"{work}/{name}.key", "-out", f"{work}/{name}.csr")
        with open(f"{work}/{name}.ext", "w") as f:
            f.write(f"subjectAltName={sans}\nbasicConstraints=critical,CA:FALSE\n")
        sh("openssl", "x509", "-req", "-in", f"{work}/{name}.csr", "-CA", f"{work}/ca.crt", "-CAkey", f"{work}/ca.key",
           "-CAcreateserial", "-days", "30", "-extfile", f"{work}/{name}.ext", "-out", f"{work}/{name}.crt")


def blackhole_bridge(count):
    """198.18.99.0/24 on a bridge with no ports: SYNs to it go out and are never answered."""
    if subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], stderr=subprocess.DEVNULL).returncode != 0:
        print(f"note: cannot create bridge {BRIDGE} (not root?); silent loopback listeners stand in for the lost SYNs")
        return [], False
    subprocess.run(["ip", "addr", "add", "198.18.99.1/24", "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    addrs = []
    for i in range(10, 10 + count):
        # A permanent neighbour entry: no ARP wait, the SYN goes out and is lost, a true connect timeout.
        subprocess.run(["ip", "neigh", "replace", f"198.18.99.{i}", "lladdr", f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
                        "dev", BRIDGE, "nud", "permanent"], check=True)
        addrs.append(f"198.18.99.{i}:3021")
    return addrs, True


def slope(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="10,100,300", help="peer counts (default 10,100,300)")
    ap.add_argument("--seconds", type=int, default=60, help="steady-state window per peer count (default 60)")
    ap.add_argument("--interval", type=int, default=15, help="probe and scrape interval, s (default 15, the role's)")
    ap.add_argument("--timeout", type=int, default=3, help="probe timeout, s (default 3, the role's)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.peers.split(",")]
    for tool in ("java", "openssl", "ip", "prometheus-blackbox-exporter"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not on PATH (prometheus-blackbox-exporter: scripts/install-deps.sh installs it)")
    if not os.path.isfile(JAR):
        sys.exit(f"bench: {JAR} missing: mvn -B -ntp -pl node-agent -am package -DskipTests")

    java_opts = os.environ.get("NODE_AGENT_JAVA_OPTS")
    if java_opts is None:
        import yaml
        with open(os.path.join(REPO, "roles", "node_agent", "defaults", "main.yml")) as f:
            java_opts = yaml.safe_load(f)["node_agent_jvm_opts"]
    java_opts = java_opts.split()
    # What the role's unit sets (roles/node_agent/templates/node-agent.service.j2).
    env = dict(os.environ, MALLOC_ARENA_MAX="1", MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")

    work = tempfile.mkdtemp(prefix="node-agent-bench-")
    made_bridge = False
    try:
        setup(work)
        with open(f"{work}/blackbox.yml", "w") as f:
            f.write(f"""modules:
  tls_connect:
    prober: tcp
    timeout: {args.timeout}s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        insecure_skip_verify: true
""")
        blackholes, made_bridge = blackhole_bridge(round(max(sizes) * 0.10))
        results = {}
        stopped = None
        for n in sizes:
            print(f"... {n} peers: {args.seconds} s of steady state at a {args.interval} s interval", flush=True)
            try:
                results[n] = measure(n, args, work, blackholes, java_opts, env)
            except SystemExit as e:  # a larger size failing must not take the smaller sizes' figures with it
                stopped = f"bench: stopped at {n} peers: {e}"
                print(stopped, flush=True)
                if not results:
                    raise
                break
    finally:
        if made_bridge:
            subprocess.run(["ip", "link", "del", BRIDGE], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    bbv = subprocess.run(["prometheus-blackbox-exporter", "--version"], capture_output=True, text=True)
    bbv = (bbv.stdout + bbv.stderr).splitlines()[0]
    print(f"\nnode-agent vs blackbox_exporter: probe interval {args.interval} s, timeout {args.timeout} s, "
          f"{args.seconds} s steady state per size; {java}; {bbv}")
    print(f"agent JVM: {' '.join(java_opts)}")
    print(f"\n{'peers':>5}  {'process':<18} {'RSS MiB end':>11} {'RSS max':>8} {'CPU % core':>10} {'cycle max s':>11} "
          f"{'median':>7} {'up/TLS':>7} {'threads':>7}")
    for n, r in results.items():
        for name in ("node-agent", "blackbox_exporter"):
            s = r[name]
            print(f"{n:>5}  {name:<18} {s['rss_end']:>11.1f} {s['rss_max']:>8.1f} {s['cpu']:>10.2f} {s['cycle']:>11.3f} "
                  f"{s['cycle_median']:>7.3f} {s['up']:>3}/{r['tls_peers']:<3} {s['threads']:>7}")
        a, b = r["node-agent"], r["blackbox_exporter"]
        print(f"{'':>5}  {'agent / blackbox':<18} {a['rss_end'] / b['rss_end']:>11.2f} {a['rss_max'] / b['rss_max']:>8.2f} "
              f"{a['cpu'] / b['cpu'] if b['cpu'] else float('inf'):>10.2f} {a['cycle'] / b['cycle']:>11.2f}")
    sizes = list(results)
    if len(sizes) >= 2:
        print(f"\nper-peer slope (least squares over {', '.join(map(str, sizes))} peers):")
        for name in ("node-agent", "blackbox_exporter"):
            rs = slope(sizes, [results[n][name]["rss_end"] * 1024 for n in sizes])
            cs = slope(sizes, [results[n][name]["cpu"] for n in sizes])
            print(f"  {name:<18} RSS {rs:7.1f} KiB/peer   CPU {cs * 100:6.2f} % of one core per 100 peers")
    if 100 in results:
        a, b = results[100]["node-agent"], results[100]["blackbox_exporter"]
        cycle_bound = args.timeout * 1.1
        print(f"\ntargets at 100 peers{'':<24} {'measured':>10} {'target':>10} {'ratio':>7}")
        rows = [("CPU <= blackbox_exporter's (% core)", a["cpu"], b["cpu"]),
                ("RSS, max over the window (MiB)", a["rss_max"], RSS_TARGET_MIB),
                ("probe cycle <= timeout + 10 % (s)", a["cycle"], cycle_bound)]
        for label, v, t in rows:
            print(f"  {label:<42} {v:>10.2f} {t:>10.2f} {v / t if t else float('inf'):>7.2f}  {'met' if v <= t else 'NOT met'}")
        print(f"  {'start-up to the first probe cycle done (s)':<42} {a['first_cycle_s']:>10.2f}")
    if stopped:
        sys.exit(stopped)


if __name__ == "__main__":
    main()
