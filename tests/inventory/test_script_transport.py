"""The inventory script's HTTP client against services that redirect, trickle, answer without end,
or sit off this machine behind plain http: the token never leaves for anywhere but the configured
service, and every run ends within its limits with one clear error."""
import json

import pytest
from hostile_service import TOKEN, Service, inventory, run_script, run_script_measured, script_env, token_file

HUNDRED_MB = 100 * 1000 * 1000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def answers_inventory(reply):
    reply.json(inventory())


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_token_never_reaches_its_target(tmp_path, code):
    with Service(answers_inventory) as target, \
            Service(lambda reply: reply.head(code, {"Location": target.url + "/v1/inventory", "Content-Length": 0})) as redirector:
        r = run_script(["--list"], script_env(URL=redirector.url, TOKEN_FILE=token_file(tmp_path)))
    assert target.requests == []
    assert redirector.headers_seen("Authorization") == [f"Bearer {TOKEN}"]
    assert r.returncode == 1 and r.stdout == ""
    assert f"{redirector.url}/v1/inventory: HTTP {code} redirect to {target.url}/v1/inventory refused" in r.stderr
    assert "TELEPORT_INVENTORY_URL" in r.stderr
    assert TOKEN not in r.stderr


def test_a_service_trickling_its_answer_fails_at_the_overall_deadline():
    body = json.dumps(inventory()).encode()  # about 200 s at this pace; each byte well inside the timeout

    def trickle(reply):
        reply.head(200, {"Content-Type": "application/json", "Content-Length": len(body)})
        reply.trickle(body, every=0.25)

    with Service(trickle) as service:
        r = run_script(["--list"], script_env(URL=service.url, TIMEOUT="2"), timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/inventory: no complete answer within 2 s (TELEPORT_INVENTORY_TIMEOUT)" in r.stderr
    assert r.elapsed < 2 + 4, r.elapsed


def test_a_service_trickling_its_headers_fails_at_the_overall_deadline():
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000

    with Service(lambda reply: reply.trickle(head, every=0.25)) as service:
        r = run_script(["--list"], script_env(URL=service.url, TIMEOUT="1.5"), timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert "no complete answer within 1.5 s (TELEPORT_INVENTORY_TIMEOUT)" in r.stderr
    assert r.elapsed < 1.5 + 4, r.elapsed


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e300", "soon"])
def test_a_bad_timeout_names_the_variable_and_nothing_is_requested(value):
    with Service(answers_inventory) as service:
        r = run_script(["--list"], script_env(URL=service.url, TIMEOUT=value))
    assert r.returncode == 1 and r.stdout == ""
    assert f"TELEPORT_INVENTORY_TIMEOUT: '{value}' must be a positive number of seconds, at most 86400" in r.stderr
    assert service.requests == []


def padded_inventory(total):
    """A valid inventory after `total` bytes of JSON whitespace, streamed without a Content-Length."""
    def answer(reply):
        reply.head(200, {"Content-Type": "application/json"})
        reply.stream(total)
        reply.write(json.dumps(inventory()).encode())
    return answer


def test_an_answer_over_the_default_limit_fails_naming_the_limit_and_the_script_stops_reading():
    with Service(padded_inventory(HUNDRED_MB)) as service:
        r = run_script(["--list"], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert (f"{service.url}/v1/inventory: the answer is larger than {DEFAULT_MAX_BYTES} bytes "
            "(TELEPORT_INVENTORY_MAX_BYTES)") in r.stderr
    # The limit plus what the kernel's socket buffers took before the script hung up.
    assert service.sent < DEFAULT_MAX_BYTES + 16 * 1024 * 1024, service.sent


def test_the_size_limit_bounds_the_scripts_memory(tmp_path):
    with Service(padded_inventory(HUNDRED_MB)) as service:
        r = run_script_measured(["--list"], script_env(URL=service.url, MAX_BYTES=str(4 * 1024 * 1024)), tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert "the answer is larger than 4194304 bytes (TELEPORT_INVENTORY_MAX_BYTES)" in r.stderr
    assert r.max_rss < 64 * 1024 * 1024, f"peak RSS {r.max_rss} bytes"


def test_an_announced_oversized_answer_is_refused_before_its_body_is_read():
    def announces(reply):
        reply.head(200, {"Content-Type": "application/json", "Content-Length": HUNDRED_MB})
        reply.stream(HUNDRED_MB)

    with Service(announces) as service:
        r = run_script(["--list"], script_env(URL=service.url, MAX_BYTES="1000000"))
    assert r.returncode == 1 and r.stdout == ""
    assert f"the answer is larger than 1000000 bytes (TELEPORT_INVENTORY_MAX_BYTES): it announces {HUNDRED_MB}" in r.stderr
    assert service.sent < 16 * 1024 * 1024, service.sent


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "64MiB", ""])
def test_a_bad_size_limit_names_the_variable_and_nothing_is_requested(value):
    with Service(answers_inventory) as service:
        r = run_script(["--list"], script_env(URL=service.url, MAX_BYTES=value))
    assert r.returncode == 1 and r.stdout == ""
    assert f"TELEPORT_INVENTORY_MAX_BYTES: '{value}' must be a positive whole number of bytes" in r.stderr
    assert service.requests == []


def test_a_large_answer_within_the_limit_is_read_whole():
    with Service(padded_inventory(8 * 1024 * 1024)) as service:
        r = run_script(["--list"], script_env(URL=service.url, MAX_BYTES=str(9 * 1024 * 1024)))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert json.loads(r.stdout)["teleport_auth_us_west_2"]["hosts"] == inventory()["teleport_auth_us_west_2"]["hosts"]


def test_the_token_is_never_sent_in_plain_http_to_a_host_off_this_machine(tmp_path):
    # A proxy on loopback stands in for the network: were the script to send anything, the proxy would get it.
    with Service(answers_inventory) as proxy:
        env = script_env(URL="http://inventory.invalid:8790", TOKEN_FILE=token_file(tmp_path),
                         extra={"http_proxy": proxy.url, "HTTP_PROXY": proxy.url})
        r = run_script(["--list"], env)
        assert r.returncode == 1 and r.stdout == ""
        assert ("TELEPORT_INVENTORY_URL: 'http://inventory.invalid:8790' is plain http to a host other than this "
                "machine, so the token would cross the network readable: use an https URL") in r.stderr
        assert "TELEPORT_INVENTORY_ALLOW_PLAINTEXT=1" in r.stderr
        assert proxy.requests == []

        r = run_script(["--list"], dict(env, TELEPORT_INVENTORY_ALLOW_PLAINTEXT="1"))  # a trusted network: the operator says so
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert [q["path"] for q in proxy.requests] == ["http://inventory.invalid:8790/v1/inventory"]
        assert proxy.headers_seen("Authorization") == [f"Bearer {TOKEN}"]


def test_without_a_token_plain_http_off_this_machine_is_allowed():
    with Service(answers_inventory) as proxy:
        r = run_script(["--list"], script_env(URL="http://inventory.invalid:8790", extra={"http_proxy": proxy.url}))
    assert r.returncode == 0, r.stderr
    assert proxy.headers_seen("Authorization") == [None]


@pytest.mark.parametrize("value", ["yes", "true", "2"])
def test_a_bad_allow_plaintext_names_the_variable(tmp_path, value):
    with Service(answers_inventory) as proxy:
        r = run_script(["--list"], script_env(URL="http://inventory.invalid:8790", TOKEN_FILE=token_file(tmp_path),
                                              ALLOW_PLAINTEXT=value, extra={"http_proxy": proxy.url}))
    assert r.returncode == 1 and r.stdout == ""
    assert f"TELEPORT_INVENTORY_ALLOW_PLAINTEXT: '{value}' must be 1 (or unset)" in r.stderr
    assert proxy.requests == []


def test_a_service_on_this_machine_is_reached_directly_never_through_a_proxy(tmp_path):
    with Service(answers_inventory) as service, Service(answers_inventory) as proxy:
        env = script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path), extra={"http_proxy": proxy.url, "HTTP_PROXY": proxy.url})
        r = run_script(["--list"], env)
    assert r.returncode == 0, r.stderr
    assert proxy.requests == []
    assert service.headers_seen("Authorization") == [f"Bearer {TOKEN}"]


