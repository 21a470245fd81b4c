"""Route 53 latency failover as the routing policy double decides it, seen through real DNS."""
import re

from conftest import CLUSTER, DNS_TTL, R53_INTERVAL, R53_THRESHOLD, REGIONS, public_client, until, vpc_client

A, B = list(REGIONS)
# Detection takes up to interval x threshold (plus the probe), then one cycle of the double
# (1 s) and CoreDNS's file reload (1 s); a resolver may cache the old answer for the TTL.
FAILOVER_DEADLINE = R53_INTERVAL * R53_THRESHOLD + DNS_TTL + 5


def _public(edge, region):
    return edge.ids["lb"][(region, "proxy")]["DNSName"].lower() + "."


def _stop(edge, region):
    for b in edge.backends[region]:
        b.stop()


def _start(edge, region):
    for b in edge.backends[region]:
        b.start()


def _healthy_again(edge):
    for region in REGIONS:
        _start(edge, region)
    until("every region healthy and answering for itself", lambda: all(
        edge.hc(edge.ids["hc"][r])["healthy"] and edge.cname_of(CLUSTER, public_client(r)) == _public(edge, r)
        for r in REGIONS), FAILOVER_DEADLINE + 15)


def test_a_region_whose_proxies_stop_fails_over_to_the_nearest_healthy_region(edge):
    _healthy_again(edge)
    try:
        _stop(edge, A)
        _, took = until(f"{A}'s clients sent to {B}", lambda: edge.cname_of(CLUSTER, public_client(A)) == _public(edge, B)
                        and edge.cname_of("x." + CLUSTER, public_client(A)) == _public(edge, B), FAILOVER_DEADLINE)
        assert took <= FAILOVER_DEADLINE
        print(f"failover of {A} to {B}: {took:.1f} s (deadline {FAILOVER_DEADLINE} s)")
        assert edge.cname_of(CLUSTER, public_client(B)) == _public(edge, B)
        # The private zone's records carry no health check (Route 53 cannot reach internal
        # NLBs): inside the VPC nothing moves.
        assert "proxy-int" in edge.cname_of(CLUSTER, vpc_client(A)) and A in edge.cname_of(CLUSTER, vpc_client(A))
        view = next(v for v in edge.policy()["views"] if v["region"] == A and not v["private"])
        answer = next(a for a in view["answers"] if a["name"] == CLUSTER + ".")
        assert answer["region"] == B and answer["reason"].startswith("nearest healthy record")
        log = edge.procs["policy"].text()
        hc = edge.ids["hc"][A]
        assert re.search(rf"^\S+Z \[route53-policy-double\] health_check id={hc} .*transition=healthy->unhealthy", log, re.M)
        assert re.search(rf"answer .*view={A} name={re.escape(CLUSTER)}\. .*transition={re.escape(CLUSTER)}/{A}->"
                         rf"{re.escape(CLUSTER)}/{B}", log)
        _start(edge, A)
        until(f"{A}'s clients back on {A}", lambda: edge.cname_of(CLUSTER, public_client(A)) == _public(edge, A),
              FAILOVER_DEADLINE)
    finally:
        _healthy_again(edge)


def test_when_every_region_is_unhealthy_route53_answers_as_if_all_were_healthy(edge):
    _healthy_again(edge)
    try:
        _stop(edge, A)
        _stop(edge, B)
        until("both health checks unhealthy", lambda: not any(edge.hc(edge.ids["hc"][r])["healthy"] for r in REGIONS),
              FAILOVER_DEADLINE)
        until("the policy double's views updated", lambda: all(
            a["reason"].startswith("every record unhealthy") for v in edge.policy()["views"] if not v["private"]
            for a in v["answers"] if a["name"] in (CLUSTER + ".", "*." + CLUSTER + ".")), 5)
        # DNS follows the views within CoreDNS's file reload (1 s): every region's clients get
        # their own region again, as if every record were healthy.
        until("every region's clients answered with their own region", lambda: all(
            edge.cname_of(name, public_client(region)) == _public(edge, region)
            for region in REGIONS for name in (CLUSTER, "any." + CLUSTER)), 5)
    finally:
        _healthy_again(edge)
