"""A three-region cluster with everything switched on: separate listeners (plus Kubernetes
and a database port), an internal proxy NLB per region, split DNS in a private zone, SSH
and metrics CIDRs, AMIs resolved in the play, a per-region pool size. A --check run on
the empty world first, then converge, idempotence and check mode."""
import pytest
from aws_scenario import EDGE_CONVERGE_NEEDS, POOLS_CONVERGE_NEEDS, World, converged, infra_policy_proof
from aws_state import ALL_OUT, asg, health_checks, latest_template_data, listener_targets, load_balancer, mutating_actions, records, rules, security_group, tcp

# Split DNS needs the private zone's statements.
NEEDED_BY_THIS_SCENARIO = POOLS_CONVERGE_NEEDS + EDGE_CONVERGE_NEEDS + ["edge:CreateThePrivateZone", "edge:KeepThePrivateZone"]
CLUSTER = "tp.example.org"
REGIONS = {"us-east-1": "10.11.0.0/16", "eu-west-1": "10.12.0.0/16", "ap-southeast-2": "10.13.0.0/16"}
NAMES = {CLUSTER, "*." + CLUSTER}
SSH = "192.0.2.0/24"
METRICS = "198.51.100.7/32"
CLIENTS = ["203.0.113.0/24", "198.51.100.0/24"]
# Documentation addresses (RFC 5737) in the place of the checkers' published ranges.
CHECKERS = ["192.0.2.0/26", "198.51.100.0/26"]
LISTENERS = {443: 3080, 3023: 3023, 3024: 3024, 3026: 3026, 3036: 3036}
EXTRA = dict(
    aws_cluster_short_name="tp",
    aws_pools_image_resolution="play",
    aws_pools_proxy_by_region={"ap-southeast-2": {"desired_capacity": 3, "max_size": 5}},
    # The proxies' own listen addresses (the teleport role renders them): the NLB opens exactly these ports.
    teleport_proxy_listener_mode="separate", teleport_proxy_kube_listen_addr="0.0.0.0:3026",
    teleport_proxy_mysql_listen_addr="0.0.0.0:3036",
    aws_edge_internal_nlb=True, aws_edge_split_dns=True,
    aws_edge_client_cidrs=CLIENTS, aws_edge_ssh_cidrs=[SSH], aws_edge_metrics_cidrs=[METRICS],
    # Clients narrowed: Route 53's checkers are admitted on 443 by a rule of their own.
    aws_edge_route53_checker_cidrs=CHECKERS,
    # No SSH Service on the cluster's hosts: nothing opens its port.
    teleport_ssh_service_enabled=False,
    aws_edge_deregistration_delay=120, aws_edge_dns_ttl=20,
    aws_edge_gslb_health_check_regions=["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"],
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("three-regions"), CLUSTER, "eu-west-1", REGIONS, zone="example.org")
    w.base = w.vars(**EXTRA)
    w.fresh_check = w.run("pools", w.base, "--check", "--diff")
    w.edge_before_pools = w.run("edge", w.base)
    w.first_pools = converged(w.run("pools", w.base))
    w.edge_check = w.run("edge", w.base, "--check", "--diff")
    w.first_edge = converged(w.run("edge", w.base))
    yield w
    w.stop()


def vpc(world, region):
    return world.made["regions"][region]["vpc_id"]


def test_a_check_run_on_the_empty_world_shows_the_pools_and_writes_nothing(world):
    run = converged(world.fresh_check)
    assert run.changed > 0 and run.mutating == []
    asgs = run.task("Auto Scaling group")["results"]
    assert sorted(r["item"]["asg_name"] for r in asgs if r["changed"]) == sorted(
        ["tp-auth-eu-west-1"] + [f"tp-proxy-{r}" for r in REGIONS])
    assert all(r["diff"]["after"]["launch_template"]["name"] for r in asgs)


def test_the_edge_refuses_to_run_before_the_pools_exist(world):
    run = world.edge_before_pools
    assert run.rc != 0 and run.mutating == []
    assert any("run aws-pools.yml first" in m for m in run.failures())


