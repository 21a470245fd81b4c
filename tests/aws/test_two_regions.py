"""aws-pools.yml then aws-edge.yml for a two-region cluster (auth and proxies in us-west-2,
proxies in eu-central-1, TLS routing), every resource read back from moto; then
idempotence, check mode, steering a region off and back, and the inventory service."""
import json
import subprocess

import pytest
import yaml
from aws_scenario import EDGE_CONVERGE_NEEDS, POOLS_CONVERGE_NEEDS, ROOT, World, converged, infra_policy_proof
from aws_state import (
    ALL_OUT,
    asg,
    health_checks,
    latest_template_data,
    listener_targets,
    load_balancer,
    mutating_actions,
    records,
    rules,
    security_group,
    tags,
    target_group,
    tcp,
)

# The hand-made drift of test_parts_terraform_owns_are_left_alone needs the template and listener statements.
NEEDED_BY_THIS_SCENARIO = POOLS_CONVERGE_NEEDS + EDGE_CONVERGE_NEEDS + ["pools:KeepTheClustersGroupsAndTemplates", "edge:KeepTheListeners"]
CLUSTER = "teleport.example.com"
REGIONS = {"us-west-2": "10.1.0.0/16", "eu-central-1": "10.2.0.0/16"}
NAMES = {CLUSTER, "*." + CLUSTER}
PARAMETER = f"/teleport/{CLUSTER}/ami/x86_64"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-regions")
    w = World(tmp, CLUSTER, "us-west-2", REGIONS)
    w.auth_file = tmp / "group_vars" / "teleport_proxy" / "auth_server.yml"
    w.base = w.vars(aws_edge_auth_server_file=str(w.auth_file))
    w.first_pools = converged(w.run("pools", w.base))
    w.first_edge = converged(w.run("edge", w.base))
    yield w
    w.stop()


def vpc(world, region):
    return world.made["regions"][region]["vpc_id"]


def test_first_runs_change_things_and_say_so(world):
    assert world.first_pools.changed > 0 and world.first_edge.changed > 0
    actions = mutating_actions(world.first_pools)
    assert actions.count("CreateAutoScalingGroup") == 3 and actions.count("CreateLaunchTemplate") == 3
    # Every Route 53 record change of the run went out as one change batch.
    batches = [a for a in mutating_actions(world.first_edge) if a.endswith("/rrset/")]
    assert len(batches) == 1


def test_launch_templates_use_the_published_ami_with_imdsv2_and_an_encrypted_root(world):
    for region in REGIONS:
        ec2 = world.client("ec2", region)
        roles = ["auth", "proxy"] if region == "us-west-2" else ["proxy"]
        names = {t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}
        assert names == {f"teleport-{r}" for r in roles}
        for role in roles:
            lt, data = latest_template_data(ec2, f"teleport-{role}")
            assert lt["LatestVersionNumber"] == 1 and lt["DefaultVersionNumber"] == 1
            assert data["ImageId"] == "resolve:ssm:" + PARAMETER
            assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1}
            (bdm,) = data["BlockDeviceMappings"]
            image = ec2.describe_images(ImageIds=[world.made["regions"][region]["ami"]])["Images"][0]
            assert bdm["DeviceName"] == image["RootDeviceName"]
            assert bdm["Ebs"]["Encrypted"] is True and bdm["Ebs"]["VolumeType"] == "gp3" and bdm["Ebs"]["DeleteOnTermination"] is True
            assert data["SecurityGroupIds"] == [security_group(ec2, vpc(world, region), f"teleport-{role}")["GroupId"]]
            assert data["InstanceType"] == "m6i.large"
            assert tags(lt["Tags"]) == {"TeleportCluster": CLUSTER, "TeleportRole": role}


