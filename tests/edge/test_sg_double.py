"""The security-group double (harness/edge/sg_double.py): what it makes of EC2's rules, and that
the table it makes filters packets the way EC2 does (two network namespaces on a bridge of this
test's own, 198.19.254.0/24, and this machine as a third party)."""
import json
import os
import subprocess
import time

import pytest

from harness.edge import sg_double
from harness.edge.common import EdgeError

A, B, GW = "198.19.254.10", "198.19.254.11", "198.19.254.1"
BRIDGE = "tsgd-br"
# Its own table: a sandbox running beside this test (another CI lane) keeps sg_double.TABLE.
TABLE = "teleport_sg_double_test"


def perm(proto, lo=None, hi=None, cidrs=(), groups=(), prefix_lists=()):
    p = {"IpProtocol": proto, "IpRanges": [{"CidrIp": c} for c in cidrs],
         "UserIdGroupPairs": [{"GroupId": g} for g in groups], "PrefixListIds": [{"PrefixListId": x} for x in prefix_lists]}
    if lo is not None:
        p["FromPort"], p["ToPort"] = lo, hi if hi is not None else lo
    return p


def group(ingress=(), egress=None):
    if egress is None:
        egress = [perm("-1", cidrs=["0.0.0.0/0"])]
    return {"region": "us-west-2", "name": "g", "ingress": list(ingress), "egress": list(egress)}


def endpoint(address, *groups, kind="instance", id=None):
    return {"address": address, "region": "us-west-2", "kind": kind, "id": id or f"i-{address.split('.')[-1]:0>8}",
            "groups": list(groups)}


def chain(script, address, direction):
    """The body of the in_/out_ chain the script makes for an address."""
    marker = f'comment "{direction} {address}"'
    block = next(b for b in script.split("  chain ")[1:] if marker in b)
    return [line.strip() for line in block.splitlines()[2:] if line.strip() and not line.strip().startswith(("meta l4proto { tcp, udp } update", "}"))]


def test_group_reference_admits_every_member_load_balancers_included():
    eps = [endpoint("198.18.1.4", "sg-00000000a"), endpoint("198.18.1.5", "sg-00000000a"),
           endpoint("198.18.101.10", "sg-00000000b", kind="load-balancer", id="us-west-2/lb"),
           endpoint("198.18.1.6", "sg-00000000c")]
    groups = {"sg-00000000a": group(), "sg-00000000b": group(),
              "sg-00000000c": group([perm("tcp", 3080, groups=["sg-00000000b"]),
                                     perm("tcp", 3021, groups=["sg-00000000a"])])}
    script, summary, errors = sg_double.compile_rules(eps, groups)
    assert errors == []
    assert chain(script, "198.18.1.6", "in") == ["ip saddr { 198.18.101.10 } tcp dport 3080 accept",
                                                 "ip saddr { 198.18.1.4, 198.18.1.5 } tcp dport 3021 accept", "counter drop"]
    assert summary["198.18.1.6"]["inbound_rules"] == 2
    # Nothing admits anything to the first group's members: default deny inbound.
    assert chain(script, "198.18.1.4", "in") == ["counter drop"]


def test_protocols_ports_and_everywhere():
    g = group([perm("-1", cidrs=["10.0.0.0/8"]), perm("tcp", 443, cidrs=["0.0.0.0/0"]), perm("udp", 1000, 2000, cidrs=["10.1.0.0/16"]),
               perm("icmp", 8, -1, cidrs=["10.2.0.0/16"]), perm("icmp", -1, -1, cidrs=["10.3.0.0/16"]),
               perm("50", cidrs=["10.4.0.0/16"]), perm("tcp", 0, 65535, cidrs=["10.5.0.0/16"])],
              egress=[perm("tcp", 3025, groups=["sg-00000000a"])])
    script, _, errors = sg_double.compile_rules([endpoint("198.18.1.4", "sg-00000000a")], {"sg-00000000a": g})
    assert errors == []
    assert chain(script, "198.18.1.4", "in") == [
        "ip saddr { 10.0.0.0/8 } accept", "tcp dport 443 accept", "ip saddr { 10.1.0.0/16 } udp dport 1000-2000 accept",
        "ip saddr { 10.2.0.0/16 } icmp type 8 accept", "ip saddr { 10.3.0.0/16 } meta l4proto icmp accept",
        "ip saddr { 10.4.0.0/16 } meta l4proto 50 accept", "ip saddr { 10.5.0.0/16 } meta l4proto tcp accept", "counter drop"]
    # Outbound rules return to the base chain, where the receiver's inbound rules are checked.
    assert chain(script, "198.18.1.4", "out") == ["ip daddr { 198.18.1.4 } tcp dport 3025 return", "counter drop"]


