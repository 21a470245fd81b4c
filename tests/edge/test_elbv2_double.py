"""The ELBv2 target health double: DescribeTargetHealth as AWS reports it (initial, healthy,
draining for the deregistration delay, then unused), from the NLB double's data plane, while
every other call is moto's."""
import json
import sys
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import AUTH_DEREGISTRATION_DELAY, NLB_HC, Proc, free_port, until, wait_until

A = "us-west-2"


@pytest.fixture(scope="module")
def double(edge, tmp_path_factory):
    port = free_port()
    env = edge.moto.env()
    log = str(tmp_path_factory.mktemp("elbv2") / "elbv2-double.log")
    p = Proc("elbv2", [sys.executable, "-m", "harness.edge.elbv2_double", "--edge-dir", edge.layout.dir,
                       "--listen", f"127.0.0.1:{port}"], log, env=env)
    try:
        wait_until("the ELBv2 double to answer", lambda: _client(port).describe_load_balancers(), 30)
        yield port, p
    finally:
        p.stop()


def _client(port, endpoint=None):
    return boto3.client("elbv2", region_name=A, endpoint_url=endpoint or f"http://127.0.0.1:{port}",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1}))


def _health(c, tg, target=None):
    kw = {"Targets": [target]} if target else {}
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"]
            for d in c.describe_target_health(TargetGroupArn=tg, **kw)["TargetHealthDescriptions"]}


def test_every_call_but_target_health_is_motos(edge, double):
    port, _ = double
    ours, motos = _client(port), _client(None, edge.moto.endpoint)
    strip = ("ResponseMetadata",)
    a = {k: v for k, v in ours.describe_load_balancers().items() if k not in strip}
    b = {k: v for k, v in motos.describe_load_balancers().items() if k not in strip}
    assert json.dumps(a, default=str, sort_keys=True) == json.dumps(b, default=str, sort_keys=True)
    with pytest.raises(ClientError) as e:
        ours.describe_target_health(TargetGroupArn=edge.ids["tg"][(A, "auth")] + "-missing")
    assert e.value.response["Error"]["Code"] == "TargetGroupNotFound"


def test_a_deregistered_target_drains_for_the_delay_then_is_unused_and_a_new_one_starts_initial(edge, double):
    port, proc = double
    c, moto = _client(port), _client(None, edge.moto.endpoint)
    tg = edge.ids["tg"][(A, "auth")]
    until("both auth targets up in the data plane", lambda: set(edge.targets("tp-auth-3025").values()) == {"up"}, 30)
    health = _health(c, tg)
    assert {h["State"] for h in health.values()} == {"healthy"} and len(health) == 2
    (iid, tport), = sorted(health)[:1]
    target = {"Id": iid, "Port": tport}

    c.deregister_targets(TargetGroupArn=tg, Targets=[target])
    t0 = time.monotonic()
    # moto forgets it at once; AWS (and the double) reports it draining, also unfiltered.
    assert _health(moto, tg, target)[(iid, tport)]["State"] == "unused"
    th = _health(c, tg, target)[(iid, tport)]
    assert (th["State"], th["Reason"]) == ("draining", "Target.DeregistrationInProgress")
    assert _health(c, tg)[(iid, tport)]["State"] == "draining"
    until("the target unused", lambda: _health(c, tg, target)[(iid, tport)]["State"] == "unused", 30)
    drained = time.monotonic() - t0
    assert drained >= AUTH_DEREGISTRATION_DELAY, f"unused after {drained:.1f} s, before the {AUTH_DEREGISTRATION_DELAY} s delay"
    assert _health(c, tg, target)[(iid, tport)]["Reason"] == "Target.NotRegistered"
    assert (iid, tport) not in _health(c, tg)
    assert "drain" not in edge.targets("tp-auth-3025").values()

    c.register_targets(TargetGroupArn=tg, Targets=[target])
    t1 = time.monotonic()
    assert _health(moto, tg, target)[(iid, tport)]["State"] == "healthy"  # what bare moto would tell the playbooks
    th = _health(c, tg, target)[(iid, tport)]
    assert th["State"] == "initial" and th["Reason"] in ("Elb.RegistrationInProgress", "Elb.InitialHealthChecking")
    until("the target healthy again", lambda: _health(c, tg, target)[(iid, tport)]["State"] == "healthy", 60)
    # Not before HAProxy passed its checks: the first right away, then rise - 1 intervals.
    assert time.monotonic() - t1 >= (NLB_HC["HealthyThresholdCount"] - 1) * NLB_HC["HealthCheckIntervalSeconds"] * 0.8
    log = proc.text()
    assert "[elbv2-target-health-double] deregistered" in log and "transition=draining->unused" in log
    assert "transition=initial->healthy" in log


def test_a_target_failing_its_checks_is_unhealthy(edge, double):
    port, _ = double
    c = _client(port)
    tg = edge.ids["tg"][(A, "proxy")]
    b = edge.backends[A][0]
    iid = edge.ids["instances"][b.ip]
    b.stop()
    try:
        until("the stopped backend unhealthy", lambda: _health(c, tg)[(iid, 3080)]["State"] == "unhealthy", 30)
        assert _health(c, tg)[(iid, 3080)]["Reason"] == "Target.FailedHealthChecks"
    finally:
        b.start()
    until("healthy again", lambda: _health(c, tg)[(iid, 3080)]["State"] == "healthy", 30)


def test_a_stale_data_plane_is_refused_not_reported_healthy(edge, tmp_path):
    (tmp_path / "nlb-double.json").write_text(json.dumps({"double": "nlb-double", "updated_at": "2026-01-01T00:00:00.000Z",
                                                          "target_groups": [], "draining": []}))
    port = free_port()
    p = Proc("stale", [sys.executable, "-m", "harness.edge.elbv2_double", "--edge-dir", str(tmp_path),
                       "--listen", f"127.0.0.1:{port}"], str(tmp_path / "log"),
             env=edge.moto.env())
    try:
        wait_until("the ELBv2 double to answer", lambda: _client(port).describe_load_balancers(), 30)
        with pytest.raises(ClientError) as e:
            _client(port).describe_target_health(TargetGroupArn=edge.ids["tg"][(A, "auth")])
        assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert "not running" in e.value.response["Error"]["Message"]
    finally:
        p.stop()


def test_refuses_a_non_loopback_listen_address(edge, tmp_path):
    env = edge.moto.env()
    import subprocess
    p = subprocess.run([sys.executable, "-m", "harness.edge.elbv2_double", "--edge-dir", str(tmp_path),
                        "--listen", "198.18.1.1:8000"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "loopback only" in p.stdout
