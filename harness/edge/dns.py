"""CoreDNS's Corefile from what moto's Route 53 holds, and the SOA repair a new moto zone needs.

For clients on each region's network (a `view` by client source address; the regions'
CIDR blocks are inputs) the generated Corefile serves:

- each public hosted zone through CoreDNS's route53 plugin (moto reached through
  AWS_ENDPOINT_URL in CoreDNS's environment: the plugin's aws_endpoint option is broken in
  v1.15.0);
- each private hosted zone to clients inside the VPCs associated with it (their CIDR
  blocks as moto holds them), before the public zone of the same name: split DNS as Route
  53 Resolver does it, where a private zone shadows the public one inside its VPCs;
- the latency-routed names (every latency record's name, wildcard label dropped) from the
  zone file the routing policy double writes per zone and region, in a more specific
  server block than the zone's: CoreDNS picks the longest matching zone, so these blocks
  override the route53 plugin, which ignores routing policy (two latency records for one
  name collapse into the last one written);
- the load balancers' DNS names from the NLB double's zone file, to everyone;
- nothing else: any other name is REFUSED. Nothing is forwarded (this machine has no
  network but the package registries).

    python -m harness.edge.dns fix-soa --endpoint-url URL
    python -m harness.edge.dns generate --edge-dir DIR --endpoint-url URL \\
        --view us-west-2=198.18.1.0/24 --view eu-central-1=198.18.2.0/24 \\
        --listen 198.18.1.1:53 --listen 198.18.2.1:53 --listen 127.0.0.1:5354
"""
import argparse
import ast
import ipaddress
import os
import sys

from .common import (
    NLB_ZONE,
    EdgeError,
    Layout,
    client,
    dns_name,
    endpoint_url,
    latency_origins,
    list_record_sets,
    paginate,
    parse_cidrs,
    parse_hostport,
    short_zone_id,
    write_if_changed,
)
from .route53_policy_double import REGION_LOCATIONS

# Route 53's own SOA for a new zone: primary name server, its hostmaster, serial 1, then
# refresh, retry, expire and the negative-caching TTL.
AWS_SOA_TAIL = "awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"


def _soa_fields_ok(value):
    fields = value.split()
    return len(fields) == 7 and all(f.isdigit() for f in fields[2:])


def soa_problem(rrsets, zone_name):
    """None when the zone's SOA is a proper one, else what is wrong with it."""
    soa = [rr for rr in rrsets if rr["Type"] == "SOA" and dns_name(rr["Name"]) == zone_name]
    if not soa:
        return "no SOA record"
    value = soa[0]["ResourceRecords"][0]["Value"]
    return None if _soa_fields_ok(value) else f"malformed SOA {value[:80]!r}"


def fix_new_zone_soa(r53, zone_id):
    """moto gives a new zone an SOA whose value is a Python dict's text, and a DNS server
    reading the zone answers SERVFAIL for every name until a proper SOA replaces it: UPSERT
    the value the dict holds (or Route 53's default). Idempotent; a no-op on real Route 53,
    where the SOA is always proper. Returns True when it changed the zone."""
    zone = r53.get_hosted_zone(Id=zone_id)["HostedZone"]
    name = dns_name(zone["Name"])
    rrsets = list_record_sets(r53, zone_id)
    if soa_problem(rrsets, name) is None:
        return False
    soa = next((rr for rr in rrsets if rr["Type"] == "SOA" and dns_name(rr["Name"]) == name), None)
    value = None
    if soa:
        raw = soa["ResourceRecords"][0]["Value"]
        try:
            value = ast.literal_eval(raw)["Value"]
        except (ValueError, SyntaxError, KeyError, TypeError):
            value = None
    if not value or not _soa_fields_ok(value):
        ns = next((rr for rr in rrsets if rr["Type"] == "NS" and dns_name(rr["Name"]) == name), None)
        primary = dns_name(ns["ResourceRecords"][0]["Value"]) if ns else "ns-1.awsdns-00.com."
        value = f"{primary} {AWS_SOA_TAIL}"
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Comment": "sandbox edge: replace moto's malformed SOA of a new zone",
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": name, "Type": "SOA", "TTL": int(soa.get("TTL", 900)) if soa else 900,
            "ResourceRecords": [{"Value": value}]}}]})
    return True


def fix_all_soas(endpoint):
    r53 = client("route53", "us-east-1", endpoint)
    return [dns_name(z["Name"]) + " " + short_zone_id(z["Id"])
            for z in paginate(r53, "list_hosted_zones", "HostedZones") if fix_new_zone_soa(r53, z["Id"])]