def test_what_is_not_modelled_allows_nothing_and_says_so():
    g = group([perm("tcp", 22, prefix_lists=["pl-12345678"]), perm("tcp", 23, groups=["sg-00000000f"]),
               perm("tcp", 24, cidrs=["not-a-cidr"]), perm("gre", cidrs=["0.0.0.0/0"])])
    eps = [endpoint("198.18.1.4", "sg-00000000a", "sg-00000000e")]
    script, _, errors = sg_double.compile_rules(eps, {"sg-00000000a": g})
    assert chain(script, "198.18.1.4", "in") == ["counter drop"]
    text = "\n".join(errors)
    assert "prefix list 'pl-12345678' is not modelled" in text
    assert "security group sg-00000000e does not exist" in text
    assert "'not-a-cidr' is not an IPv4 CIDR block" in text
    assert "IpProtocol 'gre'" in text


def test_an_instance_without_groups_admits_nothing():
    script, summary, _ = sg_double.compile_rules([endpoint("198.18.1.4")], {})
    assert chain(script, "198.18.1.4", "in") == ["counter drop"]
    assert chain(script, "198.18.1.4", "out") == ["counter drop"]
    assert summary["198.18.1.4"]["groups"] == []


def test_load_balancers_are_filtered_where_their_traffic_passes():
    """An instance's inbound chain is reached from the forward hook (other hosts) and the output hook
    (this machine); a load balancer's (HAProxy on this machine) from the input hook, its outbound from output."""
    eps = [endpoint("198.18.1.4", "sg-00000000a"), endpoint("198.18.101.10", "sg-00000000a", kind="load-balancer", id="r/lb")]
    script, _, _ = sg_double.compile_rules(eps, {"sg-00000000a": group()})
    hooks = {h: script.split(f"chain {h}_hook")[1].split("\n  }", 1)[0] for h in ("forward", "input", "output")}
    assert "198.18.1.4 : jump in_0" in hooks["forward"] and "198.18.1.4 : jump in_0" in hooks["output"]
    assert "198.18.1.4 : jump in_0" not in hooks["input"]
    assert "198.18.101.10 : jump in_1" in hooks["input"] and "198.18.101.10 : jump out_1" in hooks["output"]
    assert "198.18.101.10" not in hooks["forward"]
    assert 'iifname "lo" accept' in hooks["input"] and 'oifname "lo" accept' in hooks["output"]


def test_bad_arguments_are_refused():
    with pytest.raises(EdgeError, match="not an IPv4 address"):
        sg_double._address("198.18.1.300", "x")
    with pytest.raises(EdgeError, match="protocol number is 0-255"):
        sg_double._protocol("300")


@pytest.fixture
def moto_server(tmp_path):
    from harness.moto import MotoServer
    server = MotoServer(log_path=str(tmp_path / "moto.log")).start()
    try:
        yield server
    finally:
        server.stop()