def test_a_world_writable_token_file_is_refused_and_nothing_is_sent(tmp_path):
    path = token_file(tmp_path, mode=0o602)
    with Service(answers_inventory) as service:
        r = run_script(["--list"], script_env(URL=service.url, TOKEN_FILE=path))
    assert r.returncode == 1 and r.stdout == ""
    assert f"TELEPORT_INVENTORY_TOKEN_FILE: {path} is writable by every user (mode 0602): run chmod 600 {path}" in r.stderr
    assert service.requests == []


def test_a_world_readable_token_file_is_refused_and_nothing_is_sent(tmp_path):
    path = token_file(tmp_path, mode=0o644)
    with Service(answers_inventory) as service:
        r = run_script(["--list"], script_env(URL=service.url, TOKEN_FILE=path))
    assert r.returncode == 1 and r.stdout == ""
    assert f"TELEPORT_INVENTORY_TOKEN_FILE: {path} is readable by every user (mode 0644): run chmod 600 {path}" in r.stderr
    assert service.requests == []


def test_an_unreadable_token_file_is_one_clear_line(tmp_path):
    with Service(answers_inventory) as service:
        r = run_script(["--list"], script_env(URL=service.url, TOKEN_FILE=str(tmp_path)))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"teleport_inventory.py: TELEPORT_INVENTORY_TOKEN_FILE: cannot read {tmp_path}: Is a directory\n"
    assert service.requests == []


@pytest.mark.parametrize("where", ["TOKEN_FILE", "TOKEN"])
def test_a_token_that_cannot_be_an_http_header_is_refused_without_showing_it(tmp_path, where):
    token = "first-half-of-the-token\r\nX-Injected: second-half"
    setting = {"TOKEN_FILE": token_file(tmp_path, token=token)} if where == "TOKEN_FILE" else {"TOKEN": token}
    with Service(answers_inventory) as service:
        r = run_script(["--list"], script_env(URL=service.url, **setting))
    assert r.returncode == 1 and r.stdout == ""
    assert f"TELEPORT_INVENTORY_{where}: the token holds a space, a line break or another character" in r.stderr
    assert "first-half" not in r.stderr and "second-half" not in r.stderr
    assert service.requests == []


def test_an_error_answer_is_shown_without_control_characters():
    def fails(reply):
        reply.json({"error": "region \x1b[31mus-west-2\x1b[0m unavailable\r\nforged log line"}, status=503)

    with Service(fails) as service:
        r = run_script(["--list"], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/inventory: HTTP 503: region \\x1b[31mus-west-2\\x1b[0m unavailable\\r\\nforged log line" in r.stderr
    assert "\x1b" not in r.stderr and r.stderr.count("\n") == 1


def test_an_error_answer_is_read_only_up_to_a_bound():
    def fails(reply):
        reply.head(500, {"Content-Type": "text/plain"})
        reply.stream(HUNDRED_MB, chunk=b"x" * 65536)

    with Service(fails) as service:
        r = run_script(["--list"], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/inventory: HTTP 500: xxx" in r.stderr
    assert len(r.stderr) < 4096
    assert service.sent < 16 * 1024 * 1024, service.sent
