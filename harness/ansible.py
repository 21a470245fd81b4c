"""One way to run Ansible (molecule's AnsiblePlaybook): run_playbook builds the command and its
environment for the sandbox, the labs, the suites and the benches alike, writes everything the run
prints to one log, and returns its exit code, its recap and that log. Nothing else in the harness,
the tests or the benches starts ansible-playbook; ansible() runs the other tools (ansible-inventory,
ad-hoc ansible).

  run = run_playbook("site.yml", inventory, {"teleport_version": "18.11.2"}, "--limit", "proxy-0",
                     log=tmp / "site.log", env=ansible_env(ssh="unchecked"))
  run.rc, run.recap["proxy-0"]["changed"], run.log, run.flat
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from functools import cached_property
from pathlib import Path

import yaml

from .moto import aws_env
from .util import REPO, VENV_BIN, HarnessError, terminate

PLAYBOOKS = Path(REPO) / "playbooks"
# ANSIBLE_BIN_DIR runs the tests against another Ansible (a virtualenv's bin).
BIN = Path(os.environ.get("ANSIBLE_BIN_DIR", VENV_BIN))

# One SSH connection per host for the whole run, or a connection per task (a test counting logins).
SSH_MULTIPLEXED = "-o ControlMaster=auto -o ControlPersist=120s"
SSH_PER_TASK = "-o ControlMaster=no -o ControlPath=none"
# A lab's static inventory names no host keys: SSH takes the key the host serves.
SSH_UNCHECKED = "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"


def ansible_env(*, aws=None, ssh=None, multiplex=True, base=None, **extra):
    """The environment of an Ansible run: base (os.environ) with the repository's ansible.cfg, no
    colour, no retry files and the venv's bin first on PATH, and

      aws        an endpoint (moto, a CountingProxy, a double in front of moto): AWS is it, with
                 the harness's dummy credentials;
      ssh        "checked": host keys checked the product's way (docs/security.md, "Host keys": the
                 inventory's KnownHostsCommand gives each host the keys its console printed);
                 "unchecked": a lab's static inventory, which names none; None: no host over SSH;
      multiplex  one SSH connection per host for the run (False: one per task);
      extra      any other variable; None removes one (ANSIBLE_CONFIG=None: Ansible's defaults).
    """
    env = dict(os.environ if base is None else base)
    env.update(ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_RETRY_FILES_ENABLED="0", PATH=str(BIN) + os.pathsep + env.get("PATH", ""))
    if aws:
        env = aws_env(aws, base=env)
    if ssh is not None:
        if ssh not in ("checked", "unchecked"):
            raise ValueError(f"ansible_env(ssh={ssh!r}): want 'checked', 'unchecked' or None")
        args = SSH_MULTIPLEXED if multiplex else SSH_PER_TASK
        env["ANSIBLE_HOST_KEY_CHECKING"] = str(ssh == "checked")
        env["ANSIBLE_SSH_ARGS"] = args if ssh == "checked" else f"{args} {SSH_UNCHECKED}"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def run_playbook(book, inventory=None, extra_vars=None, *args, log=None, env=None, cwd=REPO, timeout=1800, bin_dir=None):
    """Runs ansible-playbook and waits for it; returns its Run (the exit code, the recap, the log).

    book       a path, or a file name in playbooks/ ("site.yml"), or a list of them (one run, in order)
    inventory  a path (the inventory script, a file), a dict (written beside the log), or None
               (Ansible's implicit localhost, without its warnings)
    extra_vars a dict (written beside the log, mode 0600), a path ("@path"), or a list of them
    args       more arguments (--limit, --tags, --check, ...)
    log        where the output goes (stdout and stderr as printed); a new temporary file if None
    env        the environment (ansible_env(...)); ansible_env() if None
    bin_dir    another Ansible's bin directory (a bench's anchor: anchor_core()); the venv's if None
    """
    return start_playbook(book, inventory, extra_vars, *args, log=log, env=env, cwd=cwd, bin_dir=bin_dir).wait(timeout)


def start_playbook(book, inventory=None, extra_vars=None, *args, log=None, env=None, cwd=REPO, bin_dir=None):
    """run_playbook without the wait: two runs at once (wait() gives each its Run)."""
    books = [Path(b) if os.sep in str(b) else PLAYBOOKS / b for b in (book if isinstance(book, (list, tuple)) else [book])]
    if log is None:
        fd, log = tempfile.mkstemp(prefix=f"ansible-{books[0].stem}-", suffix=".log")
        os.close(fd)
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = ansible_env() if env is None else dict(env)
    cmd = [str(Path(bin_dir or BIN) / "ansible-playbook")]
    if isinstance(inventory, dict):
        cmd += ["-i", str(_beside(log, "inventory.yml", yaml.safe_dump(inventory)))]
    elif inventory is not None:
        cmd += ["-i", str(inventory)]
    else:
        env.update(ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    cmd += [str(b) for b in books]
    given = extra_vars if isinstance(extra_vars, list) else [] if extra_vars is None else [extra_vars]
    for n, v in enumerate(given):
        path = _beside(log, f"vars-{n}.json", json.dumps(v)) if isinstance(v, dict) else v
        cmd += ["-e", f"@{path}"]
    cmd += [str(a) for a in args]
    return Running(cmd, log, env, cwd)


# What a JDK or JRE puts on PATH (Debian's alternatives): none of it is in an execution environment.
_JDK_COMMANDS = {"java", "javac", "jar", "jarsigner", "javadoc", "javap", "jcmd", "jconsole", "jdb", "jdeps", "jfr",
                 "jhsdb", "jimage", "jinfo", "jlink", "jmap", "jmod", "jpackage", "jps", "jrunscript", "jshell",
                 "jstack", "jstat", "jstatd", "keytool", "rmiregistry", "serialver"}


def runner_job(book, inventory, extra_vars, *args, log, env, timeout=1800):
    """book run as an AWX job template runs it (docs/awx.md): ansible-runner, AWX's own runner, with a private data
    directory whose env/extravars holds the extra variables (merged in order, as AWX hands a job its template's and
    survey's) and env/envvars what the credentials inject; the project at the repository root, where Ansible reads
    ansible.cfg as in an AWX project checkout (so ANSIBLE_CONFIG is not passed); and no Java on PATH, as in an
    execution environment (refused here when PATH still finds one). args go on the runner's --cmdline (a check job:
    --check --diff). Returns the Run, its output (the runner's stdout: the playbook's display) in log."""
    books = Path(book) if os.sep in str(book) else PLAYBOOKS / book
    relative = books.resolve().relative_to(Path(REPO).resolve())
    data = Path(tempfile.mkdtemp(prefix="runner-job-"))  # 0700: the extra variables may hold secrets
    try:
        # A directory of PATH that holds java (Debian's /usr/bin, through alternatives) is replaced by a mirror of
        # it without the JDK's commands, so everything else on PATH stays (ssh, python3).
        dirs = []
        for n, d in enumerate(p for p in env.get("PATH", "").split(os.pathsep) if p):
            if os.path.exists(os.path.join(d, "java")):
                mirror = data / f"path-{n}"
                mirror.mkdir()
                for entry in os.listdir(d):
                    if entry not in _JDK_COMMANDS:
                        os.symlink(os.path.join(d, entry), mirror / entry)
                d = str(mirror)
            dirs.append(d)
        path = os.pathsep.join(dirs)
        if shutil.which("java", path=path):
            raise HarnessError(f"runner_job: PATH still finds java ({shutil.which('java', path=path)})")
        (data / "env").mkdir()
        merged = {}
        for v in (extra_vars if isinstance(extra_vars, list) else [] if extra_vars is None else [extra_vars]):
            if isinstance(v, dict):
                merged.update(v)
            else:
                with open(str(v).removeprefix("@")) as f:
                    merged.update(yaml.safe_load(f) or {})
        for name, doc in (("extravars", merged), ("envvars", {**{k: v for k, v in env.items() if k != "ANSIBLE_CONFIG"}, "PATH": path})):
            fd = os.open(data / "env" / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f)
        cmd = [str(BIN / "ansible-runner"), "run", str(data), "--project-dir", REPO, "-p", str(relative),
               "--inventory", str(inventory), "--rotate-artifacts", "1"]
        if args:
            cmd += ["--cmdline", " ".join(shlex.quote(str(a)) for a in args)]
        base = {k: env[k] for k in ("HOME", "LANG", "LC_ALL", "TMPDIR") if k in env}
        run = Running(cmd, Path(log), {**base, "PATH": path}, REPO).wait(timeout)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return run


def anchor_core(version):
    """The bin directory of a virtualenv holding ansible-core `version` alone (a bench's anchor), made
    once in build/bench/ansible-core-<version> with this venv's Python and pip (PyPI). It runs the
    repository's playbooks with this venv's collections: see anchor_env()."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise HarnessError(f"anchor ansible-core {version!r}: give a release, e.g. 2.18.19")
    venv = Path(REPO) / "build" / "bench" / f"ansible-core-{version}"
    if not (venv / "bin" / "ansible-playbook").exists():
        python = Path(VENV_BIN) / "python"
        subprocess.run([str(python), "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"ansible-core=={version}"], check=True)
    return venv / "bin"


def anchor_env(env):
    """env for an anchor_core() Ansible: the collections this venv's bundle installed (the anchor has
    none of its own), searched first."""
    import ansible_collections  # the bundle's collections, in this venv's site-packages
    here = os.path.dirname(list(ansible_collections.__path__)[0])
    return {**env, "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([here, env.get("ANSIBLE_COLLECTIONS_PATH", "")]).rstrip(os.pathsep)}


def _beside(log, suffix, text):
    """A file next to the log (its name and suffix), readable by its owner only: vars may hold secrets."""
    path = log.with_name(f"{log.stem}.{suffix}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class Running:
    """An ansible-playbook run under way."""

    def __init__(self, cmd, log, env, cwd):
        self.cmd, self.log = cmd, log
        self.t0 = time.monotonic()
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)

    def wait(self, timeout=1800):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            terminate(self.proc)
            raise HarnessError(f"{' '.join(self.cmd[1:])} ran longer than {timeout} s; log {self.log}") from None
        return Run(rc, self.log, time.monotonic() - self.t0, self.cmd)


# A PLAY RECAP line: "<host> : ok=3 changed=1 unreachable=0 failed=0 skipped=2 rescued=0 ignored=0".
_RECAP = re.compile(r"^(\S+)\s+:\s+(ok=\d+(?:\s+\w+=\d+)*)\s*$", re.M)


class Run:
    """A finished ansible-playbook run: rc, recap ({host: {ok, changed, unreachable, failed, skipped,
    rescued, ignored}}), log (its output), seconds, and the output as text, unfolded (flat) or as the
    json callback's document (report)."""

    def __init__(self, rc, log, seconds, cmd):
        self.rc, self.log, self.seconds, self.cmd = rc, Path(log), seconds, cmd

    def __repr__(self):
        return f"Run(rc={self.rc}, log={self.log})"

    @cached_property
    def text(self):
        return self.log.read_text(errors="replace")

    @property
    def flat(self):
        return unfold(self.text)

    @cached_property
    def _report(self):
        start = re.search(r"^\{$", self.text, re.M)  # json.dumps(indent=4): "{" alone on its first line
        if not start:
            return None, self.text
        doc, end = json.JSONDecoder().raw_decode(self.text, start.start())
        return doc, self.text[:start.start()] + self.text[end:]

    @property
    def report(self):
        """The json stdout callback's document (ANSIBLE_STDOUT_CALLBACK=json), or None."""
        return self._report[0]

    @property
    def rest(self):
        """The output but the json callback's document: Ansible's warnings and errors."""
        return self._report[1]

    @cached_property
    def recap(self):
        found = {host: {k: int(v) for k, v in (kv.split("=") for kv in counts.split())}
                 for host, counts in _RECAP.findall(self.text)}
        if not found and self.report:
            found = {host: {("failed" if k == "failures" else k): v for k, v in stats.items()}
                     for host, stats in self.report.get("stats", {}).items()}
        return found

    def changed(self):
        """{host: changed} of the hosts the run changed."""
        return {h: r["changed"] for h, r in self.recap.items() if r.get("changed")}

    def tail(self, chars=6000):
        return self.text[-chars:]


def unfold(text):
    """Ansible's output with every run of whitespace as one space: the YAML callback folds long
    messages over lines, so a sentence is found in this, not in the text as printed."""
    return " ".join(text.split())


def ansible(tool, *args, env=None, cwd=REPO, timeout=300):
    """ansible-inventory or ad-hoc ansible: the CompletedProcess, stdout and stderr apart."""
    if tool not in ("ansible", "ansible-inventory"):
        raise ValueError(f"ansible({tool!r}): run_playbook runs playbooks; this runs ansible and ansible-inventory")
    return subprocess.run([str(BIN / tool), *map(str, args)], env=ansible_env() if env is None else env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)