def test_read_world_from_moto(moto_server):
    """Instances with their interface's groups, NLBs with groups at their given address; an NLB without
    groups and a terminated instance are not enforced."""
    from harness.moto import client
    ec2 = client("ec2", "us-west-2", moto_server.endpoint)
    vpc = ec2.create_vpc(CidrBlock="198.18.1.0/24")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="t-proxy", Description="t", VpcId=vpc)["GroupId"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    run = ec2.run_instances(ImageId=ami, MinCount=2, MaxCount=2, SubnetId=subnet, SecurityGroupIds=[sg])["Instances"]
    ec2.terminate_instances(InstanceIds=[run[1]["InstanceId"]])
    elb = client("elbv2", "us-west-2", moto_server.endpoint)
    elb.create_load_balancer(Name="t-nlb", Type="network", Subnets=[subnet], SecurityGroups=[sg])
    elb.create_load_balancer(Name="t-open", Type="network", Subnets=[subnet])
    eps, groups, errors = sg_double.read_world(moto_server.endpoint, ["us-west-2"],
                                              {"us-west-2/t-nlb": "198.18.101.10", "us-west-2/t-open": "198.18.101.11"})
    assert errors == []
    by_addr = {e["address"]: e for e in eps}
    assert set(by_addr) == {run[0]["PrivateIpAddress"], "198.18.101.10"}
    assert by_addr[run[0]["PrivateIpAddress"]]["groups"] == [sg]
    assert by_addr["198.18.101.10"] == {"address": "198.18.101.10", "region": "us-west-2", "kind": "load-balancer",
                                        "id": "us-west-2/t-nlb", "groups": [sg]}
    assert groups[sg]["name"] == "t-proxy"


# --- on the wire -----------------------------------------------------------------------------------------
def sh(*cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {p.stderr}")
    return p


def connects(ns, ip, port):
    """'open' (connected), 'refused' (RST: nothing listens, the packet arrived) or 'dropped' (no answer in 2 s)."""
    code = ("import socket,sys\ns=socket.socket();s.settimeout(2)\n"
            f"try:\n s.connect(('{ip}',{port}));print('open')\nexcept ConnectionRefusedError: print('refused')\n"
            "except OSError: print('dropped')")
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return sh(*prefix, "python3", "-c", code).stdout.strip()


@pytest.fixture
def wire():
    if os.geteuid() != 0:
        pytest.fail("the security-group double's wire test needs root (bridges, namespaces, nftables)")
    sg_double.check_bridge_netfilter()
    cleanup = []
    try:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        cleanup.append(["ip", "link", "del", BRIDGE])
        sh("ip", "addr", "add", f"{GW}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        servers = []
        for name, ip in (("tsgd-a", A), ("tsgd-b", B)):
            sh("ip", "netns", "add", name)
            cleanup.insert(0, ["ip", "netns", "del", name])
            sh("ip", "link", "add", f"{name}-h", "type", "veth", "peer", "name", "eth0", "netns", name)
            sh("ip", "link", "set", f"{name}-h", "master", BRIDGE, "up")
            for cmd in (["ip", "addr", "add", f"{ip}/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                        ["ip", "link", "set", "lo", "up"]):
                sh("ip", "netns", "exec", name, *cmd)
            # A listener on 8080, 8081 and 9000 in each namespace.
            code = ("import socket,select\nss=[]\nfor p in (8080,8081,9000):\n s=socket.socket();"
                    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                    f" s.bind(('{ip}',p));s.listen(16);ss.append(s)\nwhile True:\n"
                    " r,_,_=select.select(ss,[],[])\n for s in r:\n  c,_=s.accept();c.settimeout(10)\n"
                    "  if s.getsockname()[1]==9000:\n   c.sendall(c.recv(1))\n  c.close()")
            servers.append(subprocess.Popen(["ip", "netns", "exec", name, "python3", "-c", code]))
        deadline = time.monotonic() + 10
        while not all(connects(ns, ip, 9000) == "open" for ns, ip in (("tsgd-a", B), ("tsgd-b", A))):
            assert time.monotonic() < deadline, "the test listeners did not come up"
            time.sleep(0.1)
        yield
    finally:
        sg_double.remove(TABLE)
        for p in locals().get("servers", []):
            p.kill()
        for cmd in cleanup:
            sh(*cmd, check=False)


def test_enforced_on_the_wire(wire):
    groups = {
        # a: may send only to b's 8080 and 9000; admits b on 8081.
        "sg-0000000aa": group([perm("tcp", 8081, groups=["sg-0000000bb"])],
                              egress=[perm("tcp", 8080, groups=["sg-0000000bb"]), perm("tcp", 9000, cidrs=[f"{B}/32"])]),
        # b: admits a's group on 8080, this machine (the bridge's address) on 8081, everyone on 9000.
        "sg-0000000bb": group([perm("tcp", 8080, groups=["sg-0000000aa"]), perm("tcp", 8081, cidrs=[f"{GW}/32"]),
                               perm("tcp", 9000, cidrs=["0.0.0.0/0"])]),
    }
    script, _, errors = sg_double.compile_rules([endpoint(A, "sg-0000000aa"), endpoint(B, "sg-0000000bb")], groups, TABLE)
    assert errors == []
    sg_double.nft(["-f", "-"], input=script)
    assert connects("tsgd-a", B, 8080) == "open"        # a's egress and b's ingress both allow
    assert connects("tsgd-a", B, 8081) == "dropped"     # a's egress allows nothing to 8081
    assert connects(None, B, 8081) == "open"            # this machine is admitted on 8081
    assert connects(None, B, 8080) == "dropped"         # but not on 8080: only a's group is
    assert connects("tsgd-a", B, 9000) == "open"
    assert connects("tsgd-b", A, 8081) == "open"        # b's egress is all, a admits b's group on 8081
    assert connects("tsgd-b", A, 8080) == "dropped"     # nothing admits 8080 to a
    flows = sg_double.dropped(TABLE)
    assert (A, B, "tcp", "8081") in flows and (GW, B, "tcp", "8080") in flows and (B, A, "tcp", "8080") in flows
    assert not any(f[3] in ("9000",) for f in flows)
    # Stateful: a long flow a opened keeps working when the rule that admitted it goes (EC2 keeps tracked
    # connections); a new one is refused.
    conn = subprocess.Popen(["ip", "netns", "exec", "tsgd-a", "python3", "-c",
                             "import socket,sys,time\ns=socket.create_connection(('%s',9000),timeout=2)\n"
                             "print('up',flush=True)\nsys.stdin.readline()\ntry:\n s.settimeout(3);s.sendall(b'x')\n"
                             " print('echo' if s.recv(1)==b'x' else 'closed')\nexcept OSError as e: print('failed',e)" % B],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert conn.stdout.readline().strip() == "up"
    groups["sg-0000000bb"]["ingress"] = groups["sg-0000000bb"]["ingress"][:2]
    script, _, _ = sg_double.compile_rules([endpoint(A, "sg-0000000aa"), endpoint(B, "sg-0000000bb")], groups, TABLE)
    sg_double.nft(["-f", "-"], input=script)
    assert connects("tsgd-a", B, 9000) == "dropped"
    out, _ = conn.communicate("go\n", timeout=10)
    assert out.strip() == "echo"
    listed = json.loads(sg_double.nft(["-j", "list", "table", "inet", TABLE]))
    assert any("chain" in x and x["chain"]["name"] == "forward_hook" for x in listed["nftables"])
