"""Route 53 health checks probed as they are defined, seen in the policy double's state."""
import http.server
import threading

import pytest
from conftest import until

from harness.edge.route53_policy_double import CheckState, PolicyDouble, validate_health_check

IP, PORT = "127.55.3.5", 8080
CHECKERS = ["us-east-1", "us-west-2", "eu-west-1"]


class _Endpoint(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    flip_status = 200

    def do_GET(self):
        code, body = {"/ok": (200, b"service ready"), "/moved": (301, b""), "/flip": (type(self).flip_status, b"")}.get(
            self.path, (404, b"not here"))
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def endpoint():
    srv = http.server.ThreadingHTTPServer((IP, PORT), _Endpoint)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield _Endpoint
    srv.shutdown()
    srv.server_close()


def _create(edge, ref, **cfg):
    if cfg["Type"] != "CALCULATED":
        cfg.setdefault("IPAddress", IP)
        cfg.setdefault("RequestInterval", 10)
        cfg.setdefault("FailureThreshold", 1)
        cfg.setdefault("Regions", CHECKERS)
    r53 = edge.moto.client("route53", "us-east-1")
    return r53.create_health_check(CallerReference=ref, HealthCheckConfig=cfg)["HealthCheck"]["Id"]


def test_each_check_is_probed_as_defined(edge, endpoint):
    ids = {
        "path ok": (_create(edge, "hc-ok", Type="HTTP", Port=PORT, ResourcePath="/ok"), True),
        "3xx counts as healthy": (_create(edge, "hc-3xx", Type="HTTP", Port=PORT, ResourcePath="/moved"), True),
        "wrong path (404)": (_create(edge, "hc-path", Type="HTTP", Port=PORT, ResourcePath="/missing"), False),
        "wrong port": (_create(edge, "hc-port", Type="HTTP", Port=PORT + 1, ResourcePath="/ok"), False),
        "inverted": (_create(edge, "hc-inv", Type="HTTP", Port=PORT, ResourcePath="/ok", Inverted=True), False),
        "disabled counts as healthy": (_create(edge, "hc-dis", Type="HTTP", Port=PORT, ResourcePath="/missing",
                                               Disabled=True), True),
        "string found": (_create(edge, "hc-str", Type="HTTP_STR_MATCH", Port=PORT, ResourcePath="/ok",
                                 SearchString="ready"), True),
        "string missing": (_create(edge, "hc-nostr", Type="HTTP_STR_MATCH", Port=PORT, ResourcePath="/ok",
                                   SearchString="absent"), False),
        "tcp open": (_create(edge, "hc-tcp", Type="TCP", Port=PORT), True),
        "https to a plain http port": (_create(edge, "hc-tls", Type="HTTPS", Port=PORT, ResourcePath="/ok"), False),
    }
    ok_id, bad_id = ids["path ok"][0], ids["wrong path (404)"][0]
    ids["calculated 1 of 2"] = (_create(edge, "hc-calc1", Type="CALCULATED", ChildHealthChecks=[ok_id, bad_id],
                                        HealthThreshold=1), True)
    ids["calculated 2 of 2"] = (_create(edge, "hc-calc2", Type="CALCULATED", ChildHealthChecks=[ok_id, bad_id],
                                        HealthThreshold=2), False)

    def settled():
        checks = edge.policy()["health_checks"]
        probed = all(checks[i]["probes"] > 0 for name, (i, _) in ids.items()
                     if name not in ("disabled counts as healthy",) and not name.startswith("calculated"))
        return probed and all(checks[i]["healthy"] == want for i, want in ids.values()) and checks
    checks = until("every check probed and settled", settled, 15)[0]
    assert "status 404" in checks[bad_id]["last_probe"]["detail"]
    assert checks[ids["disabled counts as healthy"][0]]["probes"] == 0


def test_failure_threshold_needs_that_many_consecutive_failures(edge, endpoint):
    _Endpoint.flip_status = 200
    hid = _create(edge, "hc-threshold", Type="HTTP", Port=PORT, ResourcePath="/flip", FailureThreshold=2)
    until("the check probed healthy", lambda: edge.hc(hid)["probes"] >= 1 and edge.hc(hid)["healthy"], 15)
    _Endpoint.flip_status = 500
    until("one failed probe", lambda: edge.hc(hid)["consecutive_failures"] >= 1, 15)
    assert edge.hc(hid)["healthy"], "one failure must not flip a FailureThreshold=2 check"
    until("the check unhealthy", lambda: not edge.hc(hid)["healthy"], 15)
    assert edge.hc(hid)["consecutive_failures"] == 2
    _Endpoint.flip_status = 200


def test_checks_route53_would_refuse_are_reported_not_probed(edge, endpoint):
    bad = {
        "must be 10 or 30": _create(edge, "hc-interval", Type="HTTP", Port=PORT, RequestInterval=15),
        "have no Route 53 health checkers": _create(edge, "hc-regions", Type="HTTP", Port=PORT,
                                                    Regions=["us-east-1", "us-west-2", "eu-central-1"]),
        "private or non-routable": _create(edge, "hc-private", Type="HTTP", Port=PORT, IPAddress="10.1.2.3"),
    }

    def reported():
        checks = edge.policy()["health_checks"]
        return all(any(why in e for e in checks[i]["errors"]) and not checks[i]["healthy"] and checks[i]["probes"] == 0
                   for why, i in bad.items())
    until("the refusals reported", reported, 10)


def test_threshold_semantics_apply_both_ways():
    st = CheckState("x")
    assert st.healthy
    assert not st.record(False, "f", 1, 3) and not st.record(False, "f", 1, 3)
    assert not st.record(True, "ok", 1, 3)      # a success resets the count toward unhealthy
    assert [st.record(False, "f", 1, 3) for _ in range(3)] == [False, False, True]
    assert not st.healthy
    assert [st.record(True, "ok", 1, 3) for _ in range(3)] == [False, False, True]
    assert st.healthy


def test_validation_matches_the_route53_api():
    def check(**cfg):
        return validate_health_check({"Id": "h", "HealthCheckConfig": cfg}, {"h"})
    assert check(Type="HTTPS", FullyQualifiedDomainName="x.example", Port=443, RequestInterval=30, FailureThreshold=3) == []
    assert check(Type="PING", IPAddress="127.0.0.1")
    assert check(Type="TCP", IPAddress="127.0.0.1")                       # TCP needs a port
    assert check(Type="HTTP", Port=80)                                    # no endpoint
    assert check(Type="HTTP", IPAddress="127.0.0.1", FailureThreshold=11)
    assert check(Type="HTTP", IPAddress="127.0.0.1", Regions=["us-east-1", "us-west-2", "eu-central-1"])
    assert check(Type="CALCULATED", ChildHealthChecks=["nope"], HealthThreshold=1)


def test_latency_choice_uses_the_region_distance_table(tmp_path):
    d = PolicyDouble.__new__(PolicyDouble)
    d.checks = {}
    recs = [{"Region": r, "SetIdentifier": r} for r in ("us-west-2", "eu-central-1", "us-east-1")]
    assert d._choose("eu-central-1", recs, {})[0]["Region"] == "eu-central-1"
    st_eu = CheckState("eu")
    st_eu.healthy = False
    d.checks = {"eu": st_eu}
    recs[1]["HealthCheckId"] = "eu"
    best, reason, _ = d._choose("eu-central-1", recs, {})
    assert best["Region"] == "us-east-1" and reason.startswith("nearest healthy")   # closer to Frankfurt than Oregon
    for r in recs:
        r["HealthCheckId"] = "eu"
    best, reason, _ = d._choose("eu-central-1", recs, {})
    assert best["Region"] == "eu-central-1" and reason.startswith("every record unhealthy")
