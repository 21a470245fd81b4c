#!/usr/bin/env python3
"""inventory-service beside its floor and amazon.aws.aws_ec2, on one moto world per size
(3 regions; per region 10 % auth and 90 % proxy hosts in 3 Teleport Auto Scaling groups, plus as many
unrelated instances: an application group and loose instances).

For each size it measures, in the same run and against the same moto:
  floor    the minimum AWS calls the service needs (DescribeAutoScalingGroups with the cluster tag
           filter, 100 groups a page; DescribeInstances by instance id, 200 ids a call), issued by a thin
           boto3 client, one thread per region as the service does;
  list     `inventory-service list` as the inventory script runs it (cold JVM, its AppCDS archive);
  aws_ec2  `ansible-inventory --list` with amazon.aws.aws_ec2 and the equivalent config (--aws-ec2-sizes);
  serve    a warm `serve` with the role's JVM options: its own refresh time, RSS, /v1/inventory latency
           (median and p99 over --requests requests) and the size of /v1/peers.
One more run of each goes through harness/moto.py's CountingProxy to count the AWS requests.
Run by bench/inventory-bench.sh; see bench/README.md."""
import argparse
import concurrent.futures
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import yaml

from harness.moto import DUMMY_CREDS, CountingProxy, MotoServer, network, seed_asgs
from harness.util import REPO, answers, free_port, wait_until

JAR = os.path.join(REPO, "inventory-service", "target", "inventory-service.jar")
SCRIPT = os.path.join(REPO, "playbooks", "inventory", "teleport_inventory.py")
REGIONS = ["us-west-2", "eu-central-1", "ap-southeast-2"]
CLUSTER = "teleport.example.com"
LIST_TARGET = 1.3
# The environment the role's unit gives serve (roles/inventory_service/templates/inventory-service.service.j2).
SERVE_ENV = {"MALLOC_ARENA_MAX": "2"}
RSS_TARGET_MIB = 128  # at 900 hosts
RSS_SCALE_MIB = 256  # at 10,000 hosts, by the per-host slope


def role_jvm_opts():
    with open(os.path.join(REPO, "roles", "inventory_service", "defaults", "main.yml")) as f:
        return yaml.safe_load(f)["inventory_service_jvm_opts"].split()


def seed(moto, hosts):
    """hosts Teleport hosts over the regions, and as many unrelated instances; returns per-region counts."""
    per_region = [hosts // len(REGIONS) + (1 if i < hosts % len(REGIONS) else 0) for i in range(len(REGIONS))]
    for n, (region, count) in enumerate(zip(REGIONS, per_region, strict=True), start=1):
        # A /18 per region in 198.18.0.0/15, a /20 (4,091 addresses) per zone. moto launches all of a
        # group's instances in the first subnet it names (autoscaling replace_autoscaling_group_instances),
        # so the Teleport groups have the first zone to themselves and the others go to the other two:
        # room for ~12,000 Teleport hosts and as many others.
        _, subnets = network(moto, region, f"198.18.{n * 64}.0/18", zones=("a", "b", "c"))
        others = subnets[1:]
        auth = max(3, count // 10)
        proxies = count - auth
        seed_asgs(moto, CLUSTER, [
            dict(region=region, name=f"teleport-auth-{region}", role="auth", size=auth, subnets=subnets),
            dict(region=region, name=f"teleport-proxy-a-{region}", role="proxy", size=proxies // 2, subnets=subnets),
            dict(region=region, name=f"teleport-proxy-b-{region}", role="proxy", size=proxies - proxies // 2, subnets=subnets),
        ])
        asg = moto.client("autoscaling", region)
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"web-{region}", LaunchTemplate={"LaunchTemplateName": "teleport"}, MinSize=0,
            MaxSize=count, DesiredCapacity=count // 2, VPCZoneIdentifier=",".join(others),
            Tags=[{"Key": "App", "Value": "web", "PropagateAtLaunch": True}])
        ec2 = moto.client("ec2", region)
        left = count - count // 2
        while left > 0:
            batch = min(left, 100)
            ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=batch, MaxCount=batch,
                              SubnetId=others[(left // 100) % len(others)],
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "App", "Value": "batch"}]}])
            left -= batch
    return per_region


