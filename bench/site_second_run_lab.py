#!/usr/bin/env python3
"""site.yml on a lab of real hosts (a measurement, not a test): its second run, its check mode and a
rolling restart of the region's proxies, by this checkout's Ansible beside variants, in the same run,
on the same hosts.

  bench/site-second-run-lab.sh                                   # this vs ansible-core 2.18.19, 2 rounds
  bench/site-second-run-lab.sh --ops second --rounds 3           # the second run only
  bench/site-second-run-lab.sh --variants this,core-2.18.19,facts --rounds 3
  bench/site-second-run-lab.sh --proxies 2,4                     # two labs: the per-host slope

A lab (`sandbox/sandbox lab`: systemd-nspawn hosts from the sandbox's Debian root, on the bridge
198.18.231.0/24) of one auth and --proxies proxies in one region runs the Teleport double, joined
with a token, with the node-agent and its HTTPS pair: site.yml converges it once, then every
variant runs each operation (--ops) in each round (the order of variants alternates, so a load change
on the shared machine falls on all): `second` (site.yml again) and `check` (site.yml --check) must end
changed=0; `restart` runs site.yml with a unit setting changed on every proxy (teleport_limit_nofile,
flipped between two values), so each proxy is drained, restarted and gated in its serial batch, and
must end with every proxy changed and the auth host not. For each: wall time, the five slowest tasks
(the profile_tasks callback), tasks (ok + changed +
skipped over every host), remote commands (invocations of ssh, sftp and scp, counted by
wrappers set as the connection's executables: one per module run over the multiplexed
connection), and SSH connections (the logins each host's sshd accepted during the run: how often
the multiplexed connection was opened anew). With several --proxies values, one lab per size and
the per-host slope between the smallest and the largest. The roles' serial defaults (auth one at a time, proxies half at a time).

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


OPS = {
    "second": "site.yml again (changed=0)",
    "check": "site.yml --check (changed=0)",
    "restart": "a rolling restart of the region's proxies (a unit setting changed on them: drained, restarted, gated)",
}
# The unit setting the rolling restart flips on the proxies (roles/teleport: a unit change restarts, serially).
RESTART_VAR, RESTART_VALUES = "teleport_limit_nofile", (524288, 524287)
PROFILE_LINE = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$")


def slowest(log, n=5):
    """The n slowest tasks of a run, from the profile_tasks callback's summary at the end of its log."""
    tasks = []
    with open(log, errors="replace") as f:
        for line in f:
            m = PROFILE_LINE.match(line.rstrip())
            if m:
                tasks.append((float(m.group(2)), m.group(1).strip()))
    return sorted(tasks, reverse=True)[:n]


