"""Doubles for the inventory script's hardening tests.

Service stands in for `inventory-service serve` (GET /v1/inventory, GET /v1/hosts/{name}) on
127.0.0.1, port 0, and answers the way a broken or hostile service (or whatever sits between the
script and the real one) would: redirects, trickles, 100 MB answers, documents that are not an
inventory, template syntax in every string. It records every request it receives (path and headers)
and how many bytes it managed to send, so tests assert what the script did on the wire.

fake_java writes an executable that stands in for `java -jar inventory-service.jar list` in the
script's local mode and prints a given document.
"""
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(REPO, "playbooks", "inventory", "teleport_inventory.py")
TOKEN = "fake-inventory-token-0123456789"
CLUSTER = "tp.example.com"
HOST = "i-0123456789abcdef0"
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
# The interpreter that runs the script: AWX execution environments may have Python 3.9, so
# INVENTORY_SCRIPT_PYTHON=/path/to/python3.9 runs these tests against that.
PYTHON = os.environ.get("INVENTORY_SCRIPT_PYTHON") or sys.executable


def host_vars(**overrides):
    """One auth host's variables, shaped like inventory-service's."""
    v = {"ansible_host": "198.18.1.10", "teleport_role": "auth", "teleport_cluster": CLUSTER,
         "aws_region": "us-west-2", "aws_availability_zone": "us-west-2a", "aws_instance_id": HOST,
         "aws_asg_name": "tp-auth", "aws_lifecycle_state": "InService", "aws_public_ip": None,
         "ec2_tags": {"Name": "auth-1", "TeleportCluster": CLUSTER, "TeleportRole": "auth"}}
    v.update(overrides)
    return v


def inventory(hostvars=None, all_vars=None):
    """A --list document shaped like inventory-service's: one auth host in us-west-2."""
    hostvars = {HOST: host_vars()} if hostvars is None else hostvars
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["teleport", "region_us_west_2"],
                "vars": all_vars if all_vars is not None else {
                    "teleport_inventory_cluster": CLUSTER, "teleport_inventory_generated_at": "2024-01-01T00:00:00Z",
                    "teleport_inventory_regions": ["us-west-2"], "teleport_inventory_stale_regions": []}},
        "teleport": {"children": ["teleport_auth"]},
        "teleport_auth": {"children": ["teleport_auth_us_west_2"]},
        "teleport_auth_us_west_2": {"hosts": sorted(hostvars)},
        "region_us_west_2": {"hosts": sorted(hostvars)},
    }


class Reply:
    """What an answer function writes with: raw bytes, so a test controls exactly what is sent."""

    def __init__(self, handler, service):
        self.path = handler.path
        self._handler = handler
        self._service = service

    def write(self, data):
        self._handler.wfile.write(data)
        self._handler.wfile.flush()
        with self._service.lock:
            self._service.sent += len(data)

    def head(self, status, headers=None):
        lines = [f"HTTP/1.1 {status} Whatever"] + [f"{k}: {v}" for k, v in {"Connection": "close", **(headers or {})}.items()]
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def json(self, doc, status=200):
        body = json.dumps(doc).encode()
        self.head(status, {"Content-Type": "application/json", "Content-Length": len(body)})
        self.write(body)

    def trickle(self, data, every):
        """Sends one byte every `every` seconds until done or the service stops."""
        for i in range(len(data)):
            if self._service.stopping.wait(every):  # the pace of a slow server, not a synchronisation
                return
            self.write(data[i:i + 1])

    def stream(self, total, chunk=b" " * 65536):
        """Sends `total` bytes of `chunk`, made as they go (never held in memory at once)."""
        left = total
        while left > 0 and not self._service.stopping.is_set():
            piece = chunk[:left]
            self.write(piece)
            left -= len(piece)


class Service:
    """An HTTP server on 127.0.0.1:0 answering every GET with answer(reply)."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.sent = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._active = 0
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (the name http.server calls)
                with service.lock:
                    service.requests.append({"path": self.path, "headers": dict(self.headers)})
                    service._active += 1
                try:
                    service.answer(Reply(self, service))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the script hung up, which is what several tests want it to do
                finally:
                    self.close_connection = True
                    with service.lock:
                        service._active -= 1

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hostile-service", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        deadline = time.monotonic() + 20
        while self._active and time.monotonic() < deadline:  # answers end once their client has gone
            time.sleep(0.02)
        assert not self._active, "an answer was still being written 20 s after the test"

    def headers_seen(self, name):
        return [r["headers"].get(name) for r in self.requests]


def token_file(directory, token=TOKEN, mode=0o600):
    path = directory / "token"
    path.write_text(token + "\n")
    path.chmod(mode)
    return str(path)


def script_env(extra=None, **settings):
    """The environment without any TELEPORT_INVENTORY_* or proxy variable, plus
    TELEPORT_INVENTORY_<key>=value for each setting, plus the variables in extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TELEPORT_INVENTORY_") and k.lower() not in _PROXY_VARIABLES}
    env.update({f"TELEPORT_INVENTORY_{k}": v for k, v in settings.items()})
    env.update(extra or {})
    return env


class Finished:
    def __init__(self, returncode, stdout, stderr, elapsed, max_rss=None):
        self.returncode, self.stdout, self.stderr, self.elapsed, self.max_rss = returncode, stdout, stderr, elapsed, max_rss


def run_script(args, env, timeout=60):
    """Runs the script; a run that outlives `timeout` fails the test (the child is killed)."""
    start = time.monotonic()
    try:
        r = subprocess.run([PYTHON, SCRIPT] + args, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the script was still running after {timeout} s")
    return Finished(r.returncode, r.stdout, r.stderr, time.monotonic() - start)


# Runs the script as __main__ and, at exit, writes its peak resident memory (VmHWM: this process
# only; wait4's ru_maxrss would count pytest's, which a vforked child inherits through exec).
_MEASURE = """\
import atexit, runpy, sys
peak = sys.argv[1]
def report():
    with open("/proc/self/status") as status, open(peak, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(report)
script = sys.argv[2]
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def run_script_measured(args, env, directory, timeout=60):
    """Like run_script, and also reports the script's peak resident memory in bytes."""
    peak = directory / "peak-kib"
    start = time.monotonic()
    try:
        r = subprocess.run([PYTHON, "-c", _MEASURE, str(peak), SCRIPT] + args, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the script was still running after {timeout} s")
    return Finished(r.returncode, r.stdout, r.stderr, time.monotonic() - start, int(peak.read_text()) * 1024)


def fake_java(directory, document):
    """Settings for the script's local mode where `java` prints `document` (JSON text or an object)."""
    doc = directory / "list-output.json"
    doc.write_text(document if isinstance(document, str) else json.dumps(document))
    java = directory / "java"
    java.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write(open({str(doc)!r}).read())\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    jar = directory / "inventory-service.jar"
    jar.write_bytes(b"")
    config = directory / "teleport-inventory.yml"
    config.write_text(f"cluster: {CLUSTER}\nregions: [us-west-2]\n")
    return {"JAVA": str(java), "JAR": str(jar), "CONFIG": str(config)}