def floor(endpoint):
    """The calls the service cannot do without, by a thin boto3 client; returns (seconds, hosts)."""
    def region_floor(region):
        kw = dict(region_name=region, endpoint_url=endpoint, aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"])
        asg, ec2 = boto3.client("autoscaling", **kw), boto3.client("ec2", **kw)
        ids = []
        for page in asg.get_paginator("describe_auto_scaling_groups").paginate(
                Filters=[{"Name": "tag:TeleportCluster", "Values": [CLUSTER]}], PaginationConfig={"PageSize": 100}):
            for g in page["AutoScalingGroups"]:
                ids += [i["InstanceId"] for i in g["Instances"]]
        found = 0
        for k in range(0, len(ids), 200):
            r = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids[k:k + 200]}])
            found += sum(len(res["Instances"]) for res in r["Reservations"])
        return found
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(REGIONS)) as pool:
        hosts = sum(pool.map(region_floor, REGIONS))
    return time.monotonic() - start, hosts


def timed(cmd, env):
    """Wall seconds, peak RSS (MiB, GNU time) and stdout of one run."""
    with tempfile.NamedTemporaryFile("r") as tf:
        start = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%M"] + cmd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
        return wall, int(tf.read().strip().splitlines()[-1]) / 1024, proc.stdout


def hosts_in(raw):
    return len(json.loads(raw)["_meta"]["hostvars"])


def tally(proxy):
    counts = {}
    for _service, action, _ in list(proxy.calls):
        counts[action] = counts.get(action, 0) + 1
    return counts


def get(url, token, timeout=30):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return time.monotonic() - start, body


def fit(xs, ys):
    """Least-squares line through (xs, ys): (slope, intercept)."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    m = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return m, my - m * mx


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)]


def measure(size, args, moto, proxy, work, with_aws_ec2):
    moto.reset()
    t0 = time.monotonic()
    per_region = seed(moto, size)
    seeded = time.monotonic() - t0
    groups_per_region = 3
    # GetParameter: each region's membership record (SSM), which a region must have to be trusted.
    expect = {"DescribeAutoScalingGroups": len(REGIONS) * math.ceil(groups_per_region / 100),
              "DescribeInstances": sum(math.ceil(n / 200) for n in per_region), "GetParameter": len(REGIONS)}
    env = moto.env(AWS_DEFAULT_REGION=REGIONS[0], ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    env = {k: v for k, v in env.items() if not k.startswith("TELEPORT_INVENTORY_")}
    counted_env = dict(env, AWS_ENDPOINT_URL=proxy.endpoint)
    config = os.path.join(work, "inventory.yml")
    with open(config, "w") as f:
        f.write(f"cluster: {CLUSTER}\nregions: [{', '.join(REGIONS)}]\n")
    r = dict(size=size, seeded=seeded, expect=expect)
    runs_here = args.runs_at.get(size, args.runs)
    r["runs"] = runs_here

    floors = [floor(moto.endpoint) for _ in range(runs_here)]
    r["floor"] = statistics.median(s for s, _ in floors)
    r["floor_hosts"] = floors[0][1]
    proxy.reset()
    floor(proxy.endpoint)
    r["floor_calls"] = tally(proxy)

    # `list` as teleport_inventory.py runs it: its JVM options and class-data-sharing archive.
    jvm = ["java", "-Xlog:disable", "-Xlog:all=warning:stderr", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
    archive = os.path.join(work, "inventory-service.jsa")
    if not os.path.exists(archive):
        timed(jvm + [f"-XX:ArchiveClassesAtExit={archive}", "-jar", JAR, "list", "--config", config], env)
    cmd = jvm + [f"-XX:SharedArchiveFile={archive}", "-jar", JAR, "list", "--config", config]
    runs = [timed(cmd, env) for _ in range(runs_here)]
    r["list"] = statistics.median(w for w, _, _ in runs)
    r["list_rss"] = max(m for _, m, _ in runs)
    r["list_hosts"] = hosts_in(runs[0][2])
    proxy.reset()
    timed(cmd, counted_env)
    r["list_calls"] = tally(proxy)
    # Now, not only at the end: serve may still fail at this size (its heap).
    print(f"    floor {r['floor']:.2f} s, list {r['list']:.2f} s ({r['list'] / r['floor']:.2f}x), list RSS "
          f"{r['list_rss']:.0f} MiB, {r['list_hosts']} hosts listed", flush=True)

    if with_aws_ec2:
        plugin = os.path.join(work, "teleport.aws_ec2.yml")
        with open(plugin, "w") as f:
            f.write(f"""plugin: amazon.aws.aws_ec2
