"""Processes, polling, files and the harness's one error: what every part of the harness shares."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The repository: the harness is installed in place (pip install -e .), so this is its checkout.
REPO = str(Path(__file__).resolve().parents[1])
# The repository's virtualenv (scripts/install-deps.sh): its python runs the harness, its bin Ansible.
VENV_BIN = os.path.join(REPO, ".venv", "bin")
_T0 = time.monotonic()


class HarnessError(Exception):
    """A step failed; the message says what and where to look."""


class Timeout(HarnessError, TimeoutError):
    """A poll's deadline passed (wait_until)."""


def log(msg):
    print(f"[sandbox {time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, capture=True, timeout=120, **kw):
    """Runs a command; on failure raises HarnessError with its output."""
    try:
        p = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{' '.join(cmd)}: no answer within {timeout}s") from None
    if check and p.returncode != 0:
        out = ((p.stdout or "") + (p.stderr or "")).strip()
        raise HarnessError(f"{' '.join(cmd)} exited {p.returncode}: {out[-2000:]}")
    return p


def wait_until(what, condition, timeout=60.0, interval=0.05):
    """Polls condition() until it is truthy (returned) or the deadline passes (Timeout).

    An exception from condition() counts as "not yet" and is reported on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as e:  # the probe failing is why we keep polling
            last = e
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)  # pause between polls, bounded by the deadline above


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tcp_open(host, port, timeout=1.0):
    with socket.create_connection((host, port), timeout=timeout):
        return True


def answers(url, timeout=2):
    """Whether url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def venv_python():
    return os.path.join(VENV_BIN, "python")


# A pid names a process only while it runs: once it has exited and been reaped (Python's subprocess reaps
# a dropped Popen's child at the next Popen), the kernel hands the number to the next process, and with
# pid_max 32768 and the lanes' thousands of short processes that takes minutes. So spawn() records each
# process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot) in a marker file, which
# another invocation (sandbox/sandbox down) reads too; alive() and stop_pid() treat a pid whose process
# started at another time as gone, and never signal it. A CI run once lost a whole pytest of another lane
# (no output after its 14th test) to a SIGTERM meant for a process that had exited.
PID_DIR = os.path.join("/tmp", "teleport-harness-pids")


def _starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _marker(pid):
    return os.path.join(PID_DIR, str(int(pid)))


def _recorded_starttime(pid):
    try:
        with open(_marker(pid)) as f:
            return f.read().strip() or None
    except OSError:
        return None


MARKER_DAYS = 2


def _prune():
    cutoff = time.time() - MARKER_DAYS * 86400
    try:
        names = os.listdir(PID_DIR)
    except OSError:
        return
    for name in names:
        path = os.path.join(PID_DIR, name)
        try:
            if os.stat(path).st_mtime < cutoff:
                os.unlink(path)
        except OSError:
            pass


def spawn(cmd, log_path, env=None, cwd=None):
    """Starts a detached process (own session, stdin /dev/null) and returns its pid, with its start time
    recorded for alive() and stop_pid()."""
    with open(log_path, "ab") as logf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env, cwd=cwd)
    record_pid(p.pid)
    return p.pid


def record_pid(pid):
    """Records pid's start time (spawn() does; a Popen whose pid is stored for stop_pid() must too). The record
    outlives the process, on purpose: the harness stops some pids twice (a host powered off, then every host at
    down), and the second time the number may be another process's. Records older than MARKER_DAYS go."""
    started = _starttime(pid)
    if started is not None:
        os.makedirs(PID_DIR, exist_ok=True)
        _prune()
        tmp = _marker(pid) + ".tmp"
        with open(tmp, "w") as f:
            f.write(started + "\n")
        os.replace(tmp, _marker(pid))


def terminate(proc, grace=10):
    """Stops a child process we started: SIGTERM, then SIGKILL after grace seconds; reaped."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def alive(pid):
    """Whether the process spawn() started as pid still runs: a pid now held by a process that started at
    another time than the recorded one is someone else's, and counts as gone."""
    if not pid:
        return False
    recorded = _recorded_starttime(pid)
    if recorded is not None and _starttime(pid) not in (None, recorded):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid, name, grace=15.0, sig=signal.SIGTERM):
    """Stops one process we started, by its pid: sig, then SIGKILL after grace. A pid another process holds
    now (alive() above) is left alone, and said so."""
    if pid and not alive(pid):
        recorded = _recorded_starttime(pid)
        if recorded is not None and _starttime(pid) not in (None, recorded):
            log(f"{name} (pid {pid}) exited earlier; pid {pid} is another process's now: not signalled")
        return
    if not pid:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    try:
        wait_until(f"{name} (pid {pid}) to exit", lambda: not alive(pid) or _reap(pid), grace, 0.1)
    except Timeout:
        log(f"{name} (pid {pid}) ignored {sig.name} for {grace}s: killing it")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(f"{name} (pid {pid}) to die", lambda: not alive(pid) or _reap(pid), 10, 0.1)


def _reap(pid):
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return False


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def save_json(path, data):
    """Writes JSON atomically (rename), so a crash never leaves half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