def measure(args, names, envs, work, n_proxies, ops):
    """One lab of 1 auth + n_proxies proxies: converged once, then each operation by every variant per
    round; returns {(variant, op): [(wall s, tasks, remote commands, SSH connections accepted on the hosts)]}."""
    lab.down(NAME)
    state = lab.up(NAME, 1 + n_proxies, CIDR)
    try:
        auth, *proxies = lab.hosts(state)
        hosts = [auth, *proxies]
        inventories = [lab.inventory(CLUSTER, state, auth, [(p, "lab-1", {RESTART_VAR: v}) for p in proxies])
                       for v in RESTART_VALUES]
        current = 0  # which inventory the hosts were last converged with
        tls = os.path.join(work, "tls")
        if not os.path.isdir(tls):
            pki.issue(tls, [CLUSTER, "*." + CLUSTER])
        extra = site_vars(CLUSTER, prefix="lab", auth_server=f"{auth.ip}:3025", tls_dir=tls, edition="enterprise",
                          license=pki.test_license(os.path.join(work, "license.pem")),
                          teleport_join_method="token", teleport_join_token="lab-join-token-not-a-secret",
                          cluster_config_enabled=False, teleport_health_timeout=60,
                          node_agent_peers_probe_interval="2s", node_agent_peers_probe_timeout="1s",
                          node_agent_peers_refresh_interval="2s")
        t0 = time.monotonic()
        first = run_playbook("site.yml", inventories[current], extra, env=ansible_env(ssh="unchecked"),
                             log=os.path.join(work, f"converge-{n_proxies}.log"))
        if first.rc != 0:
            raise HarnessError(f"the first converge failed (exit {first.rc}); log {first.log}:\n{first.tail(3000)}")
        print(f"lab: 1 auth + {n_proxies} proxies converged in {time.monotonic() - t0:.0f} s; logs in {work}", flush=True)
        rows = {(n, op): [] for n in names for op in ops}
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else list(reversed(names))):
                for op in ops:
                    bin_dir, env, books = envs[name]
                    label = f"{name}-{op}-{1 + n_proxies}h-{r + 1}"
                    env, counter = counting(work, env, label)
                    env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
                    book = os.path.join(books, "site.yml") if books else "site.yml"
                    target = 1 - current if op == "restart" else current
                    flags = ["--check"] if op == "check" else []
                    # SSH connections the hosts accepted during the run (sshd's journal): each count is itself one
                    # login, so the run's own are the difference less one.
                    before = {h.machine: h.ssh_logins() for h in hosts}
                    run = run_playbook(book, inventories[target], extra, *flags, env=env, bin_dir=bin_dir,
                                       log=os.path.join(work, f"{label}.log"))
                    accepted = sum(h.ssh_logins() - before[h.machine] - 1 for h in hosts)
                    with open(counter) as f:
                        remote = sum(1 for _ in f)
                    changed = {h: v.get("changed", 0) for h, v in run.recap.items()}
                    tasks = sum(v.get("ok", 0) + v.get("changed", 0) + v.get("skipped", 0) for v in run.recap.values())
                    if op == "restart":
                        # Every proxy restarted (changed), the auth host untouched.
                        good = run.rc == 0 and changed.get("auth-0", 0) == 0 and all(
                            changed.get(f"proxy-{n}", 0) > 0 for n in range(n_proxies))
                    else:
                        good = run.rc == 0 and sum(changed.values()) == 0
                    if run.rc == 0 and op == "restart":
                        current = target
                    state_ = "ok" if good else f"FAILED (exit {run.rc}, changed={changed}; {run.log})"
                    print(f"{label:<34} {run.seconds:7.1f} s  {tasks:4d} tasks  {remote:4d} remote commands  "
                          f"{accepted:3d} SSH connections  {state_}", flush=True)
                    for seconds, task in slowest(run.log):
                        print(f"    {seconds:6.2f} s  {task}")
                    if good:
                        rows[(name, op)].append((run.seconds, tasks, remote, accepted))
        return rows
    finally:
        if not args.keep:
            lab.down(NAME)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="this,core-2.18.19")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--proxies", default="2",
                    help="proxies per lab, one lab per value: 2,4 gives the per-host slope (default 2)")
    ap.add_argument("--ops", default=",".join(OPS), help="operations, in order (default: " + ", ".join(OPS) + ")")
    ap.add_argument("--keep", action="store_true", help="leave the (last) lab up (sandbox/sandbox lab down benchsite)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: a lab needs root (systemd-nspawn, a bridge)")
    try:
        sizes = sorted({int(p) for p in args.proxies.split(",") if p.strip()})
    except ValueError:
        sys.exit(f"bench: --proxies {args.proxies!r}: a comma-separated list of proxy counts, for example 2,4")
    if not sizes or min(sizes) < 1:
        sys.exit("bench: --proxies: at least one lab of at least one proxy")
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    if not ops or set(ops) - set(OPS):
        sys.exit(f"bench: --ops {args.ops!r}: a comma-separated list of " + ", ".join(OPS))
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    work = tempfile.mkdtemp(prefix="site-second-run-lab-")
    envs = {n: variant_env(n, work) for n in names}  # an unknown variant fails before the lab boots
    medians = {}  # (variant, op, hosts) -> (wall, tasks, remote, connections)
    try:
        for n_proxies in sizes:
            rows = measure(args, names, envs, work, n_proxies, ops)
            hosts = 1 + n_proxies
            for op in ops:
                print(f"\n{OPS[op]}, 1 auth + {n_proxies} proxies, medians over {args.rounds} rounds")
                base = statistics.median(r[0] for r in rows[("this", op)]) if rows.get(("this", op)) else None
                print(f"{'variant':<16} {'wall s':>8} {'tasks':>6} {'remote':>7} {'SSH conn':>9} {'this/variant':>13}")
                for name in names:
                    if not rows[(name, op)]:
                        print(f"{name:<16} {'failed':>8}")
                        continue
                    m = tuple(statistics.median(r[i] for r in rows[(name, op)]) for i in range(4))
                    medians[(name, op, hosts)] = m
                    print(f"{name:<16} {m[0]:8.1f} {m[1]:6.0f} {m[2]:7.0f} {m[3]:9.0f} "
                          f"{(base / m[0] if base else float('nan')):13.2f}")
            print(flush=True)
        if len(sizes) > 1:
            lo, hi = 1 + sizes[0], 1 + sizes[-1]
            print(f"per-host slope, {lo} -> {hi} hosts (the difference over {hi - lo} more hosts)")
            print(f"{'operation':<9} {'variant':<16} {'wall s/host':>12} {'tasks/host':>11} {'remote/host':>12} "
                  f"{'SSH conn/host':>14}")
            for op in ops:
                for name in names:
                    if (name, op, lo) in medians and (name, op, hi) in medians:
                        d = [(medians[(name, op, hi)][i] - medians[(name, op, lo)][i]) / (hi - lo) for i in range(4)]
                        print(f"{op:<9} {name:<16} {d[0]:12.2f} {d[1]:11.1f} {d[2]:12.1f} {d[3]:14.1f}")
    finally:
        for name in names:
            if name.startswith("ref-"):
                subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", os.path.join(work, name)], check=False)


if __name__ == "__main__":
    main()
