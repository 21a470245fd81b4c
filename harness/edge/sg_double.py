"""security-group-double: EC2's security-group enforcement, which moto does not do, on this
machine's netfilter. It is a DOUBLE: it mirrors what the Amazon VPC User Guide documents, and its
log lines say so (`[security-group-double]`).

moto stores security groups, their rules, the groups of each instance's network interface and of
each Network Load Balancer, and filters no packet. This double reads them from moto every
--interval seconds and makes them one nftables table (`inet teleport_sg_double`), replaced in one
transaction whenever what it reads changes:

  * **Who is enforced.** Every instance moto reports pending or running, at its primary private
    IPv4 address, with the groups of its network interfaces; and every Network Load Balancer that
    has security groups, at the address the NLB double binds for it (--address, as the NLB double
    takes it). An NLB created without security groups filters nothing ("Update the security groups
    for your Network Load Balancer": one without groups cannot get them later, and its targets
    then see and must admit the clients themselves).
  * **Default deny in, rules allow** ("Security group rules", security-group-rules.html): "Security
    groups are stateful": a flow a rule let out or in is answered without any rule the other way
    (conntrack's established/related). A new flow to an enforced address passes only if an inbound
    rule of one of its groups admits its source, protocol and port; a new flow from one only if an
    outbound rule of one of its groups admits its destination. Both are needed between two
    enforced addresses: the sender's outbound and the receiver's inbound. "If there is more than
    one rule for a specific port, the most permissive rule applies": rules are a union.
  * **Sources and destinations** ("Security group rules", "Source or destination"): a CIDR block;
    or a security group: "the primary private IPv4 address of the network interfaces" that carry
    it, the load balancers' addresses among them (an NLB's group referenced by its targets'
    groups). The group's members are read from moto at every cycle, so an instance launched
    later is admitted by the rules that name its group with no change to any rule.
  * **Protocols** (IpProtocol): -1 every protocol and port; tcp (6) and udp (17) with FromPort to
    ToPort; icmp (1) with FromPort the type and ToPort the code, -1 for any; any other number
    matches that protocol whatever the ports.
  * **Traffic paths on this machine.** Instances are systemd-nspawn hosts on Linux bridges; with
    br_netfilter (net.bridge.bridge-nf-call-iptables = 1) bridged frames pass the inet family's
    forward hook, like routed ones between regions. The NLB double's HAProxy dials targets from its
    load balancer's own address (the NLB double's `source`), so an instance rule naming the NLB's
    group admits the NLB's health checks and forwarded flows, and nothing else from this machine.
    Traffic on this machine's loopback (the Route 53 policy double's checks of an NLB address) is
    not filtered.

Not modelled, and refused loudly rather than allowed: prefix lists (a rule naming one allows
nothing here, and the double logs an error naming the group and rule), IPv6 rules (these worlds
have no IPv6), network ACLs, the limits on rules per group. Not modelled and not refused: the
connection tracking exemptions AWS makes for some flows ("Untracked connections"), and client IP
preservation (the NLB double forwards from its own address, so rules naming client CIDRs on a
target are not exercised; the NLB's own group is).

Each cycle also reads the flows dropped since the last one (a dynamic set the drop rules fill) and
logs each new one: `dropped direction=in address=... id=... src=... dst=... proto=... port=...`.
A state file (--state) says what is enforced and how many rules each address has."""
import argparse
import ipaddress
import json
import re
import subprocess
import sys

from .common import EdgeError, Logger, client, endpoint_url, paginate, run_cycles, start_double, write_json

NAME = "security-group-double"
TABLE = "teleport_sg_double"
# What br_netfilter must be set to for bridged frames to reach the inet family's hooks.
BRIDGE_NF_CALL = "/proc/sys/net/bridge/bridge-nf-call-iptables"
# EC2: the instance states in which a network interface is attached and filtered.
ENFORCED_STATES = ("pending", "running")
_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1}
# Dropped flows kept for reading (the set's timeout outlives several cycles).
DROPPED_SET_TIMEOUT = "10m"


def _protocol(value):
    """IpProtocol as AWS gives it: -1 (all), a name or a number; returns the number, or -1."""
    v = str(value).lower()
    if v in ("-1", "all"):
        return -1
    if v in _PROTOCOLS:
        return _PROTOCOLS[v]
    try:
        n = int(v)
    except ValueError:
        raise EdgeError(f"IpProtocol {value!r}: not -1, tcp, udp, icmp or a protocol number") from None
    if not 0 <= n <= 255:
        raise EdgeError(f"IpProtocol {value!r}: a protocol number is 0-255")
    return n


