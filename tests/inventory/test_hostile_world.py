"""Text from AWS never runs on the controller.

A moto world whose tags and Auto Scaling group names carry Jinja expressions and statements in
every field the inventory reads, with naming templates that read tags (host names, addresses and
peer addresses from tags). The inventory, `ansible-inventory --list`, site.yml's validation play,
upgrade.yml's plan and its Auto Scaling step (the list of group names, sent to AWS) all run on it;
every expression would create a marker file, and none may exist afterwards. Hosts whose names or
addresses are hostile are left out and reported; a stranger group with the cluster's tags is too.
"""
import json
import os
import re
import sys

import boto3
import pytest
from conftest import JAR, REPO, SCRIPT, clean_env

from harness.ansible import ansible, run_playbook
from harness.moto import MotoServer, record_membership

CLUSTER = "hostile.example.com"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    marker = tmp / "pwned"

    def expr(n):
        return "{{ lookup('pipe', 'touch %s-%d') }}" % (marker, n)

    def stmt(n):
        return "{%% set x = lookup('pipe', 'touch %s-%d') %%}{{ x }}" % (marker, n)

    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    kw = dict(endpoint_url=moto.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    names = {}

    def pool(region, cidr, group, role, hosts, member=True):
        ec2 = boto3.client("ec2", region_name=region, **kw)
        asg = boto3.client("autoscaling", region_name=region, **kw)
        if not ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [cidr]}])["Vpcs"]:
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=region + "a")
            ec2.create_launch_template(LaunchTemplateName="teleport",
                                       LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
        subnet = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": [cidr]}])["Subnets"][0]["SubnetId"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=group, LaunchTemplate={"LaunchTemplateName": "teleport"}, MinSize=0, MaxSize=4,
            DesiredCapacity=len(hosts), VPCZoneIdentifier=subnet,
            Tags=[{"Key": "TeleportCluster", "Value": CLUSTER, "PropagateAtLaunch": True},
                  {"Key": "TeleportRole", "Value": role, "PropagateAtLaunch": True},
                  {"Key": "Team", "Value": expr(1), "PropagateAtLaunch": True}])
        if member:
            record_membership(boto3.client("ssm", region_name=region, **kw), ec2, CLUSTER, region, group, role, "teleport")
        ids = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"])
        for iid, tags in zip(ids, hosts, strict=True):
            ip = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
            tags = {k: v.replace("IP", ip) for k, v in tags.items()}
            ec2.create_tags(Resources=[iid], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            names[iid] = tags.get("Name")
        return ids

    good = {"Address": "IP", "Owner": stmt(2), "Notes": "{# " + expr(3) + " #}"}
    auth = pool("us-west-2", "198.18.11.0/24", "tp-auth", "auth", [
        dict(good, Name="auth-1"),
        dict(good, Name="auth-2", Address="IP -oProxyCommand=" + expr(4))])
    proxy = pool("us-west-2", "198.18.11.0/24", "tp-proxy-" + expr(5), "proxy", [
        dict(good, Name="proxy-a", Peer="proxy-a.internal"),
        dict(good, Name=expr(6), Peer="proxy-b.internal")])
    eu = pool("eu-central-1", "198.18.12.0/24", "tp-proxy-eu", "proxy", [
        dict(good, Name="proxy-c", Peer=expr(7) + ".internal"),
        dict(good, Name="proxy-d", Peer="proxy-d.internal")])
    stranger = pool("eu-central-1", "198.18.12.0/24", stmt(8), "proxy", [dict(good, Name="evil", Peer="evil.internal")],
                    member=False)

    config = tmp / "teleport-inventory.yml"
    config.write_text(f"""cluster: {CLUSTER}
regions: [us-west-2, eu-central-1]
host_name_template: "{{tag:Name}}"
peer_addr_template: "{{tag:Peer}}:3021"
ansible_host: {{source: tag, tag: Address}}
""")
    env = clean_env(AWS_ENDPOINT_URL=moto.endpoint,
                    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-west-2",
                    TELEPORT_INVENTORY_CONFIG=str(config), TELEPORT_INVENTORY_JAR=JAR,
                    ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                    XDG_CACHE_HOME=str(tmp / "cache"))
    yield dict(tmp=tmp, marker=marker, env=env, auth=auth, proxy=proxy, eu=eu, stranger=stranger, names=names,
               expr=expr, stmt=stmt)
    moto.stop()


def markers(world):
    return sorted(p.name for p in world["tmp"].iterdir() if p.name.startswith("pwned"))


def play(world, book, *args):
    """A playbook through the hostile inventory script (its log in the world's directory)."""
    return run_playbook(book, SCRIPT, None, *args, env=world["env"], timeout=300,
                        log=world["tmp"] / f"{os.path.basename(book)}.log")


def test_the_inventory_leaves_hostile_hosts_out_and_hands_over_the_rest_as_unsafe_text(world):
    r = ansible("ansible-inventory", "-i", SCRIPT, "--list", env=world["env"])
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    inv = json.loads(r.stdout)
    assert markers(world) == []
    hostvars = inv["_meta"]["hostvars"]
    assert sorted(hostvars) == ["auth-1", "proxy-a", "proxy-d"]
    assert inv["teleport_proxy_us_west_2"]["hosts"] == ["proxy-a"]
    a = hostvars["proxy-a"]
    assert a["aws_asg_name"] == {"__ansible_unsafe": "tp-proxy-" + world["expr"](5)}
    assert a["ec2_tags"]["Owner"] == {"__ansible_unsafe": world["stmt"](2)}
    excluded = {e["instance_id"]["__ansible_unsafe"]: e["reason"]["__ansible_unsafe"]
                for e in hostvars["auth-1"]["teleport_inventory_excluded"]}  # ansible-inventory puts all's vars here
    assert excluded == {world["auth"][1]: "invalid_ansible_host", world["proxy"][1]: "invalid_host_name",
                        world["eu"][0]: "invalid_peer_addr", world["stranger"][0]: "not_a_member"}
    # Group names are keys Ansible cannot be told not to template: nothing but [A-Za-z0-9_] in them.
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", g) for g in inv if g != "_meta"), sorted(inv)


def test_site_yml_validation_play_reports_them_and_evaluates_nothing(world):
    r = play(world, "validate-inventory.yml")
    assert r.rc == 0, r.text
    assert markers(world) == []
    out = r.flat.replace("''", "'")  # the YAML callback folds lines and doubles quotes
    assert "WARNING: the inventory left out 4 instance(s) with the cluster's tags" in out
    assert "lookup('pipe', 'touch" in out  # shown as the text it is


def test_upgrade_plan_and_its_auto_scaling_step_send_the_group_names_as_they_are(world, tmp_path):
    common = ["--check", "-e", "teleport_version=18.0.0", "-e", "teleport_install_method=tarball",
              "-e", "ansible_connection=local", "-e", "ansible_become=false", "-e", "teleport_diag_addr=127.0.0.1:9",
              "-e", "ansible_python_interpreter=" + sys.executable]
    plan = play(world, "upgrade.yml", *common, "--tags", "upgrade_plan")
    assert plan.rc == 0, plan.text
    assert markers(world) == []
    # The step that suspends the batch's Auto Scaling processes reads the group names from the
    # inventory and sends them to AWS (moto): the hostile name is found as the literal group it is.
    book = tmp_path / "suspend.yml"
    book.write_text("""- hosts: teleport_proxy_us_west_2
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: teleport
        tasks_from: asg_suspend
""")
    r = play(world, book, *common)
    assert r.rc == 0, r.text
    assert markers(world) == []
    assert "tp-proxy-{{ lookup('pipe', 'touch" in r.flat.replace("''", "'")