def read_zones(endpoint):
    """Every hosted zone with its records, and for a private zone the CIDR blocks of the
    VPCs associated with it, grouped by the VPCs' region."""
    r53 = client("route53", "us-east-1", endpoint)
    zones = []
    for z in paginate(r53, "list_hosted_zones", "HostedZones"):
        private = z.get("Config", {}).get("PrivateZone", False)
        entry = {"id": short_zone_id(z["Id"]), "name": dns_name(z["Name"]), "private": private,
                 "rrsets": list_record_sets(r53, z["Id"]), "vpc_cidrs": {}}
        if private:
            for v in r53.get_hosted_zone(Id=z["Id"]).get("VPCs", []):
                vpcs = client("ec2", v["VPCRegion"], endpoint).describe_vpcs(VpcIds=[v["VPCId"]])["Vpcs"]
                if not vpcs:
                    raise EdgeError(f"private zone {entry['name']} ({entry['id']}): associated VPC {v['VPCId']} "
                                    f"does not exist in {v['VPCRegion']}")
                cidrs = [a["CidrBlock"] for a in vpcs[0].get("CidrBlockAssociationSet", [])
                         if a.get("CidrBlockState", {}).get("State", "associated") == "associated"] or [vpcs[0]["CidrBlock"]]
                entry["vpc_cidrs"].setdefault(v["VPCRegion"], []).extend(cidrs)
        zones.append(entry)
    return zones


def parse_views(items):
    views, seen = {}, {}
    for item in items:
        region, sep, cidrs = item.partition("=")
        if not sep or region not in REGION_LOCATIONS:
            raise EdgeError(f"--view {item!r}: give REGION=CIDR[,CIDR...] with a Route 53 latency region, "
                            "e.g. us-west-2=198.18.1.0/24")
        if region in views:
            raise EdgeError(f"--view {region}: given twice; list its CIDR blocks comma-separated")
        views[region] = parse_cidrs(cidrs, f"--view {region}")
        for c in views[region]:
            for other, net in seen.items():
                if ipaddress.ip_network(c).overlaps(ipaddress.ip_network(net)):
                    raise EdgeError(f"--view {region}: {c} overlaps {net} of --view {other}; a client must be in one region")
            seen[region + " " + c] = c
    if not views:
        raise EdgeError("give at least one --view REGION=CIDR")
    return views


def _expr(cidrs):
    return " || ".join(f"incidr(client_ip(), '{c}')" for c in cidrs)


def _block(key, port, binds, view, cidrs, body, comment, extra=()):
    lines = [f"# {comment}", f"{key}:{port} {{", f"    bind {' '.join(binds)}"]
    lines += [f"    {x}" for x in extra]
    if view:
        lines += [f"    view {view} {{", f"        expr {_expr(cidrs)}", "    }"]
    lines += ["    errors", "    log"] + [f"    {x}" for x in body] + ["}", ""]
    return lines


