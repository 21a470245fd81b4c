#!/usr/bin/env python3
"""site.yml's second run on a lab of real hosts (a measurement, not a test): this checkout's
Ansible beside variants, in the same run, on the same hosts.

  bench/site-second-run-lab.sh                                   # this vs ansible-core 2.18.19, 2 rounds
  bench/site-second-run-lab.sh --variants this,core-2.18.19,facts --rounds 3
  bench/site-second-run-lab.sh --proxies 4                       # 1 auth + 4 proxies (a slope)

A lab (`sandbox/sandbox lab`: systemd-nspawn hosts from the sandbox's Debian root, on the bridge
198.18.231.0/24) of one auth and --proxies proxies in one region runs the Teleport double, joined
with a token, with the node-agent and its HTTPS pair: site.yml converges it once, then every
variant runs site.yml again in each round (the order alternates, so a load change on the shared
machine falls on all), each run must end changed=0. For each: wall time, tasks (ok + changed +
skipped over every host), and remote commands (invocations of ssh, sftp and scp, counted by
wrappers set as the connection's executables: one per module run over the multiplexed
connection). The roles' serial defaults (auth one at a time, proxies half at a time).

Variants: `this` (the repository's ansible.cfg and ansible-core), `core-X.Y.Z` (ansible-core
X.Y.Z alone in build/bench, with this venv's collections: the anchor of an upgrade), `facts`
(gathering = smart with a jsonfile cache: facts gathered once per host per hour), `ref-<commit>`
(the playbooks, roles and ansible.cfg of an earlier commit, checked out into the bench's work
directory, with this venv: the anchor of a change to the roles; both must leave the same files,
so each run after the other must still end changed=0)."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from harness import lab, pki
from harness.ansible import REPO, anchor_core, anchor_env, ansible_env, run_playbook
from harness.site import site_vars
from harness.util import HarnessError

NAME, CIDR, CLUSTER = "benchsite", "198.18.231.0/24", "lab.teleport.test"


def variant_env(name, work):
    """(bin_dir, env, playbooks directory or None for this checkout's) of a variant."""
    base = ansible_env(ssh="unchecked")
    if name == "this":
        return None, base, None
    if name.startswith("ref-"):
        ref = name.removeprefix("ref-")
        if not re.fullmatch(r"[0-9a-f]{7,40}", ref):
            raise HarnessError(f"--variants: {name!r}: ref- takes a commit id (7 to 40 hex digits)")
        tree = os.path.join(work, f"ref-{ref}")
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "-q", tree, ref], check=True)
        return None, {**base, "ANSIBLE_CONFIG": os.path.join(tree, "ansible.cfg")}, os.path.join(tree, "playbooks")
    if name.startswith("core-"):
        return anchor_core(name.removeprefix("core-")), anchor_env(base), None
    if name == "facts":
        return None, {**base, "ANSIBLE_GATHERING": "smart", "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
                      "ANSIBLE_CACHE_PLUGIN_CONNECTION": os.path.join(work, "facts"), "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600"}, None
    raise HarnessError(f"--variants: unknown variant {name!r} (this, core-X.Y.Z, facts, ref-<commit>)")


def counting(work, env, label):
    """env with ssh, sftp and scp wrapped to count their invocations into a file; returns (env, file)."""
    counter = os.path.join(work, f"remote-{label}.count")
    open(counter, "w").close()
    env = dict(env)
    for tool in ("ssh", "sftp", "scp"):
        wrapper = os.path.join(work, f"{tool}-{label}")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\necho {tool} >> '{counter}'\nexec {tool} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        env[f"ANSIBLE_{tool.upper()}_EXECUTABLE"] = wrapper
    return env, counter


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="this,core-2.18.19")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--proxies", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="leave the lab up (sandbox/sandbox lab down benchsite)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: a lab needs root (systemd-nspawn, a bridge)")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    work = tempfile.mkdtemp(prefix="site-second-run-lab-")
    envs = {n: variant_env(n, work) for n in names}  # an unknown variant fails before the lab boots
    lab.down(NAME)
    state = lab.up(NAME, 1 + args.proxies, CIDR)
    try:
        auth, *proxies = lab.hosts(state)
        inventory = lab.inventory(CLUSTER, state, auth, [(p, "lab-1", {}) for p in proxies])
        tls = os.path.join(work, "tls")
        pki.issue(tls, [CLUSTER, "*." + CLUSTER])
        extra = site_vars(CLUSTER, prefix="lab", auth_server=f"{auth.ip}:3025", tls_dir=tls, edition="enterprise",
                          license=pki.test_license(os.path.join(work, "license.pem")),
                          teleport_join_method="token", teleport_join_token="lab-join-token-not-a-secret",
                          cluster_config_enabled=False, teleport_health_timeout=60,
                          node_agent_peers_probe_interval="2s", node_agent_peers_probe_timeout="1s",
                          node_agent_peers_refresh_interval="2s")
        t0 = time.monotonic()
        first = run_playbook("site.yml", inventory, extra, env=ansible_env(ssh="unchecked"), log=os.path.join(work, "converge.log"))
        if first.rc != 0:
            raise HarnessError(f"the first converge failed (exit {first.rc}); log {first.log}:\n{first.tail(3000)}")
        print(f"lab: 1 auth + {args.proxies} proxies converged in {time.monotonic() - t0:.0f} s; logs in {work}", flush=True)
        rows = {n: [] for n in names}
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else list(reversed(names))):
                bin_dir, env, books = envs[name]
                label = f"{name}-{r + 1}"
                env, counter = counting(work, env, label)
                book = os.path.join(books, "site.yml") if books else "site.yml"
                run = run_playbook(book, inventory, extra, env=env, bin_dir=bin_dir, log=os.path.join(work, f"{label}.log"))
                with open(counter) as f:
                    remote = sum(1 for _ in f)
                changed = sum(v.get("changed", 0) for v in run.recap.values())
                tasks = sum(v.get("ok", 0) + v.get("changed", 0) + v.get("skipped", 0) for v in run.recap.values())
                state_ = "ok" if run.rc == 0 and changed == 0 else f"FAILED (exit {run.rc}, changed={changed}; {run.log})"
                print(f"{label:<20} {run.seconds:7.1f} s  {tasks:4d} tasks  {remote:4d} remote commands  {state_}", flush=True)
                if state_ == "ok":
                    rows[name].append((run.seconds, tasks, remote))
        print(f"\nsite.yml's second run, 1 auth + {args.proxies} proxies, medians over {args.rounds} rounds")
        base = statistics.median(w for w, _, _ in rows["this"]) if rows.get("this") else None
        print(f"{'variant':<16} {'wall s':>8} {'tasks':>6} {'remote':>7} {'this/variant':>13}")
        for name in names:
            if not rows[name]:
                print(f"{name:<16} {'failed':>8}")
                continue
            wall = statistics.median(w for w, _, _ in rows[name])
            tasks = statistics.median(t for _, t, _ in rows[name])
            remote = statistics.median(c for _, _, c in rows[name])
            print(f"{name:<16} {wall:8.1f} {tasks:6.0f} {remote:7.0f} {(base / wall if base else float('nan')):13.2f}")
    finally:
        if not args.keep:
            lab.down(NAME)
        for name in names:
            if name.startswith("ref-"):
                subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", os.path.join(work, name)], check=False)


if __name__ == "__main__":
    main()