def _port(value, where):
    if value is None:
        return None
    n = int(value)
    if not -1 <= n <= 65535:
        raise EdgeError(f"{where}: port {value!r} is outside -1..65535")
    return n


def _address(value, where):
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError):
        raise EdgeError(f"{where}: {value!r} is not an IPv4 address") from None


def read_world(endpoint, regions, lb_addresses, clients=None):
    """What moto holds: (endpoints, groups, errors). endpoints: [{address, region, kind, id, groups}];
    groups: {group id: {region, name, ingress, egress}}; lb_addresses: {"<region>/<name>": IPv4}. clients: a dict
    the caller keeps between calls, where the boto3 clients are made once (making one loads its service model:
    tenths of a CPU second for EC2's, every cycle otherwise)."""
    endpoints, groups, errors = [], {}, []
    clients = {} if clients is None else clients

    def made(service, region):
        if (service, region) not in clients:
            clients[(service, region)] = client(service, region, endpoint)
        return clients[(service, region)]
    for region in regions:
        ec2 = made("ec2", region)
        for g in paginate(ec2, "describe_security_groups", "SecurityGroups"):
            if not _GROUP_ID.match(g["GroupId"]):
                errors.append(f"{region}: security group id {g['GroupId']!r} is not sg-<hex>: skipped")
                continue
            groups[g["GroupId"]] = {"region": region, "name": g.get("GroupName", ""),
                                    "ingress": g.get("IpPermissions", []), "egress": g.get("IpPermissionsEgress", [])}
        for r in paginate(ec2, "describe_instances", "Reservations"):
            for i in r["Instances"]:
                if i["State"]["Name"] not in ENFORCED_STATES or not i.get("PrivateIpAddress"):
                    continue
                if not _INSTANCE_ID.match(i["InstanceId"]):
                    errors.append(f"{region}: instance id {i['InstanceId']!r} is not i-<hex>: skipped")
                    continue
                ids = {g["GroupId"] for n in i.get("NetworkInterfaces", []) for g in n.get("Groups", [])}
                ids |= {g["GroupId"] for g in i.get("SecurityGroups", [])}
                endpoints.append({"address": _address(i["PrivateIpAddress"], f"{region}/{i['InstanceId']}"),
                                  "region": region, "kind": "instance", "id": i["InstanceId"], "groups": sorted(ids)})
        elb = made("elbv2", region)
        for lb in paginate(elb, "describe_load_balancers", "LoadBalancers"):
            if lb.get("Type") != "network" or not lb.get("SecurityGroups"):
                continue
            key = f"{region}/{lb['LoadBalancerName']}"
            if key not in lb_addresses:
                continue  # the NLB double binds no address for it: nothing reaches it here
            endpoints.append({"address": lb_addresses[key], "region": region, "kind": "load-balancer",
                              "id": key, "groups": sorted(lb["SecurityGroups"])})
    seen = {}
    for e in endpoints:
        if e["address"] in seen:
            errors.append(f"{e['address']}: both {seen[e['address']]} and {e['id']}; neither is enforced until one goes")
        seen.setdefault(e["address"], e["id"])
    dup = {a for a in seen if sum(1 for e in endpoints if e["address"] == a) > 1}
    return [e for e in endpoints if e["address"] not in dup], groups, errors


def members(endpoints):
    """{group id: sorted addresses of the interfaces (instances, load balancers) that carry it}."""
    out = {}
    for e in endpoints:
        for g in e["groups"]:
            out.setdefault(g, set()).add(e["address"])
    return {g: sorted(a) for g, a in out.items()}


def _match_peer(perm, direction, by_group, where, errors):
    """The nft peer matches of one permission: ["ip saddr { ... }", ...] (daddr outbound)."""
    field = "saddr" if direction == "in" else "daddr"
    peers = set()
    for r in perm.get("IpRanges", []):
        try:
            peers.add(str(ipaddress.IPv4Network(r["CidrIp"], strict=False)))
        except (KeyError, ValueError):
            errors.append(f"{where}: CidrIp {r.get('CidrIp')!r} is not an IPv4 CIDR block: the rule allows nothing")
    for pair in perm.get("UserIdGroupPairs", []):
        peers.update(by_group.get(pair.get("GroupId"), []))
    for pl in perm.get("PrefixListIds", []):
        errors.append(f"{where}: prefix list {pl.get('PrefixListId')!r} is not modelled by the double: "
                      "it allows nothing here")
    if not peers:
        return None
    if "0.0.0.0/0" in peers:
        return ""
    return f"ip {field} {{ {', '.join(sorted(peers, key=lambda p: ipaddress.ip_network(p)))} }} "


