#!/usr/bin/env python3
"""What one remote module run costs the host: this checkout's ansible-core beside an anchor
ansible-core (default 2.18.19, the release before the data-tagging rewrite), measured in one run.

  bench/module-cost-bench.sh                       # anchor 2.18.19, 15 rounds
  bench/module-cost-bench.sh --anchor 2.20.3 --rounds 30

Every task that runs a module on a host (stat, file, copy's checksum, uri, systemd) starts the
host's Python, which imports ansible.module_utils.basic from the AnsiballZ payload: a zip, so
nothing is ever cached as bytecode and every import compiles. Cases, each with the host's
interpreter (Debian 12's /usr/bin/python3, as on the sandbox's hosts and the AMIs):

  import   python3 <zip> (its __main__ imports ansible.module_utils.basic) with a zip of each release's
           module_utils, minus python3 -c pass (the interpreter's own start)
  stat     a playbook of 20 ansible.builtin.stat tasks on localhost (local connection, the
           host's python3): the whole per-task cost, controller and module, per task

Each round runs the anchor and this tree alternately (which goes first alternates), so a load
change on the shared machine falls on both; medians over the rounds, and this tree over the
anchor. The anchor is installed once into build/bench/ansible-core-<version> (harness.ansible.anchor_core)."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

from harness.ansible import anchor_core, ansible_env, run_playbook

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_PYTHON = "/usr/bin/python3"
TASKS = 20


def site_packages(python):
    return subprocess.run([python, "-c", "import ansible, os; print(os.path.dirname(os.path.dirname(ansible.__file__)))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def version_of(python):
    return subprocess.run([python, "-c", "import ansible.release as r; print(r.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def module_utils_zip(sp, path):
    """ansible/module_utils of a release in a zip with an empty ansible/__init__.py, as AnsiballZ ships it,
    and a __main__ that imports module_utils.basic."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ansible/__init__.py", "")
        # Run as `python3 the.zip`, the zip is first on sys.path, as AnsiballZ's payload is.
        z.writestr("__main__.py", "import ansible.module_utils.basic\n")
        root = os.path.join(sp, "ansible", "module_utils")
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    full = os.path.join(d, f)
                    z.write(full, os.path.relpath(full, sp))
    return path


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def stat_playbook(work):
    path = os.path.join(work, "stat.yml")
    with open(path, "w") as f:
        f.write("- hosts: all\n  gather_facts: false\n  tasks:\n")
        for i in range(TASKS):
            f.write(f"    - name: stat {i}\n      ansible.builtin.stat:\n        path: /etc/hostname\n")
    inv = os.path.join(work, "inventory")
    with open(inv, "w") as f:
        f.write(f"host ansible_connection=local ansible_python_interpreter={HOST_PYTHON}\n")
    return path, inv


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anchor", default="2.18.19", help="the anchor's ansible-core version (PyPI)")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    if not os.access(HOST_PYTHON, os.X_OK):
        sys.exit(f"bench: {HOST_PYTHON} (the hosts' interpreter) is missing")
    trees = {"anchor": str(anchor_core(args.anchor)),
             "this": os.path.join(REPO, ".venv", "bin")}
    work = tempfile.mkdtemp(prefix="module-cost-")
    try:
        zips, versions = {}, {}
        for name, bindir in trees.items():
            py = os.path.join(bindir, "python")
            versions[name] = version_of(py)
            zips[name] = module_utils_zip(site_packages(py), os.path.join(work, f"{name}.zip"))
        book, inv = stat_playbook(work)
        env = ansible_env()
        rows = {(n, c): [] for n in trees for c in ("import", "stat")}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in order:
                start = timed([HOST_PYTHON, "-c", "pass"])
                imp = timed([HOST_PYTHON, zips[name]])  # the zip runs as the script: its __main__ imports basic
                rows[(name, "import")].append((imp - start) * 1000)
                if r < max(3, args.rounds // 3):  # the playbook is slow: a third of the rounds, at least 3
                    run = run_playbook(book, inv, env=env, bin_dir=trees[name], log=os.path.join(work, f"stat-{name}-{r}.log"))
                    if run.rc != 0:
                        sys.exit(f"bench: the stat playbook failed with {name}'s ansible-core; log {run.log}:\n{run.tail(2000)}")
                    rows[(name, "stat")].append(run.seconds / TASKS * 1000)
        print(f"\nhost interpreter {HOST_PYTHON} ({subprocess.run([HOST_PYTHON, '-V'], capture_output=True, text=True).stdout.strip()}), "
              f"{args.rounds} rounds, medians")
        print(f"{'case':<8} {'anchor ' + versions['anchor']:>16} {'this ' + versions['this']:>16} {'this/anchor':>12}")
        for case, unit in (("import", "ms per module run"), ("stat", "ms per task")):
            a, t = statistics.median(rows[("anchor", case)]), statistics.median(rows[("this", case)])
            print(f"{case:<8} {a:>16.1f} {t:>16.1f} {t / a:>12.2f}   {unit}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
