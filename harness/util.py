"""Process, polling and state helpers shared by the sandbox steps."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from . import moto as moto_world
from .moto import free_port, terminate  # noqa: F401  (re-exported for the sandbox steps)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE_DIR = os.environ.get("SANDBOX_STATE_DIR", os.path.join(REPO, "sandbox", "state"))
STATE_FILE = os.path.join(STATE_DIR, "state.json")
_T0 = time.monotonic()


class SandboxError(Exception):
    """A step failed; the message says what and where to look."""


def log(msg):
    print(f"[sandbox {time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, capture=True, timeout=120, **kw):
    """Runs a command; on failure raises SandboxError with its output."""
    try:
        p = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"{' '.join(cmd)}: no answer within {timeout}s") from None
    if check and p.returncode != 0:
        out = ((p.stdout or "") + (p.stderr or "")).strip()
        raise SandboxError(f"{' '.join(cmd)} exited {p.returncode}: {out[-2000:]}")
    return p


def wait_until(what, probe, timeout, interval=0.25):
    """harness/moto.wait_until (the one poll-with-a-deadline), raising SandboxError."""
    try:
        return moto_world.wait_until(what, probe, timeout, interval)
    except TimeoutError as e:
        raise SandboxError(str(e)) from None


def tcp_open(host, port, timeout=1.0):
    with socket.create_connection((host, port), timeout=timeout):
        return True


def spawn(cmd, log_path, env=None, cwd=None):
    """Starts a detached process (own session, stdin /dev/null) and returns its pid."""
    logf = open(log_path, "ab")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                         start_new_session=True, env=env, cwd=cwd)
    logf.close()
    return p.pid


def alive(pid):
    if not pid:
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
    """Stops one process we started, by its pid: sig, then SIGKILL after grace."""
    if not alive(pid):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    try:
        wait_until(f"{name} (pid {pid}) to exit", lambda: not alive(pid) or _reap(pid), grace, 0.1)
    except SandboxError:
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


def load_state():
    return load_json(STATE_FILE)


def save_state(state):
    save_json(STATE_FILE, state)
