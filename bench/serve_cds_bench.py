#!/usr/bin/env python3
"""inventory-service `serve` with an application class-data-sharing archive beside the role's
settings (a measurement, not a test).

One moto world (bench/inventory_bench.py's seed), then `serve` with each variant in turn, interleaved
over --rounds: the role's `inventory_service_jvm_opts` (the anchor), and the same with
`-Xshare:off` replaced by an AppCDS archive (bytecode verification on in every variant):
  dynamic  -XX:SharedArchiveFile= an archive that a first serve run wrote at exit with
           -XX:ArchiveClassesAtExit (on top of the JDK's own archive);
  static   -XX:SharedArchiveFile= an archive from -Xshare:dump over the class list
           (-XX:DumpLoadedClassList) of a first serve run.
Each run: two refreshes, --requests /v1/inventory requests, then RSS, its peak (VmHWM), the classes
loaded, and how much of the RSS is the mapped archives. Run by bench/serve-cds-bench.sh; see
bench/README.md."""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

import inventory_bench as ib

from harness.moto import MotoServer
from harness.util import answers, free_port, wait_until


def serve(opts, moto, work, requests, label):
    """One serve run: {rss, hwm, classes, archive_rss} in MiB (classes: a count)."""
    env = {k: v for k, v in moto.env(AWS_DEFAULT_REGION=ib.REGIONS[0]).items() if not k.startswith("TELEPORT_INVENTORY_")}
    port, token = free_port(), "bench-token-0123456789abcdef"
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as f:
        f.write(token + "\n")
    os.chmod(token_file, 0o600)
    config = os.path.join(work, "serve.yml")
    with open(config, "w") as f:
        f.write(f"cluster: {ib.CLUSTER}\nregions: [{', '.join(ib.REGIONS)}]\nrefresh:\n  interval: 20s\n"
                f"serve:\n  listen_addr: 127.0.0.1:{port}\n  token_file: {token_file}\n")
    log_path = os.path.join(work, f"serve-{label}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["java", *opts, "-jar", ib.JAR, "serve", "--config", config],
                                env=dict(env, **ib.SERVE_ENV), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def alive():
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                sys.exit(f"bench: serve ({label}) exited ({proc.returncode}):\n{''.join(f.readlines()[-15:])}")
        return True

    def refreshes():
        _, body = ib.get(url + "/metrics", token)
        return [float(line.split()[-1]) for line in body.decode().splitlines()
                if line.startswith("teleport_inventory_region_refresh_duration_seconds_count{")]
    try:
        wait_until("serve /readyz", lambda: alive() and answers(url + "/readyz"), timeout=300)
        wait_until("serve's second refresh", lambda: alive() and len(c := refreshes()) == len(ib.REGIONS) and min(c) >= 2,
                   timeout=300)
        for _ in range(requests):
            ib.get(url + "/v1/inventory", token)
        with open(f"/proc/{proc.pid}/status") as f:
            st = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("VmRSS", "VmHWM"))}
        archive_kib, mapping = 0, ""
        with open(f"/proc/{proc.pid}/smaps") as f:
            for line in f:
                head = line.split()
                if not head[0].endswith(":"):
                    mapping = head[5] if len(head) > 5 else ""
                elif head[0] == "Rss:" and mapping.endswith(".jsa"):
                    archive_kib += int(head[1])
        stats = subprocess.run(["jcmd", str(proc.pid), "VM.classloader_stats"], capture_output=True, text=True).stdout
        # "Total = <loaders> <classes> <chunk bytes> <block bytes>"
        total = next((line.split() for line in stats.splitlines() if line.startswith("Total =")), ["", "", "0", "0"])
        return dict(rss=st["VmRSS"] / 1024, hwm=st["VmHWM"] / 1024, classes=int(total[3]), archive_rss=archive_kib / 1024)
    finally:
        proc.send_signal(signal.SIGTERM)  # the JVM writes -XX:ArchiveClassesAtExit's archive on this exit
        proc.wait(120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=900, help="Teleport hosts in the world (default 900)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of all variants, interleaved (default 2)")
    ap.add_argument("--requests", type=int, default=200, help="/v1/inventory requests before measuring (default 200)")
    args = ap.parse_args()
    if not os.path.isfile(ib.JAR):
        sys.exit(f"bench: {ib.JAR} missing: mvn -B -ntp -DskipTests package")
    role = ib.role_jvm_opts()
    shared = [o for o in role if not o.startswith("-Xshare")]
    work = tempfile.mkdtemp(prefix="serve-cds-bench-")
    dynamic, static, classlist = (os.path.join(work, n) for n in ("dynamic.jsa", "static.jsa", "classes.lst"))
    variants = {"role (anchor)": role, "dynamic AppCDS": shared + [f"-XX:SharedArchiveFile={dynamic}"],
                "static AppCDS": shared + [f"-XX:SharedArchiveFile={static}"]}
    results = {name: [] for name in variants}
    try:
        with MotoServer() as moto:
            ib.seed(moto, args.hosts)
            # The archives, as a role would write them on the host: from a run of serve itself.
            print("... writing the archives from two training runs of serve", flush=True)
            serve(shared + [f"-XX:ArchiveClassesAtExit={dynamic}"], moto, work, 5, "train-dynamic")
            serve(role + [f"-XX:DumpLoadedClassList={classlist}"], moto, work, 5, "train-static")
            subprocess.run(["java", "-Xshare:dump", f"-XX:SharedClassListFile={classlist}", f"-XX:SharedArchiveFile={static}",
                            "-cp", ib.JAR], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for n in range(args.rounds):
                for name, opts in variants.items():
                    results[name].append(serve(opts, moto, work, args.requests, f"{n}-{name.split()[0]}"))
                    r = results[name][-1]
                    print(f"    round {n + 1} {name:<16} RSS {r['rss']:.1f} MiB, peak {r['hwm']:.1f} MiB", flush=True)
            sizes = {p: os.path.getsize(p) / 2**20 for p in (dynamic, static)}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    print(f"\nserve at {args.hosts} hosts, {args.requests} /v1/inventory requests after two refreshes, {args.rounds} rounds "
          f"interleaved (median); {java}; bytecode verification on in every variant")
    print(f"archives: dynamic {sizes[dynamic]:.0f} MiB, static {sizes[static]:.0f} MiB")
    anchor = statistics.median(r["rss"] for r in results["role (anchor)"])
    print(f"\n{'variant':<16} {'RSS MiB':>8} {'peak MiB':>8} {'RSS/role':>8} {'classes':>8} {'of RSS: mapped archives MiB':>28} "
          f"{'<= ' + str(ib.RSS_TARGET_MIB) + ' MiB':>10}")
    for name, rs in results.items():
        rss = statistics.median(r["rss"] for r in rs)
        print(f"{name:<16} {rss:>8.1f} {statistics.median(r['hwm'] for r in rs):>8.1f} {rss / anchor:>8.2f} "
              f"{statistics.median(r['classes'] for r in rs):>8.0f} {statistics.median(r['archive_rss'] for r in rs):>28.1f} "
              f"{'met' if rss <= ib.RSS_TARGET_MIB else 'NOT met':>10}")


if __name__ == "__main__":
    main()
