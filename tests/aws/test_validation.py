"""Bad inputs stop both playbooks in their first, read-only step, with a message that names
the variable and the fix, and without a single mutating AWS call. The runs are independent
(each behind its own CountingProxy), so they run three at a time."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from aws_scenario import World

from harness.ansible import unfold

CLUSTER = "teleport.example.com"
REGIONS = {"us-west-2": "10.21.0.0/16", "eu-central-1": "10.22.0.0/16"}


def regions_with(world, region, **entry):
    return [dict(r, **entry) if r["region"] == region else r for r in world.vars()["aws_cluster_regions"]]


# (id, playbook, variables over the good ones (a callable of the world for world-dependent ones), message)
CASES = [
    ("region without subnets", "pools", lambda w: {"aws_cluster_regions": regions_with(w, "eu-central-1", subnets=[])},
     "region eu-central-1 has no subnets"),
    ("subnet that does not exist", "pools",
     lambda w: {"aws_cluster_regions": regions_with(w, "us-west-2", subnets=["subnet-0123456789abcdef0"])},
     "subnets subnet-0123456789abcdef0 do not exist there"),
    ("subnets of two VPCs", "edge",
     lambda w: {"aws_cluster_regions": regions_with(w, "us-west-2", subnets=w.made["regions"]["us-west-2"]["subnets"] + [w.other_subnet])},
     "the subnets are in several VPCs"),
    ("auth region not among the regions", "pools", {"aws_cluster_auth_region": "ap-south-1"},
     "aws_cluster_auth_region is 'ap-south-1' but aws_cluster_regions lists us-west-2, eu-central-1"),
    ("short name too long for target groups", "edge", {"aws_cluster_short_name": "a-very-long-cluster-name"},
     "aws_cluster_short_name is 'a-very-long-cluster-name'"),
    ("AMI not published", "pools", {"aws_pools_image_parameter": "/teleport/other/ami/x86_64"},
     "SSM parameter /teleport/other/ami/x86_64 is missing in us-west-2"),
    ("launch hook timeout Auto Scaling refuses", "pools", {"aws_pools_launch_hook_timeout": 10},
     "aws_pools_launch_hook_timeout is 10 s; PutLifecycleHook accepts a HeartbeatTimeout of 30 to 7200 s"),
    ("pool sizes out of order", "pools", {"aws_pools_proxy_by_region": {"eu-central-1": {"min_size": 3, "desired_capacity": 2}}},
     "The proxy pool in eu-central-1 has min_size 3, desired_capacity 2"),
    ("hosted zone that does not exist", "edge", {"aws_edge_hosted_zone": "example.net", "aws_cluster_name": "teleport.example.net"},
     "No public hosted zone example.net exists in Route 53"),
    ("cluster name outside the zone", "edge", {"aws_cluster_name": "teleport.example.net"},
     "aws_cluster_name teleport.example.net is not a name below example.com"),
    ("cluster name at the zone apex", "edge", {"aws_edge_hosted_zone": CLUSTER},
     "aws_cluster_name teleport.example.com is not a name below teleport.example.com"),
    ("split DNS without internal NLBs", "edge", {"aws_edge_split_dns": True},
     "aws_edge_split_dns is true but aws_edge_internal_nlb is false"),
    ("every region steered off", "edge", {"aws_edge_steered_off_regions": ["us-west-2", "eu-central-1"]},
     "leave at least one of us-west-2, eu-central-1 in the GSLB"),
    ("too few Route 53 checker regions", "edge", {"aws_edge_gslb_health_check_regions": ["us-east-1", "eu-west-1"]},
     "Route 53 needs at least 3 distinct checker regions"),
    ("a CIDR that is not one", "edge", {"aws_edge_ssh_cidrs": ["10.0.0.1"]},
     "aws_edge_ssh_cidrs: '10.0.0.1' is not a CIDR block"),
    ("clients narrowed without Route 53's checkers", "edge", {"aws_edge_client_cidrs": ["198.18.0.0/15"]},
     "aws_edge_client_cidrs (198.18.0.0/15) does not admit everyone, so the GSLB's Route 53"),
    ("a checker range that is not one", "edge", {"aws_edge_client_cidrs": ["198.18.0.0/15"],
                                                 "aws_edge_route53_checker_cidrs": ["15.177.0.0/18", "any"]},
     "aws_edge_route53_checker_cidrs: 'any' is not a CIDR block"),
    ("a variable of the wrong type", "edge", {"aws_edge_dns_ttl": "short"},
     "aws_edge_dns_ttl"),
    # The NLB's Kubernetes and database listeners follow the proxies' listen addresses, never a list of their own.
    ("a listener of the NLB's own", "edge", {"aws_edge_proxy_listener_mode": "separate", "aws_edge_kube_listener": True},
     "aws_edge_kube_listener and aws_edge_database_ports are gone"),
    ("a proxy listener outside separate mode", "edge",
     {"teleport_proxy_listener_mode": "separate", "aws_edge_proxy_listener_mode": "multiplex",
      "teleport_proxy_mysql_listen_addr": "0.0.0.0:3036"},
     'The proxies\' listeners {"teleport_proxy_mysql_listen_addr": "0.0.0.0:3036"} (teleport_proxy_*_listen_addr) apply only'),
    # Every check of a role's preflight is one rule of one assert: each broken rule is named, and a loop's rules
    # name each bad item.
    ("a region listed twice and one that is none", "pools",
     lambda w: {"aws_cluster_regions": w.vars()["aws_cluster_regions"] + [dict(w.vars()["aws_cluster_regions"][0]),
                                                                          {"region": "Mars", "subnets": ["subnet-1"]}]},
     "aws_cluster_regions: region 'Mars' is not an AWS region name (such as us-west-2) or is listed twice. "
     "aws_cluster_regions: region 'us-west-2' is not an AWS region name"),
    ("an override of an unknown region and key", "pools",
     {"aws_pools_proxy_by_region": {"eu-central-1": {"size": 3}, "ap-south-1": {}},
      "aws_pools_extra_security_group_ids": {"us-west-2": ["sg-0123", "web"]}},
     "aws_pools_proxy_by_region.eu-central-1: unknown keys size; allowed:"),
    ("a proxy listener on a port taken", "edge",
     {"teleport_proxy_listener_mode": "separate", "teleport_proxy_kube_listen_addr": "0.0.0.0:3024"},
     "each needs a host:port with a port of its own"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("validation"), CLUSTER, "us-west-2", REGIONS)
    ec2 = w.client("ec2", "us-west-2")
    other = ec2.create_vpc(CidrBlock="10.29.0.0/16")["Vpc"]["VpcId"]
    w.other_subnet = ec2.create_subnet(VpcId=other, CidrBlock="10.29.1.0/24", AvailabilityZone="us-west-2a")["Subnet"]["SubnetId"]

    def one(case):
        _, playbook, extra, _ = case
        return w.run(playbook, dict(w.vars(), **(extra(w) if callable(extra) else extra)))
    with ThreadPoolExecutor(max_workers=3) as pool:
        out = dict(zip((c[0] for c in CASES), pool.map(one, CASES), strict=False))
    yield out
    w.stop()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_first_with_a_clear_message_and_writes_nothing(results, case):
    run = results[case[0]]
    assert run.rc != 0
    assert run.mutating == []
    text = " ".join(run.failures()) or run.rest
    assert case[3] in unfold(text), text[-2000:]