def test_a_check_run_of_the_edge_shows_every_resource_it_would_make_and_writes_nothing(world):
    run = converged(world.edge_check)
    assert run.changed > 0 and run.mutating == []
    public = run.task("public zone's latency records")
    assert len(public["changes"]) == 2 * len(REGIONS) and all(c.startswith("UPSERT") for c in public["changes"])
    private = run.task("private zone's latency records")
    assert len(private["changes"]) == 2 * len(REGIONS)
    per_region = run.task("network load balancers")["results"]
    assert all(r["changed"] for r in per_region)
    assert sum(len(r["load_balancers"]) for r in per_region) == 2 * len(REGIONS) + 1
    assert all(m["dns_name"].startswith("pending:") for r in per_region for m in r["load_balancers"].values())


def test_launch_templates_hold_the_ami_id_resolved_in_the_play(world):
    for region in REGIONS:
        ami = world.made["regions"][region]["ami"]
        _, data = latest_template_data(world.client("ec2", region), "tp-proxy")
        assert data["ImageId"] == ami
        g = asg(world.client("autoscaling", region), f"tp-proxy-{region}")
        ids = [i["InstanceId"] for i in g["Instances"]]
        reservations = world.client("ec2", region).describe_instances(InstanceIds=ids)["Reservations"]
        assert {i["ImageId"] for r in reservations for i in r["Instances"]} == {ami}


def test_pool_sizes_follow_the_per_region_override(world):
    sizes = {r: (asg(world.client("autoscaling", r), f"tp-proxy-{r}")["DesiredCapacity"],
                 asg(world.client("autoscaling", r), f"tp-proxy-{r}")["MaxSize"]) for r in REGIONS}
    assert sizes == {"us-east-1": (2, 4), "eu-west-1": (2, 4), "ap-southeast-2": (3, 5)}
    auth = asg(world.client("autoscaling", "eu-west-1"), "tp-auth-eu-west-1")
    assert len(auth["Instances"]) == 2


def test_both_proxy_nlbs_have_every_separate_mode_listener_on_their_own_target_groups(world):
    for region in REGIONS:
        elbv2 = world.client("elbv2", region)
        public = listener_targets(elbv2, "tp-proxy")
        internal = listener_targets(elbv2, "tp-proxy-int")
        assert public == {p: (f"tp-proxy-{t}", t) for p, t in LISTENERS.items()}
        assert internal == {p: (f"tp-proxy-int-{t}", t) for p, t in LISTENERS.items()}
        lb = load_balancer(elbv2, "tp-proxy-int")
        assert lb["Scheme"] == "internal" and lb["attributes"]["load_balancing.cross_zone.enabled"] == "true"
        assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(world.made["regions"][region]["subnets"])
        g = asg(world.client("autoscaling", region), f"tp-proxy-{region}")
        attached = {elbv2.describe_target_groups(TargetGroupArns=[a])["TargetGroups"][0]["TargetGroupName"]
                    for a in g["TargetGroupARNs"]}
        assert attached == {f"tp-proxy-{t}" for t in LISTENERS.values()} | {f"tp-proxy-int-{t}" for t in LISTENERS.values()}
        for name in attached:
            tg = elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]
            assert (tg["HealthCheckProtocol"], tg["HealthCheckPort"], tg["HealthCheckPath"]) == ("HTTP", "3000", "/readyz")
            attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
                TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
            assert attrs["deregistration_delay.timeout_seconds"] == "120"
    assert listener_targets(world.client("elbv2", "eu-west-1"), "tp-auth") == {3025: ("tp-auth-3025", 3025)}


def test_security_groups_are_exact_with_ssh_metrics_and_both_nlbs(world):
    vpcs = list(REGIONS.values())
    ports = sorted(set(LISTENERS.values())) + [3000]
    for region in REGIONS:
        ec2 = world.client("ec2", region)
        v = vpc(world, region)
        for nlb_group, cidrs, extra in (("tp-proxy-nlb", CLIENTS, {tcp(443, c) for c in CHECKERS}),
                                        ("tp-proxy-int-nlb", vpcs, set())):
            assert rules(ec2, security_group(ec2, v, nlb_group)) == (
                {tcp(p, c) for p in LISTENERS for c in cidrs} | extra, {tcp(p, "sg:tp-proxy") for p in ports})
        ingress = ({tcp(p, "sg:" + g) for p in ports for g in ("tp-proxy-nlb", "tp-proxy-int-nlb")}
                   | {tcp(3021, c) for c in vpcs} | {tcp(22, SSH), tcp(9810, METRICS), tcp(3000, METRICS)})
        assert rules(ec2, security_group(ec2, v, "tp-proxy")) == (ingress, ALL_OUT)
    ec2 = world.client("ec2", "eu-west-1")
    v = vpc(world, "eu-west-1")
    assert rules(ec2, security_group(ec2, v, "tp-auth-nlb")) == (
        {tcp(3025, "sg:tp-proxy"), tcp(3025, "10.11.0.0/16"), tcp(3025, "10.13.0.0/16")},
        {tcp(3025, "sg:tp-auth"), tcp(3000, "sg:tp-auth")})
    assert rules(ec2, security_group(ec2, v, "tp-auth")) == (
        {tcp(3025, "sg:tp-auth-nlb"), tcp(3000, "sg:tp-auth-nlb"), tcp(22, SSH), tcp(9810, METRICS), tcp(3000, METRICS)},
        ALL_OUT)


