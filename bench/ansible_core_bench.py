#!/usr/bin/env python3
"""This checkout's ansible-core beside another checkout's (the anchor), same commands, interleaved.

Each tree runs with its own .venv and ansible.cfg; per case and run the anchor and this tree
alternate which goes first, so a load change on the shared machine hits both. Cases:
  syntax          ansible-playbook --syntax-check of every playbooks/*.yml (parsing, imports, roles)
  render          tests/ansible/render_teleport.yml for every sample host of tests/ansible/test_render.py
                  (the teleport role's preflight, vars and teleport.yaml template; no validation)
  pytest-ansible  python -m pytest tests/ansible (what tests/suites/20-ansible-static.sh runs last)
  aws             tests/suites/50-aws.sh (the AWS playbooks against moto, four files side by side)
For each: wall time and CPU time (user+sys of every child process), min and median over --runs,
and this tree's median over the anchor's. Run by bench/ansible-core-bench.sh; see bench/README.md."""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from harness.ansible import run_playbook

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = ("syntax", "render", "pytest-ansible", "aws")


def render_inventory(tree, out):
    """tests/ansible/test_render.py's inventory (this checkout's, so both trees render the same
    hosts), run with the tree's own Python."""
    # Imported where it lives (a script's directory is its first import path): it needs pytest and the
    # test helpers, which only the render case does.
    inventory = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, sys, test_render; print(json.dumps(test_render.render_inventory(sys.argv[1])))",
         out], cwd=os.path.join(REPO, "tests", "ansible"), capture_output=True, text=True, check=True).stdout)
    inventory["all"]["vars"]["ansible_python_interpreter"] = os.path.join(tree, ".venv", "bin", "python")
    return inventory


def tree_env(tree):
    env = dict(os.environ)
    env.update(PATH=os.path.join(tree, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
               ANSIBLE_CONFIG=os.path.join(tree, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("VIRTUAL_ENV", None)
    return env


def command(case, tree, work):
    """What a case runs in a tree: ("playbook", book, inventory, args) for ansible-playbook, which the
    harness's runner starts with the tree's own Ansible (run_playbook's bin_dir and cwd), or a command."""
    py = os.path.join(tree, ".venv", "bin", "python")
    if case == "syntax":
        playbooks = sorted(os.path.join("playbooks", f) for f in os.listdir(os.path.join(tree, "playbooks")) if f.endswith(".yml"))
        return ("playbook", playbooks, "localhost,", ["--syntax-check"])
    if case == "render":
        out = os.path.join(work, "render-out")
        os.makedirs(out, exist_ok=True)
        inv = os.path.join(work, "render-inventory.json")
        with open(inv, "w") as f:
            json.dump(render_inventory(tree, out), f)
        return ("playbook", os.path.join("tests", "ansible", "render_teleport.yml"), inv, [])
    if case == "pytest-ansible":
        return [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/ansible"]
    if case == "aws":
        return ["bash", "tests/suites/50-aws.sh"]
    raise ValueError(case)


def timed(cmd, tree, log):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    if isinstance(cmd, tuple):
        _, book, inventory, args = cmd
        rc = run_playbook(book, inventory, None, *args, log=log, env=tree_env(tree), cwd=tree,
                          bin_dir=os.path.join(tree, ".venv", "bin"), timeout=3600).rc
    else:
        with open(log, "w") as f:
            rc = subprocess.run(cmd, cwd=tree, env=tree_env(tree), stdout=f, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def version(tree):
    out = subprocess.run([os.path.join(tree, ".venv", "bin", "ansible"), "--version"], env=tree_env(tree),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    py = next((line.split("=", 1)[1].split()[0] for line in out if "python version" in line), "?")
    return f"{out[0].strip()}, Python {py}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anchor", required=True, help="another checkout (git worktree) with its own .venv, e.g. at the previous ansible-core")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    trees = {"anchor": os.path.abspath(args.anchor), "this": REPO}
    for name, tree in trees.items():
        if not os.access(os.path.join(tree, ".venv", "bin", "ansible"), os.X_OK):
            sys.exit(f"{name} tree {tree}: no Ansible in .venv/bin; run scripts/install-deps.sh there (or link a venv as .venv)")
    for name, tree in trees.items():
        print(f"{name:6} {tree}: {version(tree)}")
    figures = {c: {t: [] for t in trees} for c in cases}
    with tempfile.TemporaryDirectory(prefix="ansible-core-bench.") as work:
        for run in range(args.runs):
            for case in cases:
                order = list(trees) if run % 2 == 0 else list(reversed(trees))
                for name in order:
                    tree = trees[name]
                    wdir = os.path.join(work, name)
                    os.makedirs(wdir, exist_ok=True)
                    log = os.path.join(wdir, f"{case}-{run}.log")
                    wall, cpu, rc = timed(command(case, tree, wdir), tree, log)
                    figures[case][name].append({"wall": wall, "cpu": cpu, "rc": rc})
                    print(f"run {run + 1} {case:14} {name:6} wall {wall:7.1f} s  cpu {cpu:7.1f} s  rc {rc}", flush=True)
                    if rc != 0:
                        with open(log) as f:
                            print("  " + "  ".join(f.readlines()[-5:]), end="")
    print("\n| case | tree | wall min | wall median | cpu min | cpu median | failed runs |\n|---|---|---|---|---|---|---|")
    for case in cases:
        for name in trees:
            f = figures[case][name]
            walls, cpus = [x["wall"] for x in f], [x["cpu"] for x in f]
            print(f"| {case} | {name} | {min(walls):.1f} s | {statistics.median(walls):.1f} s | {min(cpus):.1f} s | "
                  f"{statistics.median(cpus):.1f} s | {sum(x['rc'] != 0 for x in f)} |")
    print("\nratio this/anchor (medians):")
    for case in cases:
        a, t = figures[case]["anchor"], figures[case]["this"]
        ratio = {k: statistics.median(x[k] for x in t) / statistics.median(x[k] for x in a) for k in ("wall", "cpu")}
        print(f"  {case:14} wall x{ratio['wall']:.2f}  cpu x{ratio['cpu']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"trees": trees, "figures": figures}, f, indent=1)


if __name__ == "__main__":
    main()