def _match_proto(perm, where):
    proto = _protocol(perm.get("IpProtocol", "-1"))
    lo, hi = _port(perm.get("FromPort"), where), _port(perm.get("ToPort"), where)
    if proto == -1:
        return ""
    if proto in (6, 17):
        name = "tcp" if proto == 6 else "udp"
        if lo is None or lo == -1 or (lo == 0 and hi == 65535):
            return f"meta l4proto {name} "
        if hi is None or hi < lo:
            raise EdgeError(f"{where}: ToPort {hi!r} is below FromPort {lo!r}")
        return f"{name} dport {lo} " if lo == hi else f"{name} dport {lo}-{hi} "
    if proto == 1:
        if lo is None or lo == -1:
            return "meta l4proto icmp "
        return f"icmp type {lo} " + (f"icmp code {hi} " if hi not in (None, -1) else "")
    return f"meta l4proto {proto} "


def compile_rules(endpoints, groups, table=TABLE):
    """(nft script, summary, errors): the whole table for these endpoints, created in one transaction. table: its
    name (a test's own, so that it never replaces a running sandbox's)."""
    by_group = members(endpoints)
    errors, chains, summary = [], [], {}
    vmaps = {"forward": {"s": [], "d": []}, "input": {"s": [], "d": []}, "output": {"s": [], "d": []}}
    for n, e in enumerate(sorted(endpoints, key=lambda e: ipaddress.IPv4Address(e["address"]))):
        counts = {}
        for direction in ("in", "out"):
            chain = f"{direction}_{n}"
            lines, rules = [], 0
            for gid in e["groups"]:
                g = groups.get(gid)
                if g is None:
                    errors.append(f"{e['id']}: security group {gid} does not exist: it allows nothing")
                    continue
                for k, perm in enumerate(g["ingress" if direction == "in" else "egress"]):
                    where = f"{g['region']}/{gid} {'inbound' if direction == 'in' else 'outbound'} rule {k}"
                    try:
                        proto = _match_proto(perm, where)
                    except (EdgeError, ValueError, TypeError) as ex:
                        errors.append(f"{where}: {ex}: it allows nothing")
                        continue
                    peer = _match_peer(perm, direction, by_group, where, errors)
                    if peer is None:
                        continue
                    # In: the last check, so accept; out: back to the base chain for the receiver's check.
                    lines.append(f"    {peer}{proto}{'accept' if direction == 'in' else 'return'}")
                    rules += 1
            field = "saddr" if direction == "out" else "daddr"
            lines.append(f"    meta l4proto {{ tcp, udp }} update @dropped {{ ip saddr . ip daddr . meta l4proto . th dport "
                         f"}} comment \"{direction} {e['address']}\"")
            lines.append("    counter drop")
            chains.append(f"  chain {chain} {{\n    # {e['kind']} {e['id']} ({', '.join(e['groups']) or 'no group'})\n"
                          + "\n".join(lines) + "\n  }")
            counts[direction] = rules
            entry = f"{e['address']} : jump {chain}"
            hooks = ("forward", "input") if e["kind"] == "instance" else ("output",)
            if direction == "in":
                hooks = ("forward", "output") if e["kind"] == "instance" else ("input",)
            for hook in hooks:
                vmaps[hook]["s" if field == "saddr" else "d"].append(entry)
        summary[e["address"]] = {"kind": e["kind"], "id": e["id"], "region": e["region"], "groups": e["groups"],
                                 "inbound_rules": counts["in"], "outbound_rules": counts["out"]}
    base = []
    for hook in ("forward", "input", "output"):
        lines = [f"  chain {hook}_hook {{", f"    type filter hook {hook} priority filter - 10; policy accept;"]
        if hook != "forward":
            lines.append(f"    {'iifname' if hook == 'input' else 'oifname'} \"lo\" accept")
        lines.append("    ct state established,related accept")
        if vmaps[hook]["s"]:
            lines.append(f"    ip saddr vmap {{ {', '.join(vmaps[hook]['s'])} }}")
        if vmaps[hook]["d"]:
            lines.append(f"    ip daddr vmap {{ {', '.join(vmaps[hook]['d'])} }}")
        base.append("\n".join(lines) + "\n  }")
    script = (f"table inet {table}\ndelete table inet {table}\n"
              f"table inet {table} {{\n"
              f"  # {NAME}: EC2 security groups read from moto (harness/edge/sg_double.py)\n"
              f"  set dropped {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags dynamic,timeout; "
              f"timeout {DROPPED_SET_TIMEOUT}; size 65535; }}\n"
              + "\n".join(chains + base) + "\n}\n")
    return script, summary, errors