def test_asgs_are_tagged_health_checked_by_ec2_hooked_and_attached_to_the_edge(world):
    for region in REGIONS:
        autoscaling = world.client("autoscaling", region)
        elbv2 = world.client("elbv2", region)
        roles = ["auth", "proxy"] if region == "us-west-2" else ["proxy"]
        for role in roles:
            g = asg(autoscaling, f"teleport-{role}-{region}")
            assert g["LaunchTemplate"]["LaunchTemplateName"] == f"teleport-{role}" and g["LaunchTemplate"]["Version"] == "$Latest"
            assert {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in g["Tags"]} == {
                "TeleportCluster": (CLUSTER, True), "TeleportRole": (role, True), "Name": (f"teleport-{role}-{region}", True)}
            # EC2 health: a shared dependency down (auth, its NLB) never replaces the fleet (docs/boot.md).
            assert g["HealthCheckType"] == "EC2" and g["HealthCheckGracePeriod"] == 600
            hooks = {h["LifecycleHookName"]: (h["LifecycleTransition"], h["DefaultResult"], h["HeartbeatTimeout"])
                     for h in autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=g["AutoScalingGroupName"])["LifecycleHooks"]}
            assert hooks == {"teleport-launch": ("autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON", 1200),
                             "teleport-terminate": ("autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE", 360)}
            assert sorted(g["VPCZoneIdentifier"].split(",")) == sorted(world.made["regions"][region]["subnets"])
            assert (g["MinSize"], g["DesiredCapacity"], g["MaxSize"]) == ((2, 2, 3) if role == "auth" else (2, 2, 4))
            attached = {elbv2.describe_target_groups(TargetGroupArns=[a])["TargetGroups"][0]["TargetGroupName"]
                        for a in g["TargetGroupARNs"]}
            assert attached == ({"teleport-auth-3025"} if role == "auth" else {"teleport-proxy-3080"})
            # Instances carry the propagated tags the inventory service reads.
            ids = [i["InstanceId"] for i in g["Instances"]]
            assert len(ids) == 2
            ec2 = world.client("ec2", region)
            for res in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
                for inst in res["Instances"]:
                    assert {"TeleportCluster": CLUSTER, "TeleportRole": role}.items() <= tags(inst["Tags"]).items()


def test_proxy_nlbs_are_internet_facing_cross_zone_and_forward_443_to_3080(world):
    for region in REGIONS:
        elbv2 = world.client("elbv2", region)
        lb = load_balancer(elbv2, "teleport-proxy")
        assert lb["Type"] == "network" and lb["Scheme"] == "internet-facing"
        assert lb["attributes"]["load_balancing.cross_zone.enabled"] == "true"
        assert lb["attributes"]["deletion_protection.enabled"] == "true"
        assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(world.made["regions"][region]["subnets"])
        assert lb["SecurityGroups"] == [security_group(world.client("ec2", region), vpc(world, region), "teleport-proxy-nlb")["GroupId"]]
        assert listener_targets(elbv2, "teleport-proxy") == {443: ("teleport-proxy-3080", 3080)}
        with pytest.raises(elbv2.exceptions.LoadBalancerNotFoundException):
            elbv2.describe_load_balancers(Names=["teleport-proxy-int"])


def test_auth_nlb_is_internal_on_3025_in_the_auth_region_only(world):
    elbv2 = world.client("elbv2", "us-west-2")
    lb = load_balancer(elbv2, "teleport-auth")
    assert lb["Scheme"] == "internal" and lb["attributes"]["load_balancing.cross_zone.enabled"] == "true"
    assert listener_targets(elbv2, "teleport-auth") == {3025: ("teleport-auth-3025", 3025)}
    with pytest.raises(elbv2.exceptions.LoadBalancerNotFoundException):
        world.client("elbv2", "eu-central-1").describe_load_balancers(Names=["teleport-auth"])


def test_target_groups_check_readyz_on_the_diag_port_and_drain_for_long_connections(world):
    for region, name in [("us-west-2", "teleport-proxy-3080"), ("eu-central-1", "teleport-proxy-3080"),
                         ("us-west-2", "teleport-auth-3025")]:
        elbv2 = world.client("elbv2", region)
        arn = elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
        tg = target_group(elbv2, arn)
        assert (tg["Protocol"], tg["TargetType"], tg["VpcId"]) == ("TCP", "instance", vpc(world, region))
        assert (tg["HealthCheckProtocol"], tg["HealthCheckPort"], tg["HealthCheckPath"], tg["Matcher"]) == \
            ("HTTP", "3000", "/readyz", {"HttpCode": "200"})
        assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"], tg["HealthyThresholdCount"],
                tg["UnhealthyThresholdCount"]) == (10, 5, 3, 3)
        assert tg["attributes"]["deregistration_delay.timeout_seconds"] == "300"
        assert tg["attributes"]["deregistration_delay.connection_termination.enabled"] == "true"
        assert tg["attributes"]["proxy_protocol_v2.enabled"] == "false"
        assert tg["attributes"]["preserve_client_ip.enabled"] == "true"
        assert tg["tags"]["TeleportCluster"] == CLUSTER and tg["tags"]["TeleportRole"] == name.split("-")[1]


