"""Real DNS queries to real CoreDNS, per client region, against what moto holds."""
import json
import socket
import ssl

from conftest import CLUSTER, REGIONS, ZONE, addresses, public_client, vpc_client


def _nlb(edge, region, kind):
    lb = edge.ids["lb"][(region, kind)]
    return lb["DNSName"].lower() + ".", addresses()[(region, kind)]


def test_each_region_resolves_the_cluster_and_its_wildcard_to_its_own_public_nlb(edge):
    for region in REGIONS:
        name, ip = _nlb(edge, region, "proxy")
        for q in (CLUSTER, "app1." + CLUSTER, "kube.deep.name." + CLUSTER):
            status, answers = edge.dig(q, public_client(region))
            assert status == "NOERROR", (q, region)
            assert (q + ".", "CNAME", name) in answers
            assert (name, "A", ip) in answers


def test_clients_inside_the_vpcs_get_the_private_zone_and_the_internal_nlbs(edge):
    for region in REGIONS:
        name, ip = _nlb(edge, region, "proxy-int")
        assert edge.cname_of(CLUSTER, vpc_client(region)) == name
        assert edge.cname_of("x." + CLUSTER, vpc_client(region)) == name
        assert edge.a_of(CLUSTER, vpc_client(region)) == [ip]
    # The private zone shadows the public one of the same name inside the VPCs: a public-only
    # name does not exist there (Route 53 Resolver does not fall back to the public zone).
    assert edge.a_of("www." + ZONE, public_client("us-west-2")) == ["127.55.9.9"]
    assert edge.a_of("www." + ZONE, vpc_client("us-west-2")) == "NXDOMAIN"


def test_other_records_below_the_cluster_name_beat_the_wildcard(edge):
    status, answers = edge.dig("_acme-challenge." + CLUSTER, public_client("eu-central-1"), "TXT")
    assert status == "NOERROR" and answers == [(f"_acme-challenge.{CLUSTER}.", "TXT", '"acme-token"')]
    # The name exists, so the wildcard does not apply to it: no data for A, not the NLB.
    assert edge.dig("_acme-challenge." + CLUSTER, public_client("eu-central-1"))[1] == []


def test_nothing_else_is_answered(edge):
    for src in (public_client("us-west-2"), vpc_client("eu-central-1"), "127.0.0.1"):
        assert edge.dig("example.com", src)[0] == "REFUSED"
    # Clients of no region see no zone at all.
    assert edge.dig(CLUSTER, "127.0.0.1")[0] == "REFUSED"
    assert edge.dig(CLUSTER, "127.55.3.1")[0] == "REFUSED"


def test_load_balancer_names_resolve_everywhere_to_their_addresses(edge):
    for (region, kind), ip in addresses().items():
        name = edge.ids["lb"][(region, kind)]["DNSName"]
        assert edge.a_of(name, "127.0.0.1") == [ip]


def test_a_client_reaches_its_regions_proxies_through_the_name_and_the_nlb(edge):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for region in REGIONS:
        (ip,) = edge.a_of(CLUSTER, public_client(region))
        with socket.create_connection((ip, 443), timeout=5, source_address=(public_client(region), 0)) as raw:
            with ctx.wrap_socket(raw, server_hostname=CLUSTER) as s:
                s.sendall(f"GET /v1/webapi/ping HTTP/1.1\r\nHost: {CLUSTER}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert body["backend"].startswith(region) and body["sni"] == CLUSTER


def test_route53_health_checks_probe_with_sni_and_the_host_header(edge):
    for region in REGIONS:
        lb = edge.ids["lb"][(region, "proxy")]["DNSName"]
        seen = [s for b in edge.backends[region] for s in b.seen if s[0] == "/v1/webapi/ping" and s[2] == lb]
        assert seen, f"no health check probe reached {region}'s proxies through {lb}"
        assert all(sni == lb for _, sni, _ in seen)


def test_a_new_latency_name_is_served_per_region_after_the_corefile_is_regenerated(edge):
    from conftest import DNS_TTL, until

    from harness.edge import dns as edge_dns
    r53 = edge.moto.client("route53", "us-east-1")
    name = "api." + ZONE
    r53.change_resource_record_sets(HostedZoneId=edge.ids["zone"], ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": name, "Type": "CNAME", "SetIdentifier": f"api/{region}", "Region": region, "TTL": DNS_TTL,
            "ResourceRecords": [{"Value": edge.ids["lb"][(region, "proxy")]["DNSName"]}]}} for region in REGIONS]})
    views = [f"--view={r}={v['net']}" for r, v in REGIONS.items()]
    assert edge_dns.main(["generate", "--edge-dir", edge.layout.dir, "--endpoint-url", edge.moto.endpoint, *views,
                          f"--listen=127.0.0.1:{edge.dns_port}"]) == 0
    with open(edge.layout.corefile) as f:
        assert f"{name}.:{edge.dns_port} {{" in f.read()
    # CoreDNS's reload plugin checks the Corefile every 2 s (+1 s jitter).
    until("CoreDNS serving the new latency name per region", lambda: all(
        edge.cname_of(name, public_client(r)) == _nlb(edge, r, "proxy")[0] for r in REGIONS), 15)