regions: [{', '.join(REGIONS)}]
filters:
  tag:TeleportCluster: {CLUSTER}
  instance-state-name: running
hostnames: [instance-id]
compose:
  ansible_host: private_ip_address
keyed_groups:
  - key: tags.TeleportRole
    prefix: teleport
  - key: placement.region
    prefix: region
""")
        runs = [timed(["ansible-inventory", "-i", plugin, "--list"], dict(env, AWS_ENDPOINT_URL=moto.endpoint))
                for _ in range(runs_here)]
        r["aws_ec2"] = statistics.median(w for w, _, _ in runs)
        r["aws_ec2_rss"] = max(m for _, m, _ in runs)
        r["aws_ec2_hosts"] = hosts_in(runs[0][2])
        proxy.reset()
        timed(["ansible-inventory", "-i", plugin, "--list"], counted_env)
        r["aws_ec2_calls"] = tally(proxy)

    # A warm serve with the role's JVM options, refreshing every 20 s: its second refresh is warm.
    port = free_port()
    token = "bench-token-0123456789abcdef"
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as f:
        f.write(token + "\n")
    os.chmod(token_file, 0o600)
    serve_config = os.path.join(work, "serve.yml")
    with open(serve_config, "w") as f:
        f.write(f"cluster: {CLUSTER}\nregions: [{', '.join(REGIONS)}]\nrefresh:\n  interval: 20s\n"
                f"serve:\n  listen_addr: 127.0.0.1:{port}\n  token_file: {token_file}\n")
    with open(os.path.join(work, f"serve-{size}.log"), "w") as log:
        # stdout too: the JVM says "Terminating due to java.lang.OutOfMemoryError" there.
        serve = subprocess.Popen(["java", *args.serve_jvm_opts, "-jar", JAR, "serve", "--config", serve_config],
                                 env=dict(env, **SERVE_ENV), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    serve_log = os.path.join(work, f"serve-{size}.log")

    def alive():
        if serve.poll() is not None:
            with open(serve_log, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
            meaning = " (OutOfMemoryError under -XX:+ExitOnOutOfMemoryError: raise -Xmx)" if serve.returncode == 3 else ""
            sys.exit(f"bench: serve exited ({serve.returncode}){meaning} at {size} hosts; the end of its log:\n{tail}")
        return True
    # moto's DescribeInstances is worse than linear in a region's instances: ~1 min per refresh at 10,000 hosts.
    refresh_timeout = max(300, size // 10)
    try:
        wait_until("serve /readyz", lambda: alive() and answers(url + "/readyz"), timeout=refresh_timeout)

        def region_seconds():
            """Per region: (refreshes so far, seconds they took in all), from the serve's histogram."""
            _, body = get(url + "/metrics", token)
            out = {}
            for line in body.decode().splitlines():
                for suffix, i in (("_count{", 0), ("_sum{", 1)):
                    if line.startswith("teleport_inventory_region_refresh_duration_seconds" + suffix):
                        region = line.split('region="')[1].split('"')[0]
                        out.setdefault(region, [0.0, 0.0])[i] = float(line.split()[-1])
            return out
        def refreshed(times):
            alive()
            seen = region_seconds()
            return len(seen) == len(REGIONS) and all(c >= times for c, _ in seen.values())
        wait_until("serve's first refresh", lambda: refreshed(1), timeout=refresh_timeout)
        cold = region_seconds()
        wait_until("serve's second refresh", lambda: refreshed(2), timeout=refresh_timeout)
        warm = region_seconds()
        # Regions are discovered in parallel: a refresh lasts as long as its slowest region.
        r["serve_refresh"] = max(warm[k][1] - cold[k][1] for k in warm)
        for _ in range(5):
            get(url + "/v1/inventory", token)
        lat = [get(url + "/v1/inventory", token)[0] for _ in range(args.requests)]
        r["latency_p50"], r["latency_p99"] = statistics.median(lat), percentile(lat, 99)
        r["inventory_bytes"] = len(get(url + "/v1/inventory", token)[1])
        r["peers_bytes"] = len(get(url + "/v1/peers", token)[1])
        # What Ansible and AWX run: the inventory script against the warm serve.
        senv = dict(env, TELEPORT_INVENTORY_URL=url, TELEPORT_INVENTORY_TOKEN_FILE=token_file)
        timed([sys.executable, SCRIPT, "--list"], senv)
        runs = [timed([sys.executable, SCRIPT, "--list"], senv) for _ in range(runs_here)]
        r["script"] = statistics.median(w for w, _, _ in runs)
        r["script_hosts"] = hosts_in(runs[0][2])
        if os.environ.get("BENCH_DETAIL"):  # where serve's RSS is; NMT lines need -XX:NativeMemoryTracking=summary
            nmt = subprocess.run(["jcmd", str(serve.pid), "VM.native_memory", "summary"], capture_output=True, text=True).stdout
            print("".join("    " + line + "\n" for line in nmt.splitlines() if line.startswith(("Total", "-"))), end="")
            with open(f"/proc/{serve.pid}/status") as f:
                print("    threads:", next(line.split()[1] for line in f if line.startswith("Threads")))
            # The live set by class (a full collection first, as after every refresh): what a host costs.
            hist = subprocess.run(["jcmd", str(serve.pid), "GC.class_histogram"], capture_output=True, text=True).stdout
            print("".join("    " + line + "\n" for line in hist.splitlines()[:23]), end="")
        with open(f"/proc/{serve.pid}/status") as f:
            st = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("VmRSS", "VmHWM"))}
        r["serve_rss"], r["serve_hwm"] = st["VmRSS"] / 1024, st["VmHWM"] / 1024
    finally:
        serve.terminate()
        serve.wait(30)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="300,900,3000", help="Teleport hosts per world (default 300,900,3000; add 10000)")
    ap.add_argument("--aws-ec2-sizes", default="900", help="sizes at which aws_ec2 runs too (default 900)")
    ap.add_argument("--runs", type=int, default=3, help="runs per timing; the median is reported (default 3)")
    ap.add_argument("--runs-at", default="", metavar="SIZE=N,...",
                    help="other runs per timing at some sizes, e.g. 10000=1 (moto needs ~1 min per refresh there)")
    ap.add_argument("--requests", type=int, default=200, help="/v1/inventory requests for the latency (default 200)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    args.runs_at = {int(k): int(v) for k, v in (x.split("=") for x in args.runs_at.split(",") if x)}
    aws_ec2_sizes = {int(x) for x in args.aws_ec2_sizes.split(",") if x}
    args.serve_jvm_opts = os.environ.get("BENCH_SERVE_JAVA_OPTS", "").split() or role_jvm_opts()
    for tool in ("ansible-inventory", "java"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not on PATH: run scripts/install-deps.sh and use the repo's .venv")
    if not os.path.isfile(JAR):
        sys.exit(f"bench: {JAR} missing: mvn -B -ntp -DskipTests package")

    work = tempfile.mkdtemp(prefix="inventory-bench-")
    results = []
    stopped = None
    try:
        with MotoServer() as moto:
            proxy = CountingProxy(moto.endpoint).start()
            try:
                for size in sizes:
                    print(f"... {size} hosts", flush=True)
                    results.append(measure(size, args, moto, proxy, work, size in aws_ec2_sizes))
                    r = results[-1]
                    # As it goes: a later size that fails must not take the earlier figures with it.
                    print(f"    seeded in {r['seeded']:.0f} s; floor {r['floor']:.2f} s, list {r['list']:.2f} s "
                          f"({r['list'] / r['floor']:.2f}x), serve RSS {r['serve_rss']:.0f} MiB, peak {r['serve_hwm']:.0f} MiB, "
                          f"warm refresh {r['serve_refresh']:.2f} s", flush=True)
            except (Exception, SystemExit) as e:  # noqa: BLE001 -- reported below with the sizes measured so far
                stopped = f"bench: stopped at {size} hosts: {type(e).__name__}: {str(e)[-1500:]}"
                print(stopped, flush=True)
                if not results:
                    raise
            finally:
                proxy.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    moto_v = subprocess.run([sys.executable, "-c", "import moto; print(moto.__version__)"], capture_output=True, text=True).stdout.strip()
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    print(f"\ninventory-service vs its floor and aws_ec2: {len(REGIONS)} regions, as many unrelated instances as "
          f"Teleport hosts; median of {args.runs} runs"
          + "".join(f", {n} at {k} hosts" for k, n in sorted(args.runs_at.items()) if k in sizes)
          + f"; moto {moto_v}; {java}")
    print(f"serve JVM: {' '.join(args.serve_jvm_opts)}; {' '.join(f'{k}={v}' for k, v in SERVE_ENV.items())}")
    print(f"\n{'hosts':>6} {'script s':>8} {'floor s':>8} {'list s':>7} {'list/floor':>10} {'aws_ec2 s':>9} {'aws_ec2/floor':>13} "
          f"{'list RSS':>8} {'warm refresh s':>14} {'serve RSS':>9} {'HWM':>5} {'inv p50 ms':>10} {'p99 ms':>7} "
          f"{'inventory KiB':>13} {'peers KiB':>9}")
    for r in results:
        a = f"{r['aws_ec2']:>9.2f} {r['aws_ec2'] / r['floor']:>12.2f}x" if "aws_ec2" in r else f"{'-':>9} {'-':>13}"
        print(f"{r['size']:>6} {r['script']:>8.2f} {r['floor']:>8.2f} {r['list']:>7.2f} {r['list'] / r['floor']:>9.2f}x {a} "
              f"{r['list_rss']:>8.0f} {r['serve_refresh']:>14.2f} {r['serve_rss']:>9.0f} {r['serve_hwm']:>5.0f} "
              f"{1000 * r['latency_p50']:>10.1f} {1000 * r['latency_p99']:>7.1f} {r['inventory_bytes'] / 1024:>13.0f} "
              f"{r['peers_bytes'] / 1024:>9.1f}")
    print("\nAWS requests per refresh (CountingProxy), against the target of one DescribeAutoScalingGroups page per 100 "
          "groups, one DescribeInstances call per 200 instances and one GetParameter per region, nothing else:")
    for r in results:
        for who in ("floor", "list", "aws_ec2"):
            if f"{who}_calls" not in r:
                continue
            calls = r[f"{who}_calls"]
            line = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
            verdict = ""
            if who == "list":
                verdict = "  met" if calls == r["expect"] else f"  NOT met (expected {r['expect']})"
            print(f"  {r['size']:>6} hosts {who:<8} {line}{verdict}")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        f = b["size"] / a["size"]
        print(f"\ngrowth {a['size']} -> {b['size']} hosts (x{f:.1f}): list x{b['list'] / a['list']:.1f}, floor "
              f"x{b['floor'] / a['floor']:.1f}, serve refresh x{b['serve_refresh'] / a['serve_refresh']:.1f}, serve RSS "
              f"x{b['serve_rss'] / a['serve_rss']:.2f} (+{(b['serve_rss'] - a['serve_rss']) * 1024 / (b['size'] - a['size']):.1f} "
              f"KiB/host), /v1/inventory p50 x{b['latency_p50'] / a['latency_p50']:.1f}, /v1/peers "
              f"x{b['peers_bytes'] / a['peers_bytes']:.1f} ({b['peers_bytes'] / b['size']:.0f} B/host)")
    if len(results) >= 3:
        xs = [r["size"] for r in results]
        print(f"\nper-host slope (least squares over {', '.join(map(str, xs))} hosts; intercept at 0 hosts):")
        for label, key, scale, unit in (("serve RSS", "serve_rss", 1024, "KiB/host"), ("serve peak RSS (VmHWM)", "serve_hwm", 1024, "KiB/host"),
                                        ("list", "list", 1000, "ms/host"), ("floor", "floor", 1000, "ms/host"),
                                        ("serve warm refresh", "serve_refresh", 1000, "ms/host")):
            m, c = fit(xs, [r[key] for r in results])
            extra = ""
            if key in ("serve_rss", "serve_hwm"):
                at = c + m * 10000
                extra = (f"   -> {at:.0f} MiB at 10,000 hosts (target < {RSS_SCALE_MIB} MiB: "
                         f"{'met' if at < RSS_SCALE_MIB else 'NOT met'})")
            print(f"  {label:<24} {m * scale:8.3f} {unit:<9} intercept {c:8.2f}{extra}")
    print(f"\nlist / floor at every size (target <= {LIST_TARGET}):")
    for r in results:
        v = r["list"] / r["floor"]
        print(f"  {r['size']:>6} hosts {v:6.2f}x  {'met' if v <= LIST_TARGET else 'NOT met'}")
    for r in results:
        if r["size"] == 900:
            print(f"\ntargets at 900 hosts{'':<28} {'measured':>9} {'target':>8} {'ratio':>6}")
            rows = [("list / floor", r["list"] / r["floor"], LIST_TARGET),
                    ("serve RSS (MiB, after the requests)", r["serve_rss"], RSS_TARGET_MIB),
                    ("serve peak RSS (MiB, VmHWM)", r["serve_hwm"], RSS_TARGET_MIB)]
            if "aws_ec2" in r:
                rows.insert(1, ("aws_ec2 / floor (the anchor, no target)", r["aws_ec2"] / r["floor"], None))
            for label, v, t in rows:
                if t is None:
                    print(f"  {label:<44} {v:>9.2f}")
                else:
                    print(f"  {label:<44} {v:>9.2f} {t:>8.2f} {v / t:>6.2f}  {'met' if v <= t else 'NOT met'}")
            if "aws_ec2" in r:
                speedup = r["aws_ec2"] / r["script"]
                print(f"  {'aws_ec2 / inventory script on warm serve':<44} {speedup:>9.1f} {'>= 20':>8} {'':>6}  "
                      f"{'met' if speedup >= 20 else 'NOT met'}")
            print(f"  hosts listed: floor {r['floor_hosts']}, list {r['list_hosts']}"
                  + (f", aws_ec2 {r['aws_ec2_hosts']} (every running tagged instance)" if "aws_ec2" in r else ""))
    if stopped:
        sys.exit(stopped)


if __name__ == "__main__":
    main()