def test_security_groups_open_exactly_what_teleport_needs(world):
    peers = {tcp(3021, c) for c in REGIONS.values()}
    for region in REGIONS:
        ec2 = world.client("ec2", region)
        v = vpc(world, region)
        assert rules(ec2, security_group(ec2, v, "teleport-proxy-nlb")) == (
            {tcp(443, "0.0.0.0/0")}, {tcp(3080, "sg:teleport-proxy"), tcp(3000, "sg:teleport-proxy")})
        others = {c for r, c in REGIONS.items() if r != region}
        ssh_service = {tcp(3022, "sg:teleport-proxy")} | {tcp(3022, c) for c in others}
        assert rules(ec2, security_group(ec2, v, "teleport-proxy")) == (
            {tcp(3080, "sg:teleport-proxy-nlb"), tcp(3000, "sg:teleport-proxy-nlb")} | peers | ssh_service, ALL_OUT)
    ec2 = world.client("ec2", "us-west-2")
    v = vpc(world, "us-west-2")
    assert rules(ec2, security_group(ec2, v, "teleport-auth-nlb")) == (
        {tcp(3025, "sg:teleport-proxy"), tcp(3025, "10.2.0.0/16")}, {tcp(3025, "sg:teleport-auth"), tcp(3000, "sg:teleport-auth")})
    assert rules(ec2, security_group(ec2, v, "teleport-auth")) == (
        {tcp(3025, "sg:teleport-auth-nlb"), tcp(3000, "sg:teleport-auth-nlb"),
         tcp(3022, "sg:teleport-proxy"), tcp(3022, "10.2.0.0/16")}, ALL_OUT)
    names = {g["GroupName"] for g in world.client("ec2", "eu-central-1").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc(world, "eu-central-1")]}])["SecurityGroups"]}
    assert names == {"default", "teleport-proxy", "teleport-proxy-nlb"}


def gslb_state(world):
    r53 = world.client("route53")
    return records(r53, world.made["zone_id"], NAMES), health_checks(r53)


def test_gslb_has_a_latency_record_per_name_and_region_with_a_health_check(world):
    recs, checks = gslb_state(world)
    assert set(recs) == {(n, f"{i}/{r}") for r in REGIONS for n, i in ((CLUSTER, CLUSTER), ("*." + CLUSTER, "wildcard." + CLUSTER))}
    for region in REGIONS:
        dns = world.client("elbv2", region).describe_load_balancers(Names=["teleport-proxy"])["LoadBalancers"][0]["DNSName"]
        check, check_tags = checks[f"{CLUSTER} {region}"]
        cfg = check["HealthCheckConfig"]
        assert (cfg["Type"], cfg["Port"], cfg["ResourcePath"], cfg["FullyQualifiedDomainName"], cfg["EnableSNI"]) == \
            ("HTTPS", 443, "/v1/webapi/ping", dns, True)
        assert sorted(cfg["Regions"]) == ["eu-west-1", "us-east-1", "us-west-2"]
        assert (cfg["RequestInterval"], cfg["FailureThreshold"], cfg["Inverted"]) == (30, 3, False)
        assert check_tags["TeleportCluster"] == CLUSTER
        for name, ident in ((CLUSTER, CLUSTER), ("*." + CLUSTER, "wildcard." + CLUSTER)):
            rr = recs[(name, f"{ident}/{region}")]
            assert (rr["Type"], rr["Region"], rr["TTL"], rr["HealthCheckId"]) == ("CNAME", region, 30, check["Id"])
            assert rr["ResourceRecords"] == [{"Value": dns}]


def test_the_auth_nlb_address_is_written_for_the_proxies(world):
    dns = world.client("elbv2", "us-west-2").describe_load_balancers(Names=["teleport-auth"])["LoadBalancers"][0]["DNSName"]
    assert yaml.safe_load(world.auth_file.read_text()) == {"teleport_auth_server": f"{dns}:3025"}
    report = world.first_edge.task("Report the edge")["msg"]
    assert report["auth_server"] == f"{dns}:3025"
    assert set(report["proxy_nlbs"]) == set(REGIONS)


