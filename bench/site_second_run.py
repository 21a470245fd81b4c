#!/usr/bin/env python3
"""site.yml's second run on a kept sandbox (a measurement, not a test).

  flock /tmp/teleport-sandbox.lock sandbox/sandbox test --keep     # once: up, site.yml twice, checks
  .venv/bin/python bench/site_second_run.py [--runs 2] [--variants baseline,facts,...]
  sandbox/sandbox down

Runs site.yml again, exactly as the sandbox does (harness/sandbox/plays.py: same inventory script,
extra vars and environment), once per variant and run, and prints wall time, tasks run (ok + changed
+ skipped over all hosts, from the recap), SSH round trips (invocations of ssh, counted by a wrapper
set as the connection's ssh executable; one per remote command over the multiplexed connection) and
changed (every run must be changed=0). A variant only adds ANSIBLE_* settings to that environment."""
import argparse
import os
import statistics
import sys
import tempfile

from harness.ansible import run_playbook
from harness.sandbox import converge, plays
from harness.sandbox.state import load_state


def variants(work):
    cache = os.path.join(work, "facts")
    return {
        "baseline": {},
        # Facts from the previous run, for 1 h: `gather_facts` becomes a cache read per host.
        "facts": {"ANSIBLE_GATHERING": "smart", "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
                  "ANSIBLE_CACHE_PLUGIN_CONNECTION": cache, "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600"},
        "free": {"ANSIBLE_STRATEGY": "free"},
        "facts+persist": {"ANSIBLE_GATHERING": "smart", "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
                          "ANSIBLE_CACHE_PLUGIN_CONNECTION": cache, "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
                          "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=600s -o UserKnownHostsFile=/dev/null "
                                              "-o StrictHostKeyChecking=no"},
    }


def run(state, env_extra, work, label):
    counter = os.path.join(work, f"ssh-{label}.count")
    wrappers = {}
    for tool in ("ssh", "sftp", "scp"):  # file transfers go over sftp (or scp), also multiplexed
        wrappers[tool] = os.path.join(work, f"{tool}-counting")
        with open(wrappers[tool], "w") as f:
            f.write(f"#!/bin/sh\necho {tool} >> '{counter}'\nexec {tool} \"$@\"\n")
        os.chmod(wrappers[tool], 0o755)
    open(counter, "w").close()
    env = plays.hosts_env(state)
    env.update(env_extra, ANSIBLE_SSH_EXECUTABLE=wrappers["ssh"], ANSIBLE_SFTP_EXECUTABLE=wrappers["sftp"],
               ANSIBLE_SCP_EXECUTABLE=wrappers["scp"])
    # Its log is kept: the work directory is not removed.
    run = run_playbook(converge.SITE, plays.INVENTORY_SCRIPT, converge.VARS_FILE, env=env,
                       log=os.path.join(work, f"site-{label}.log"))
    if run.rc != 0:
        failed = [line for line in run.text.splitlines() if line.startswith(("fatal:", "failed:", "TASK ["))]
        fatal = [i for i, line in enumerate(failed) if not line.startswith("TASK [")]
        where = "\n".join(failed[max(0, fatal[0] - 1):fatal[0] + 3]) if fatal else run.tail(2000)
        return dict(wall=run.seconds, failed=f"exit {run.rc}, log {run.log}:\n{where[:1500]}")
    with open(counter) as f:
        ssh = sum(1 for _ in f)
    recap = run.recap.values()
    return dict(wall=run.seconds, tasks=sum(r["ok"] + r["changed"] + r["skipped"] for r in recap),
                changed=sum(r["changed"] for r in recap), ssh=ssh, hosts=len(recap))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--variants", default="baseline,facts,free")
    args = ap.parse_args()
    state = load_state()
    if not state:
        sys.exit("bench: no sandbox is up: flock /tmp/teleport-sandbox.lock sandbox/sandbox test --keep")
    work = tempfile.mkdtemp(prefix="site-second-run-")
    table = variants(work)
    rows = []
    names = args.variants.split(",")
    for name in names:
        if name.startswith("facts"):
            run(state, table[name], work, name + "-warm")  # fills the cache
    # Rounds of every variant in turn, so that the load of a shared host falls on all of them alike.
    for i in range(args.runs):
        for name in names:
            r = run(state, table[name], work, f"{name}-{i}")
            if "failed" in r:
                print(f"{name} run {i + 1}: site.yml FAILED after {r['wall']:.1f} s ({r['failed']})", flush=True)
                continue
            print(f"{name} run {i + 1}: {r['wall']:.1f} s, {r['tasks']} tasks, {r['ssh']} ssh, changed={r['changed']}", flush=True)
            rows.append((name, i, r))
    names = [n for n in names if any(n == m for m, _, _ in rows)]
    print(f"\n{'variant':<15} {'run':>3} {'wall s':>7} {'tasks':>6} {'ssh round trips':>15} {'changed':>7} {'vs baseline':>11}")
    base = statistics.median(r["wall"] for n, _, r in rows if n == "baseline") if any(n == "baseline" for n, _, _ in rows) else None
    for name, i, r in rows:
        vs = f"{r['wall'] / base:.2f}" if base else "-"
        print(f"{name:<15} {i + 1:>3} {r['wall']:>7.1f} {r['tasks']:>6} {r['ssh']:>15} {r['changed']:>7} {vs:>11}")


if __name__ == "__main__":
    main()
