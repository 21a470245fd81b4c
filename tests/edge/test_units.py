"""The edge tools' refusals and repairs, without the running world."""
import os

import pytest
from conftest import MotoServer

from harness.edge import dns as edge_dns
from harness.edge.common import EdgeError, Layout, dns_name, latency_origins
from harness.edge.nlb_double import _validate_target_group
from harness.edge.route53_policy_double import validate_records


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with MotoServer(log_path=os.path.join(str(tmp_path_factory.mktemp("moto")), "moto.log")) as m:
        yield m


def test_a_new_moto_zone_is_refused_until_its_soa_is_repaired_once(moto, tmp_path):
    r53 = moto.client("route53", "us-east-1")
    zid = r53.create_hosted_zone(Name="fresh.test", CallerReference="fresh")["HostedZone"]["Id"]
    layout = Layout(str(tmp_path)).make()
    args = (layout, None, "5s", "1s")
    with pytest.raises(EdgeError, match=r"malformed SOA.*fix-soa"):
        edge_dns.corefile(edge_dns.read_zones(moto.endpoint), {"us-west-2": ["127.55.1.0/24"]}, [("127.0.0.1", 5300)], *args)
    assert edge_dns.fix_new_zone_soa(r53, zid) is True
    assert edge_dns.fix_new_zone_soa(r53, zid) is False
    text = edge_dns.corefile(edge_dns.read_zones(moto.endpoint), {"us-west-2": ["127.55.1.0/24"]}, [("127.0.0.1", 5300)], *args)
    assert f"route53 fresh.test.:{zid.rsplit('/', 1)[-1]}" in text and "forward" not in text
    soa = [rr for rr in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"] if rr["Type"] == "SOA"]
    assert soa[0]["ResourceRecords"][0]["Value"].split()[2:] == ["1", "7200", "900", "1209600", "86400"]


def test_views_must_name_latency_regions_and_not_overlap():
    with pytest.raises(EdgeError, match="latency region"):
        edge_dns.parse_views(["mars-1=127.55.1.0/24"])
    with pytest.raises(EdgeError, match="overlaps"):
        edge_dns.parse_views(["us-west-2=127.55.0.0/16", "eu-central-1=127.55.2.0/24"])
    with pytest.raises(EdgeError, match="not a CIDR"):
        edge_dns.parse_views(["us-west-2=127.55.1.1/24"])


def test_wildcards_and_escapes_read_as_route53_returns_them():
    assert dns_name("\\052.Teleport.Example.com") == "*.teleport.example.com."
    recs = [{"Name": "\\052.t.example.com.", "Region": "us-west-2"}, {"Name": "t.example.com.", "Region": "us-west-2"},
            {"Name": "a.b.t.example.com.", "Region": "us-west-2"}, {"Name": "www.example.com.", "TTL": 5}]
    assert latency_origins(recs) == ["t.example.com."]


def test_target_groups_elb_would_refuse_are_not_rendered():
    good = {"TargetGroupName": "g", "Protocol": "TCP", "TargetType": "instance", "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "3000", "HealthCheckPath": "/readyz", "Matcher": {"HttpCode": "200-399"},
            "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 3,
            "UnhealthyThresholdCount": 3}
    assert _validate_target_group(good, {"deregistration_delay.timeout_seconds": "300"}) == []
    for change, why in (({"Protocol": "UDP"}, "not modelled"), ({"Matcher": {"HttpCode": "199"}}, "200-599"),
                        ({"HealthCheckIntervalSeconds": 400}, "outside 5..300"), ({"HealthyThresholdCount": 1}, "2..10"),
                        ({"HealthCheckPath": "readyz"}, "must start with /"), ({"HealthCheckPort": "0"}, "traffic-port")):
        errs = _validate_target_group(good | change, {})
        assert any(why in e for e in errs), (change, errs)
    assert _validate_target_group(good, {"deregistration_delay.timeout_seconds": "4000"})


def test_records_route53_would_refuse_are_named():
    zone = "example.com."
    recs = [
        {"Name": "example.com.", "Type": "CNAME", "TTL": 5, "ResourceRecords": [{"Value": "x"}]},
        {"Name": "t.example.com.", "Type": "CNAME", "TTL": 5, "SetIdentifier": "a", "Region": "mars-1",
         "ResourceRecords": [{"Value": "x"}]},
        {"Name": "m.example.com.", "Type": "A", "TTL": 5, "ResourceRecords": [{"Value": "1.2.3.4"}]},
        {"Name": "m.example.com.", "Type": "A", "TTL": 5, "SetIdentifier": "b", "Region": "us-west-2",
         "ResourceRecords": [{"Value": "1.2.3.5"}]},
        {"Name": "h.example.com.", "Type": "A", "TTL": 5, "SetIdentifier": "c", "Region": "us-west-2",
         "HealthCheckId": "missing", "ResourceRecords": [{"Value": "1.2.3.6"}]},
    ]
    errs = " | ".join(validate_records(zone, recs, {}).values())
    for why in ("zone apex", "not a Route 53 latency region", "share one routing policy", "NoSuchHealthCheck"):
        assert why in errs, why


def test_an_nlb_address_may_not_be_an_instance_address_or_shared():
    from harness.edge.nlb_double import assign_addresses, parse_addresses
    lbs = [{"region": r, "raw": {"LoadBalancerArn": f"arn:{r}", "LoadBalancerName": "p", "DNSName": f"p-1.{r}.elb.amazonaws.com"}}
           for r in ("us-west-2", "eu-central-1")]
    errors, unused = assign_addresses(lbs, parse_addresses(["us-west-2/p=127.55.1.21", "nope/p=127.55.1.30"]),
                                      {"127.55.1.21": "us-west-2/i-1"})
    assert lbs[0]["address"] is None and "private IP of instance us-west-2/i-1" in errors[0] and unused == ["nope/p"]
    errors, _ = assign_addresses(lbs, parse_addresses(["us-west-2/p=127.55.1.10", "p-1.eu-central-1.elb.amazonaws.com=127.55.1.10"]), {})
    assert "given to 2 load balancers" in errors[0] and lbs[0]["address"] is None and lbs[1]["address"] is None
    with pytest.raises(EdgeError, match="KEY=IPv4"):
        parse_addresses(["us-west-2/p=not-an-ip"])


def test_the_nlb_double_reads_moto_every_moto_interval_or_at_once_when_nudged(tmp_path, monkeypatch):
    from harness.edge import nlb_double
    reads = []
    monkeypatch.setattr(nlb_double, "read_world", lambda endpoint, regions: reads.append(1) or ([], {}, ["e"], {}))
    layout = Layout(str(tmp_path))
    double = nlb_double.NLBDouble(layout, "http://127.0.0.1:9", ["us-west-2"], {})
    double.moto_interval = 3600
    world = double._read_moto()
    assert len(reads) == 1 and double._world_read_at is not None
    world[2].append("added by a cycle")
    assert double._read_moto()[2] == ["e"], "each cycle gets its own copy of the last read"
    assert len(reads) == 1, "no read before --moto-interval"
    open(layout.nlb_nudge, "a").close()
    double._read_moto()
    assert len(reads) == 2, "the elbv2 double's nudge reads moto at the next cycle"
    double._read_moto()
    assert len(reads) == 2, "one nudge, one read"
    os.utime(layout.nlb_nudge, ns=(1, 1))
    double._read_moto()
    assert len(reads) == 3, "a later nudge reads again"
    double._next_read = 0
    double._read_moto()
    assert len(reads) == 4, "and --moto-interval still bounds the age of a read"


def test_a_registration_is_initial_until_a_read_of_moto_began_after_it(tmp_path):
    import time

    from harness.edge.common import utc_time
    from harness.edge.elbv2_double import TargetHealth
    health = TargetHealth(Layout(str(tmp_path)), lag=1.5, max_state_age=10, log=lambda *a, **k: None)
    tg = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tp-auth/1"
    health.note("RegisterTargets", tg, [("i-1", 3025)], 3025)
    registered = health.registered[(tg, "i-1", 3025)]
    up = {"target_groups": [{"arn": tg, "targets": [{"id": "i-1", "port": 3025, "state": "up"}]}],
          "updated_at": utc_time(time.time())}
    before = {**up, "moto_read_at": utc_time(registered - 0.5)}
    after = {**up, "moto_read_at": utc_time(registered + 0.01)}
    assert health.decide(tg, "i-1", 3025, True, before)[0] == "initial_registering"
    assert health.decide(tg, "i-1", 3025, True, after)[0] == "healthy"
    # A state without moto_read_at (an NLB double that reads moto every cycle) keeps the lag.
    assert health.decide(tg, "i-1", 3025, True, up)[0] == "initial_registering"


def test_the_elbv2_double_nudges_the_nlb_double_after_a_change_only(tmp_path):
    from harness.edge.elbv2_double import Double
    layout = Layout(str(tmp_path)).make()
    double = Double(layout, "http://127.0.0.1:9", ("127.0.0.1", 0), log=lambda *a, **k: None)
    try:
        double.forward = lambda method, path, headers, body: (200, {}, b"<ok/>")
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        double.handle("POST", "/", form, b"Action=DescribeLoadBalancers&Version=2015-12-01")
        assert not os.path.exists(layout.nlb_nudge), "a read changes nothing"
        double.handle("POST", "/", form, b"Action=ModifyTargetGroupAttributes&Version=2015-12-01")
        assert os.path.exists(layout.nlb_nudge), "a change nudges"
        os.utime(layout.nlb_nudge, ns=(1, 1))
        double.handle("POST", "/", form, b"Action=CreateListener&Version=2015-12-01")
        assert os.stat(layout.nlb_nudge).st_mtime_ns != 1, "each change nudges again"
        double.forward = lambda method, path, headers, body: (400, {}, b"<error/>")
        os.utime(layout.nlb_nudge, ns=(1, 1))
        double.handle("POST", "/", form, b"Action=CreateListener&Version=2015-12-01")
        assert os.stat(layout.nlb_nudge).st_mtime_ns == 1, "a refused change changes nothing in moto"
    finally:
        double.server.server_close()