def test_a_second_run_changes_nothing_and_makes_no_mutating_call(world):
    run = converged(world.run("both", world.base))
    assert run.changed == 0
    assert run.mutating == []


def test_a_check_run_after_converge_reports_no_change_and_writes_nothing(world):
    run = converged(world.run("both", world.base, "--check", "--diff"))
    assert run.changed == 0
    assert run.mutating == []


def test_the_inventory_service_finds_the_groups_with_no_extra_configuration(world, tmp_path):
    jar = ROOT / "inventory-service/target/inventory-service.jar"
    if not jar.exists():
        pytest.fail(f"{jar} is missing: build it with `mvn -B -ntp -q -pl inventory-service -am package -DskipTests`")
    config = tmp_path / "inventory.yml"
    config.write_text(f"cluster: {CLUSTER}\nregions: [{', '.join(REGIONS)}]\naws:\n  endpoint_url: {world.moto.endpoint}\n")
    p = subprocess.run(["java", "-jar", str(jar), "list", "--config", str(config)], capture_output=True, text=True,
                       timeout=180, env=world.moto.env())
    assert p.returncode == 0, p.stderr
    inv = json.loads(p.stdout)
    assert len(inv["teleport_auth_us_west_2"]["hosts"]) == 2
    assert len(inv["teleport_proxy_us_west_2"]["hosts"]) == 2
    assert len(inv["teleport_proxy_eu_central_1"]["hosts"]) == 2
    assert len(inv["asg_teleport_proxy_eu_central_1"]["hosts"]) == 2


def test_each_region_records_its_pools_as_the_clusters_members(world):
    for region in REGIONS:
        value = world.client("ssm", region).get_parameter(Name=f"/teleport/{CLUSTER}/membership")["Parameter"]["Value"]
        record = json.loads(value)
        ec2 = world.client("ec2", region)
        ids = {t["LaunchTemplateName"]: t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}
        roles = ["auth", "proxy"] if region == "us-west-2" else ["proxy"]
        assert record == {"version": 1, "cluster": CLUSTER, "region": region, "groups": [
            {"name": f"teleport-{role}-{region}", "role": role, "launch_template_id": ids[f"teleport-{role}"],
             "instance_profile_arn": ""} for role in roles]}


def test_the_first_run_created_each_group_with_its_hooks(world):
    creates = [c for c in world.first_pools.calls if c[1] == "CreateAutoScalingGroup"]
    assert len(creates) == 3
    # The hooks go with CreateAutoScalingGroup (moto drops them, so the run also puts them: PutLifecycleHook twice per
    # group, never on a second run, which test_a_second_run_changes_nothing... proves).
    assert mutating_actions(world.first_pools).count("PutLifecycleHook") == 6


def test_a_group_pointed_at_another_launch_template_is_refused_not_recorded(world):
    """Someone with autoscaling:UpdateAutoScalingGroup points a pool Terraform owns at their own template: the run
    refuses to record it (its instances then never join), and names the group and the template."""
    region = "eu-central-1"
    ec2, eu = world.client("ec2", region), world.client("autoscaling", region)
    ec2.create_launch_template(LaunchTemplateName="not-ours", LaunchTemplateData={"ImageId": "ami-12c6146b"})
    eu.update_auto_scaling_group(AutoScalingGroupName=f"teleport-proxy-{region}",
                                 LaunchTemplate={"LaunchTemplateName": "not-ours", "Version": "$Latest"})
    before = world.client("ssm", region).get_parameter(Name=f"/teleport/{CLUSTER}/membership")["Parameter"]["Value"]
    owned = dict(world.base, aws_pools_proxy_by_region={region: {"manage_asg": False}})
    run = world.run("pools", owned)
    assert run.rc != 0
    assert any("launches from launch template not-ours" in m and "not the pool's teleport-proxy" in m
               for m in run.failures()), run.failures()
    after = world.client("ssm", region).get_parameter(Name=f"/teleport/{CLUSTER}/membership")["Parameter"]["Value"]
    assert after == before
    # Managed, the run points the group back at the pool's template, then records it as before.
    converged(world.run("pools", world.base))
    assert asg(eu, f"teleport-proxy-{region}")["LaunchTemplate"]["LaunchTemplateName"] == "teleport-proxy"