def corefile(zones, views, listeners, layout, default_region=None, route53_refresh="5s", file_reload="1s"):
    """The Corefile text. zones: read_zones(); views: {region: [cidr]}; listeners: [(ip, port)]."""
    if not listeners:
        raise EdgeError("give at least one --listen IPv4:PORT")
    if default_region and default_region not in REGION_LOCATIONS:
        raise EdgeError(f"--default-region {default_region}: not a Route 53 latency region")
    public = {}
    for z in zones:
        problem = soa_problem(z["rrsets"], z["name"])
        if problem:
            raise EdgeError(f"zone {z['name']} ({z['id']}): {problem}; CoreDNS would answer SERVFAIL for every name. "
                            "Run `python -m harness.edge.dns fix-soa` once after creating a zone")
        if not z["private"]:
            if z["name"] in public:
                raise EdgeError(f"two public zones named {z['name']} ({public[z['name']]}, {z['id']}): only one can be "
                                "delegated; delete the other")
            public[z["name"]] = z["id"]
    for a in zones:
        for b in zones:
            if a is not b and a["private"] and b["private"] and a["name"] == b["name"] and a["id"] < b["id"]:
                shared = [c for r, cs in a["vpc_cidrs"].items() for c in cs if c in b["vpc_cidrs"].get(r, [])]
                if shared:
                    # Route 53: AssociateVPCWithHostedZone refuses a second private zone of the same
                    # name in one VPC (ConflictingDomainExists).
                    raise EdgeError(f"private zones {a['id']} and {b['id']} are both {a['name']} in the VPC of {shared[0]}")
    by_port = {}
    for ip, port in listeners:
        by_port.setdefault(port, []).append(ip)
    nlb_db = layout.nlb_zone
    out = ["# Generated by harness/edge/dns.py from moto's Route 53 zones; regenerate, do not edit.",
           "# Blocks of one zone are tried top to bottom: private zones (clients inside their VPCs) first, then",
           "# the public zones per client region. A name no block serves is REFUSED.", ""]
    first = True
    order = sorted(zones, key=lambda z: (not z["private"], z["name"], z["id"]))
    for port, binds in sorted(by_port.items()):
        binds = sorted(set(binds), key=lambda ip: ipaddress.ip_address(ip))

        def extra():
            nonlocal first
            if first:
                first = False
                return ["reload 2s 1s"]  # the Corefile is regenerated as zones appear
            return []
        for z in order:
            origins = latency_origins(z["rrsets"])
            if z["private"]:
                audiences = [(f"private-{z['id']}-{r}", r, cidrs, f"private zone {z['name']} ({z['id']}) for its VPCs in {r}")
                             for r, cidrs in sorted(z["vpc_cidrs"].items())]
            else:
                audiences = [(f"public-{z['id']}-{r}", r, views[r], f"public zone {z['name']} ({z['id']}) for clients in {r}")
                             for r in views]
                if default_region:
                    audiences.append((None, default_region, None,
                                      f"public zone {z['name']} for every other client, as if in {default_region}"))
            for view, region, cidrs, comment in audiences:
                for o in origins:
                    out += _block(o, port, binds, view and f"{view}-{o.rstrip('.')}", cidrs,
                                  [f"file {layout.view_zone(z['id'], region)} {z['name']} {{",
                                   f"        reload {file_reload}", "        reload_by_mtime", "    }"],
                                  f"{comment}: latency names below {o} from the routing policy double", extra())
                if origins and z["name"] in origins:
                    continue  # the whole zone is latency-routed: the file block serves all of it
                out += _block(z["name"], port, binds, view, cidrs,
                              [f"route53 {z['name']}:{z['id']} {{", f"        refresh {route53_refresh}", "    }"],
                              comment, extra())
        out += _block(NLB_ZONE, port, binds, None, None,
                      [f"file {nlb_db} {NLB_ZONE} {{", f"        reload {file_reload}", "        reload_by_mtime", "    }"],
                      "load balancer DNS names from the NLB double, for every client", extra())
    return "\n".join(out)


def coredns_command(binary, layout, endpoint):
    """(argv, env) to start CoreDNS on the generated Corefile against moto. The sandbox
    spawns it; the environment holds moto's dummy credentials, so it is never printed."""
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
           "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
           "HOME": layout.dir, "PATH": "/usr/bin:/bin"}
    return [os.path.abspath(binary), "-conf", layout.corefile], env


def main(argv=None):
    ap = argparse.ArgumentParser(prog="dns", description="CoreDNS's Corefile from moto's Route 53 (docs/edge.md)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    fx = sub.add_parser("fix-soa", help="UPSERT a proper SOA into every zone whose SOA moto left malformed")
    fx.add_argument("--endpoint-url")
    g = sub.add_parser("generate", help="write <edge-dir>/Corefile (only when it changed)")
    g.add_argument("--edge-dir", required=True)
    g.add_argument("--endpoint-url")
    g.add_argument("--view", action="append", default=[], help="REGION=CIDR[,CIDR]: clients of a region (repeat)")
    g.add_argument("--listen", action="append", default=[], help="IPv4:PORT CoreDNS listens on (repeat)")
    g.add_argument("--default-region", help="answer clients outside every --view as if in this region (public zones only)")
    g.add_argument("--route53-refresh", default="5s", help="route53 plugin refresh (default 5s)")
    a = ap.parse_args(argv)
    try:
        endpoint = endpoint_url(a.endpoint_url)
        if a.cmd == "fix-soa":
            fixed = fix_all_soas(endpoint)
            print("fixed SOA: " + (", ".join(fixed) if fixed else "none needed"))
        elif a.cmd == "generate":
            layout = Layout(a.edge_dir).make()
            listeners = [parse_hostport(x, "--listen") for x in a.listen]
            text = corefile(read_zones(endpoint), parse_views(a.view), listeners, layout, a.default_region, a.route53_refresh)
            changed = write_if_changed(layout.corefile, text)
            print(f"{layout.corefile}: {'written' if changed else 'unchanged'}")
    except EdgeError as e:
        print(f"dns: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
