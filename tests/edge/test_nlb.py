"""The NLB double: real TCP and HTTPS through HAProxy as moto's target groups define it."""
import calendar
import json
import re
import socket
import ssl
import time

from conftest import AUTH_DEREGISTRATION_DELAY, CLUSTER, NLB_HC, addresses, until

A = "us-west-2"
AUTH = addresses()[(A, "auth")]
PROXY = addresses()[(A, "proxy")]


def _auth_conn():
    s = socket.create_connection((AUTH, 3025), timeout=5)
    f = s.makefile("rwb", buffering=0)
    greeting = f.readline().decode().strip()
    return s, f, greeting


def _greeting():
    s, f, g = _auth_conn()
    s.close()
    return g


def _who_serves_https():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((PROXY, 443), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=CLUSTER) as s:
        s.sendall(f"GET /whoami HTTP/1.1\r\nHost: {CLUSTER}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])["backend"]


def _instance(edge, ip):
    return edge.ids["instances"][ip]


def _all_up(edge, tg):
    return lambda: set(edge.targets(tg).values()) == {"up"} and len(edge.targets(tg)) == 2


def test_haproxy_checks_targets_as_the_target_group_defines(edge):
    with open(edge.layout.haproxy + "/haproxy.cfg") as f:
        cfg = f.read()
    backend = cfg.split("\nbackend tg-us-west-2-tp-proxy-3080\n", 1)[1].split("\nbackend ", 1)[0]
    assert "http-check send meth GET uri /readyz ver HTTP/1.1" in backend
    assert "http-check expect status 200-399" in backend
    assert f"timeout check {NLB_HC['HealthCheckTimeoutSeconds']}s" in backend
    for ip in ("127.55.1.21", "127.55.1.22"):
        assert re.search(rf"server {_instance(edge, ip)}-3080 {ip}:3080 check inter 5s rise 2 fall 2 port 3000\n", backend)
    assert f"bind {PROXY}:443" in cfg and f"bind {AUTH}:3025" in cfg


def test_a_target_failing_its_readyz_stops_getting_connections_and_comes_back(edge):
    tg = "tp-proxy-3080"
    until("region A's proxy targets up", _all_up(edge, tg), 30)
    sick = edge.backends[A][0]
    try:
        sick.readyz_status = 503
        t0 = time.monotonic()
        until("the target down", lambda: edge.targets(tg)[sick.ip] == "down", 20)
        # fall=2 checks 5 s apart: not before the second failed check.
        assert time.monotonic() - t0 >= NLB_HC["HealthCheckIntervalSeconds"] * (NLB_HC["UnhealthyThresholdCount"] - 1) - 1
        assert {_who_serves_https() for _ in range(8)} == {edge.backends[A][1].name}
        # The matcher is 200-399: a redirect is healthy.
        sick.readyz_status = 302
        until("the target up again", lambda: edge.targets(tg)[sick.ip] == "up", 20)
        until("traffic on both targets", lambda: {_who_serves_https() for _ in range(8)} == {b.name for b in edge.backends[A]}, 10)
    finally:
        sick.readyz_status = 200


def test_deregistration_drains_in_flight_connections_for_the_delay_and_refuses_new_ones(edge):
    tg_name, tg_arn = "tp-auth-3025", edge.ids["tg"][(A, "auth")]
    elb = edge.moto.client("elbv2", A)
    until("auth targets up", _all_up(edge, tg_name), 30)
    conn, f, greeting = _auth_conn()
    leaving = next(b for b in edge.backends[A] if greeting == f"hello from {b.name}")
    staying = next(b for b in edge.backends[A] if b is not leaving)
    try:
        elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": _instance(edge, leaving.ip)}])
        until("the target draining", lambda: edge.targets(tg_name).get(leaving.ip) == "drain", 10)
        t0 = time.monotonic()
        # No new connection goes to the draining target...
        assert {_greeting() for _ in range(6)} == {f"hello from {staying.name}"}
        # ...while the established one keeps working.
        f.write(b"still there?\n")
        assert f.readline().decode().strip() == f"{leaving.name}: still there?"
        # connection_termination.enabled: closed at the end of the delay, not before.
        conn.settimeout(AUTH_DEREGISTRATION_DELAY + 5)
        assert f.readline() == b""
        closed_at = time.time()
        assert time.monotonic() - t0 <= AUTH_DEREGISTRATION_DELAY + 3
        # Timed from the drain's start as the double logged it, not from when this test saw it (a poll that lags
        # on a loaded machine): never closed before the delay, and within a cycle or so after it.
        # The last such line: the world is the session's, and earlier tests drained this target too.
        started = re.findall(rf"^(\S+)Z \[nlb-double\] target target_group={A}/{tg_name} target={_instance(edge, leaving.ip)}:3025 "
                             rf"address={leaving.ip}:3025 transition=up->drain$", edge.procs["nlb"].text(), re.M)
        assert started, "no up->drain transition logged"
        took = closed_at - calendar.timegm(time.strptime(started[-1][:19], "%Y-%m-%dT%H:%M:%S")) - float("0" + started[-1][19:])
        assert AUTH_DEREGISTRATION_DELAY - 0.5 <= took <= AUTH_DEREGISTRATION_DELAY + 3, took
        until("the target removed", lambda: leaving.ip not in edge.targets(tg_name), 5)
        # With the last target draining too, a new connection finds no target at all.
        elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": _instance(edge, staying.ip)}])
        until("the last target draining", lambda: edge.targets(tg_name).get(staying.ip) == "drain", 10)
        s = socket.create_connection((AUTH, 3025), timeout=5)
        s.settimeout(5)
        assert s.recv(100) == b""
        s.close()
        log = edge.procs["nlb"].text()
        assert re.search(rf"^\S+Z \[nlb-double\] target target_group={A}/{tg_name} target={_instance(edge, leaving.ip)}:3025 "
                         rf"address={leaving.ip}:3025 transition=up->drain$", log, re.M)
    finally:
        conn.close()
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": _instance(edge, b.ip)} for b in edge.backends[A]])
        until("auth targets back up", _all_up(edge, tg_name), 40)


def test_a_new_target_waits_for_its_health_checks_like_elbs_initial_state(edge):
    tg_name, tg_arn = "tp-auth-3025", edge.ids["tg"][(A, "auth")]
    elb = edge.moto.client("elbv2", A)
    until("auth targets up", _all_up(edge, tg_name), 40)
    b = edge.backends[A][0]
    elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": _instance(edge, b.ip)}])
    until("the target gone", lambda: b.ip not in edge.targets(tg_name), AUTH_DEREGISTRATION_DELAY + 5)
    elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": _instance(edge, b.ip)}])
    until("the target initial", lambda: edge.targets(tg_name).get(b.ip) == "initial", 10)
    other = f"hello from {edge.backends[A][1].name}"
    assert {_greeting() for _ in range(6)} == {other}
    until("the target up after rise=2 checks", lambda: edge.targets(tg_name).get(b.ip) == "up", 20)
    until("both targets take connections", lambda: len({_greeting() for _ in range(6)}) == 2, 10)