def nft(args, input=None):
    p = subprocess.run(["nft", *args], input=input, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise EdgeError(f"nft {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


def dropped(table=TABLE):
    """{(src, dst, proto, port)} the drop rules recorded (empty when the table is not there)."""
    try:
        out = json.loads(nft(["-j", "list", "set", "inet", table, "dropped"]))
    except EdgeError:
        return set()
    flows = set()
    for item in out.get("nftables", []):
        for elem in (item.get("set") or {}).get("elem", []):
            value = elem.get("elem", {}).get("val", elem) if isinstance(elem, dict) else elem
            parts = (value.get("concat") if isinstance(value, dict) else None) or []
            if len(parts) == 4:
                flows.add(tuple(str(p) for p in parts))
    return flows


def remove(table=TABLE):
    """Deletes the table (no error when it is not there)."""
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, timeout=30)


def check_bridge_netfilter():
    try:
        with open(BRIDGE_NF_CALL) as f:
            value = f.read().strip()
    except FileNotFoundError:
        value = None
    if value != "1":
        raise EdgeError(f"{BRIDGE_NF_CALL} is {value or 'missing'}: frames bridged between hosts would bypass the "
                        "inet family and no security group would be enforced between them; run `modprobe br_netfilter` "
                        "and `sysctl net.bridge.bridge-nf-call-iptables=1`")


class SecurityGroupDouble:
    def __init__(self, endpoint, regions, lb_addresses, state_path, log):
        self.endpoint, self.regions, self.lb_addresses = endpoint, regions, lb_addresses
        self.state_path, self.log = state_path, log
        self.applied, self.generation, self.seen_drops, self.last_errors = None, 0, set(), None
        self.applied_summary = None
        self.clients = {}

    def cycle(self):
        endpoints, groups, errors = read_world(self.endpoint, self.regions, self.lb_addresses, self.clients)
        script, summary, compile_errors = compile_rules(endpoints, groups)
        errors += compile_errors
        errors_changed = errors != self.last_errors
        if errors_changed:
            for e in errors:
                self.log("error", message=e)
            self.last_errors = errors
        self._report_drops()
        present = subprocess.run(["nft", "list", "table", "inet", TABLE], capture_output=True).returncode == 0
        if script != self.applied or not present:
            nft(["-f", "-"], input=script)  # one transaction: the old table or the new one, never half
            self.applied, self.generation = script, self.generation + 1
            self.seen_drops = set()
            self.log("applied", generation=self.generation, addresses=len(summary),
                     rules=sum(s["inbound_rules"] + s["outbound_rules"] for s in summary.values()),
                     reason="changed" if present or self.generation == 1 else "table was missing",
                     mirrors="EC2 security groups: stateful, default deny inbound, rules allow")
        if self.generation and (errors_changed or self.applied_summary != summary):
            self.applied_summary = summary
            write_json(self.state_path, {"generation": self.generation, "table": f"inet {TABLE}",
                                         "enforced": summary, "errors": errors})

    def _report_drops(self):
        flows = dropped()
        for src, dst, proto, port in sorted(flows - self.seen_drops):
            self.log("dropped", src=src, dst=dst, proto=proto, port=port,
                     mirrors="no security group rule admits this flow")
        self.seen_drops = flows

    def run(self, interval):
        self.log("start", endpoint=self.endpoint, regions=",".join(self.regions), table=f"inet {TABLE}",
                 note="EC2 security-group enforcement double: moto's groups as nftables rules")
        run_cycles(self.cycle, interval, self.log, cleanup=remove)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sg_double", description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint-url", help="moto's endpoint (default: $AWS_ENDPOINT_URL)")
    ap.add_argument("--region", action="append", required=True, help="an AWS region to read (repeat)")
    ap.add_argument("--address", action="append", default=[],
                    help="<region>/<load balancer name>=IPv4: the address the NLB double binds for it (repeat)")
    ap.add_argument("--state", required=True, help="JSON file the double writes after each change")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between reads of moto (default 2)")
    a = ap.parse_args(argv)
    log = Logger(NAME)

    def build():
        if a.interval <= 0:
            raise EdgeError("--interval: must be > 0")
        check_bridge_netfilter()
        addresses = {}
        for item in a.address:
            key, sep, ip = item.partition("=")
            if not sep or key.count("/") != 1:
                raise EdgeError(f"--address {item!r}: give <region>/<name>=IPv4")
            addresses[key] = _address(ip, f"--address {key}")
        return SecurityGroupDouble(endpoint_url(a.endpoint_url), a.region, addresses, a.state, log)
    return start_double(log, build, lambda double: double.run(a.interval))


if __name__ == "__main__":
    sys.exit(main())