def test_steering_a_region_off_removes_only_its_records_and_back_restores_them(world):
    before, checks_before = gslb_state(world)
    off = converged(world.run("edge", dict(world.base, aws_edge_steered_off_regions=["eu-central-1"]), "--diff"))
    # One change batch: the region's two records deleted, nothing else written.
    assert mutating_actions(off) == [f"POST /2013-04-01/hostedzone/{world.made['zone_id']}/rrset/"]
    assert sorted(off.task("public zone's latency records")["changes"]) == [
        f"DELETE *.{CLUSTER} CNAME [wildcard.{CLUSTER}/eu-central-1]", f"DELETE {CLUSTER} CNAME [{CLUSTER}/eu-central-1]"]
    during, checks_during = gslb_state(world)
    assert during == {k: v for k, v in before.items() if not k[1].endswith("/eu-central-1")}
    assert set(checks_during) == set(checks_before)  # the region's health check stays, ready for its return
    eu = world.client("autoscaling", "eu-central-1")
    assert len(asg(eu, "teleport-proxy-eu-central-1")["Instances"]) == 2  # its pool keeps running
    world.client("elbv2", "eu-central-1").describe_load_balancers(Names=["teleport-proxy"])

    back = converged(world.run("edge", world.base))
    assert mutating_actions(back) == [f"POST /2013-04-01/hostedzone/{world.made['zone_id']}/rrset/"]
    after, _ = gslb_state(world)
    assert {k: (v["Type"], v["Region"], v["TTL"], v["HealthCheckId"], v["ResourceRecords"]) for k, v in after.items()} == \
        {k: (v["Type"], v["Region"], v["TTL"], v["HealthCheckId"], v["ResourceRecords"]) for k, v in before.items()}


def test_parts_terraform_owns_are_left_alone(world):
    """A region's pool, the security groups and the attachments switched off: the runs
    read them but write nothing, even where they differ from what the roles would make."""
    eu = world.client("autoscaling", "eu-central-1")
    eu.update_auto_scaling_group(AutoScalingGroupName="teleport-proxy-eu-central-1", MaxSize=5, DesiredCapacity=3)
    ec2 = world.client("ec2", "eu-central-1")
    sg = security_group(ec2, vpc(world, "eu-central-1"), "teleport-proxy")
    ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}])
    # A version of the launch template written by hand (another instance type): left alone while unmanaged.
    ec2.create_launch_template_version(LaunchTemplateName="teleport-proxy", SourceVersion="$Latest",
                                       LaunchTemplateData={"InstanceType": "t3.nano"})
    owned = dict(world.base, aws_pools_proxy_by_region={"eu-central-1": {"manage_asg": False, "manage_launch_template": False}},
                 aws_edge_manage_security_groups=False, aws_edge_attach_target_groups=False)
    run = converged(world.run("both", owned))
    assert (run.changed, run.mutating) == (0, [])
    assert asg(eu, "teleport-proxy-eu-central-1")["DesiredCapacity"] == 3
    assert tcp(8443, "10.9.0.0/16") in rules(ec2, security_group(ec2, vpc(world, "eu-central-1"), "teleport-proxy"))[0]
    # A listener turned elsewhere by hand (the auth target group) is turned back (ModifyListener).
    west = world.client("elbv2", "us-west-2")
    auth_tg = west.describe_target_groups(Names=["teleport-auth-3025"])["TargetGroups"][0]["TargetGroupArn"]
    west.modify_listener(ListenerArn=load_balancer(west, "teleport-proxy")["listeners"][443]["ListenerArn"],
                         DefaultActions=[{"Type": "forward", "TargetGroupArn": auth_tg}])
    assert listener_targets(west, "teleport-proxy") == {443: ("teleport-auth-3025", 3025)}
    # Managed again, the same runs converge them back; the rule added by hand is not the role's, so it stays
    # unless the role is told to purge.
    back = converged(world.run("both", world.base))
    assert back.changed > 0 and "ModifyListener" in mutating_actions(back)
    assert listener_targets(west, "teleport-proxy") == {443: ("teleport-proxy-3080", 3080)}
    assert asg(eu, "teleport-proxy-eu-central-1")["DesiredCapacity"] == 2
    assert {"CreateLaunchTemplateVersion", "ModifyLaunchTemplate"} <= set(mutating_actions(back))
    assert latest_template_data(ec2, "teleport-proxy")[1]["InstanceType"] != "t3.nano"
    assert tcp(8443, "10.9.0.0/16") in rules(ec2, security_group(ec2, vpc(world, "eu-central-1"), "teleport-proxy"))[0]
    purged = converged(world.run("edge", dict(world.base, aws_edge_security_group_purge_rules=True)))
    assert purged.changed > 0 and "RevokeSecurityGroupIngress" in mutating_actions(purged)
    assert tcp(8443, "10.9.0.0/16") not in rules(ec2, security_group(ec2, vpc(world, "eu-central-1"), "teleport-proxy"))[0]


