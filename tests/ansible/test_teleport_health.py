"""roles/teleport/library/teleport_health.py, run as Ansible runs it on a host, against a stand-in of
Teleport's diagnostic and web listeners on loopback: it waits while /readyz answers 503, passes once it
answers 200, waits for a proxy's ping the same way, returns the version of teleport_build_info, and a
gate that never opens fails naming the URL and what it last answered."""
import http.server
import json
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT

MODULE = ROOT / "roles/teleport/library/teleport_health.py"
METRICS = ('# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total 1\n'
           'teleport_build_info{gitref="v18.11.1",goversion="go1.24",version="18.11.1"} 1\n')


class Listener:
    """A loopback HTTP server whose paths answer what the test sets, counting the requests."""

    def __init__(self):
        self.answers = {"/readyz": (200, '{"status":"ok"}'), "/metrics": (200, METRICS), "/ping": (200, "{}")}
        self.hits = {}
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                listener.hits[self.path] = listener.hits.get(self.path, 0) + 1
                status, body = listener.answers.get(self.path, (404, "not found"))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def run(tmp_path, **params):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    out = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def test_an_auth_server_passes_once_readyz_answers_200_and_the_version_is_returned(tmp_path, listener):
    listener.answers["/readyz"] = (503, '{"status":"teleport is starting"}')

    def ready_later():
        deadline = time.monotonic() + 10
        while listener.hits.get("/readyz", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        listener.answers["/readyz"] = (200, '{"status":"ok"}')

    flip = threading.Thread(target=ready_later)
    flip.start()
    result = run(tmp_path, diag_url=listener.url, timeout=20, delay=1)
    flip.join()
    assert not result.get("failed"), result
    assert result["version"] == "18.11.1"
    assert result["changed"] is False
    assert listener.hits["/readyz"] >= 3 and listener.hits["/metrics"] == 1
    assert "/ping" not in listener.hits, "an auth server has no web listener to ping"


def test_a_proxy_also_waits_for_its_web_ping(tmp_path, listener):
    listener.answers["/ping"] = (502, "bad gateway")
    result = run(tmp_path, diag_url=listener.url, web_url=listener.url + "/ping", timeout=2, delay=1)
    assert result["failed"]
    assert result["msg"].startswith(f"the web listener's ping at {listener.url}/ping did not answer 200 within 2 s")
    assert "HTTP 502: bad gateway" in result["msg"]
    assert "/metrics" not in listener.hits, "the version is read only once the host is ready"

    listener.answers["/ping"] = (200, "{}")
    assert run(tmp_path, diag_url=listener.url, web_url=listener.url + "/ping", timeout=2, delay=1)["version"] == "18.11.1"


def test_readyz_that_never_opens_fails_naming_the_url_and_the_last_answer(tmp_path, listener):
    listener.answers["/readyz"] = (503, '{"status":"auth is unreachable"}')
    t0 = time.monotonic()
    result = run(tmp_path, diag_url=listener.url, timeout=3, delay=1)
    assert result["failed"]
    assert result["msg"] == (f"/readyz at {listener.url}/readyz did not answer 200 within 3 s; "
                             'the last try: HTTP 503: {"status":"auth is unreachable"}')
    assert 2 <= time.monotonic() - t0 < 15
    assert listener.hits["/readyz"] >= 3


def test_nothing_listening_is_said_as_no_answer(tmp_path, listener):
    url = listener.url
    listener.close()
    result = run(tmp_path, diag_url=url, timeout=1, delay=1)
    assert result["failed"]
    assert result["msg"].startswith(f"/readyz at {url}/readyz did not answer 200 within 1 s; the last try: no answer (")


def test_metrics_without_build_info_return_no_version_for_the_gate_to_refuse(tmp_path, listener):
    listener.answers["/metrics"] = (200, "process_cpu_seconds_total 1\n")
    assert run(tmp_path, diag_url=listener.url, timeout=2, delay=1)["version"] == ""


@pytest.mark.parametrize("params, said", [
    ({"diag_url": "http://127.0.0.1:3000/readyz"}, "diag_url must be http://host:port"),
    ({"diag_url": "https://127.0.0.1:3000"}, "diag_url must be http://host:port"),
    ({"diag_url": "http://127.0.0.1:3000", "timeout": 0}, "must be at least 1 second"),
])
def test_bad_arguments_are_refused_by_name(tmp_path, params, said):
    result = run(tmp_path, **params)
    assert result["failed"] and said in result["msg"]