def test_public_gslb_and_split_dns_point_each_region_at_its_nlbs(world):
    r53 = world.client("route53")
    zones = r53.list_hosted_zones_by_name(DNSName="example.org")["HostedZones"]
    private = [z for z in zones if z["Name"] == "example.org." and z["Config"]["PrivateZone"]]
    assert len(private) == 1
    private_id = private[0]["Id"].split("/")[-1]
    assert sorted((v["VPCRegion"], v["VPCId"]) for v in r53.get_hosted_zone(Id=private_id)["VPCs"]) == \
        sorted((r, vpc(world, r)) for r in REGIONS)
    public = records(r53, world.made["zone_id"], NAMES)
    split = records(r53, private_id, NAMES)
    checks = health_checks(r53)
    assert set(public) == set(split) == {(n, f"{i}/{r}") for r in REGIONS
                                          for n, i in ((CLUSTER, CLUSTER), ("*." + CLUSTER, "wildcard." + CLUSTER))}
    for region in REGIONS:
        elbv2 = world.client("elbv2", region)
        outside = elbv2.describe_load_balancers(Names=["tp-proxy"])["LoadBalancers"][0]["DNSName"]
        inside = elbv2.describe_load_balancers(Names=["tp-proxy-int"])["LoadBalancers"][0]["DNSName"]
        check, _ = checks[f"{CLUSTER} {region}"]
        assert sorted(check["HealthCheckConfig"]["Regions"]) == ["ap-southeast-2", "eu-west-1", "us-east-1", "us-west-2"]
        assert check["HealthCheckConfig"]["FullyQualifiedDomainName"] == outside
        for (_name, ident), rr in public.items():
            if ident.endswith("/" + region):
                assert (rr["Region"], rr["TTL"], rr["ResourceRecords"], rr["HealthCheckId"]) == \
                    (region, 20, [{"Value": outside}], check["Id"])
        for (_name, ident), rr in split.items():
            if ident.endswith("/" + region):
                assert (rr["Region"], rr["TTL"], rr["ResourceRecords"]) == (region, 20, [{"Value": inside}])
                assert "HealthCheckId" not in rr  # Route 53's checkers cannot reach an internal NLB


def test_a_second_run_changes_nothing_and_makes_no_mutating_call(world):
    run = converged(world.run("both", world.base))
    assert (run.changed, run.mutating) == (0, [])


def test_a_check_run_after_converge_reports_no_change(world):
    run = converged(world.run("both", world.base, "--check", "--diff"))
    assert (run.changed, run.mutating) == (0, [])


def test_steering_a_region_off_takes_it_out_of_both_zones_in_one_batch_each(world):
    run = converged(world.run("edge", dict(world.base, aws_edge_steered_off_regions=["ap-southeast-2"])))
    assert sorted(mutating_actions(run)) == sorted(
        f"POST /2013-04-01/hostedzone/{z}/rrset/" for z in (world.made["zone_id"], run.task("private hosted zone")["hosted_zone_id"]))
    r53 = world.client("route53")
    assert not [k for k in records(r53, world.made["zone_id"], NAMES) if k[1].endswith("/ap-southeast-2")]
    assert len(records(r53, world.made["zone_id"], NAMES)) == 4


def test_the_infrastructure_playbooks_documents_allow_every_call_and_each_statement_is_needed(world):
    """aws_scenario.infra_policy_proof, on this scenario's runs."""
    infra_policy_proof(world, NEEDED_BY_THIS_SCENARIO)