def described(ec2, group):
    """{(proto, from, to, source): description} of a group's ingress, group ids as names."""
    names = {g["GroupId"]: g["GroupName"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [group["VpcId"]]}])["SecurityGroups"]}
    out = {}
    for p in ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]["IpPermissions"]:
        for r in p.get("IpRanges", []):
            out[(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])] = r.get("Description", "")
        for r in p.get("UserIdGroupPairs", []):
            out[(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), "sg:" + names[r["GroupId"]])] = r.get("Description", "")
    return out


def test_the_role_owns_only_its_rules(world):
    """Rules added by hand (a bastion with a description, a scraper without one) survive aws-edge.yml, steering
    included; a rule an earlier version wrote (one of the role's descriptions, no marker) is adopted in place,
    never revoked; a rule of the role's own that is no longer wanted goes."""
    ec2 = world.client("ec2", "us-west-2")
    sg = security_group(ec2, vpc(world, "us-west-2"), "teleport-proxy")
    mine = described(ec2, sg)
    assert mine and all(d.endswith(" [teleport-ha]") for d in mine.values()), mine
    ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.50.0.0/24", "Description": "bastion"}]},
        {"IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100, "IpRanges": [{"CidrIp": "10.60.0.0/24"}]}])
    peer = tcp(3021, REGIONS["eu-central-1"])
    # As an earlier version wrote it: the same permission, its description without the marker.
    ec2.update_security_group_rule_descriptions_ingress(GroupId=sg["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 3021, "ToPort": 3021, "IpRanges": [{"CidrIp": REGIONS["eu-central-1"], "Description": "proxy peering"}]}])
    # And one of the role's own that nothing wants any more.
    ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 3021, "ToPort": 3021, "IpRanges": [{"CidrIp": "10.99.0.0/16", "Description": "proxy peering [teleport-ha]"}]}])
    run = converged(world.run("edge", world.base))
    now = described(ec2, sg)
    assert now[("tcp", 22, 22, "10.50.0.0/24")] == "bastion" and now[("tcp", 9100, 9100, "10.60.0.0/24")] == ""
    assert now[peer] == "proxy peering [teleport-ha]"
    assert ("tcp", 3021, 3021, "10.99.0.0/16") not in now
    assert "UpdateSecurityGroupRuleDescriptionsIngress" in mutating_actions(run)
    assert "AuthorizeSecurityGroupIngress" not in mutating_actions(run)  # the adopted permission never lapsed
    # Steering a region off and back keeps them too; a second run writes nothing.
    for steered in (["eu-central-1"], []):
        converged(world.run("edge", dict(world.base, aws_edge_steered_off_regions=steered)))
    again = converged(world.run("edge", world.base))
    assert (again.changed, again.mutating) == (0, [])
    kept = described(ec2, sg)
    assert kept[("tcp", 22, 22, "10.50.0.0/24")] == "bastion" and ("tcp", 9100, 9100, "10.60.0.0/24") in kept
    ec2.revoke_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.50.0.0/24"}]},
        {"IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100, "IpRanges": [{"CidrIp": "10.60.0.0/24"}]}])


def test_the_infrastructure_playbooks_documents_allow_every_call_and_each_statement_is_needed(world):
    """aws_scenario.infra_policy_proof, on this scenario's runs."""
    infra_policy_proof(world, NEEDED_BY_THIS_SCENARIO)
