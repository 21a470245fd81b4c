"""What new hosts boot from, against moto: aws-pools.yml makes each region's config bucket, the pools' boot
policies and the boot user data; playbooks/cluster-config.yml (what site.yml, tls.yml and upgrade.yml import
last) publishes each pool's parameter, secret and boot kit in every region with a pool. Publishing is
idempotent, writes nothing in check mode, publishes every pool's whole configuration from a --limit'ed run, and
never puts a secret in a parameter or the user data."""
import base64
import importlib.util
import json
import sys

import pytest
import yaml
from aws_scenario import POOLS_CONVERGE_NEEDS, ROOT, World, converged, infra_policy_proof
from test_boot_policy import least_privilege_problems

from harness.aws_world import instance_profile

_spec = importlib.util.spec_from_file_location(
    "teleport_cluster_config", ROOT / "roles/cluster_config/module_utils/teleport_cluster_config.py")
published = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(published)

# Instance profiles and the inventory service's role need the IAM statements (aws-pools.yml runs only).
NEEDED_BY_THIS_SCENARIO = POOLS_CONVERGE_NEEDS + ["pools:PassTheInstanceProfilesRoles", "pools:KeepThePoliciesOnTheProfilesRoles",
                                                  "pools:KeepThePolicyOnTheInventoryServicesRole"]
CLUSTER = "boot.example.com"
SHORT = "boot"
ACCOUNT = "123456789012"
REGIONS = {"us-west-2": "10.31.0.0/16", "eu-central-1": "10.32.0.0/16"}
SECRETS = {
    "teleport_license_content": "LICENSE-never-in-ssm-or-user-data",
    "teleport_join_token": "JOIN-TOKEN-never-in-ssm",
    "node_agent_tls_cert_pem": "-----BEGIN CERTIFICATE-----\nCERT-never-in-ssm\n-----END CERTIFICATE-----\n",
    "node_agent_tls_key_pem": "-----BEGIN PRIVATE KEY-----\nKEY-never-in-ssm\n-----END PRIVATE KEY-----\n",
    "node_agent_peers_inventory_token": "INVENTORY-TOKEN-never-in-ssm",
}
CA_PIN = "sha256:" + "c" * 64


def host(region):
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "aws_region": region}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("boot-config")
    w = World(tmp, CLUSTER, "us-west-2", REGIONS)
    for name in ("boot-auth", "boot-proxy", "boot-inventory"):
        instance_profile(w.moto, name)
    w.base = w.vars(aws_cluster_short_name=SHORT, aws_pools_auth_instance_profile="boot-auth",
                    aws_pools_proxy_instance_profile="boot-proxy", aws_pools_inventory_service_iam_role="boot-inventory")
    w.pools = converged(w.run("pools", w.base))
    # The inventory the controller has: an auth host and a proxy per region, the proxies' group vars.
    w.inventory = tmp / "inventory.json"
    w.inventory.write_text(json.dumps({"all": {
        "vars": {"teleport_inventory_cluster": CLUSTER, "teleport_inventory_regions": list(REGIONS)},
        "children": {"teleport": {"children": {
            "teleport_auth": {"hosts": {"a1": host("us-west-2")}},
            "teleport_proxy": {"vars": {"teleport_auth_server": "auth.boot.internal:3025"},
                               "hosts": {"p-west": host("us-west-2"), "p-eu": host("eu-central-1")}}}}}}}))
    w.cluster = dict(w.base, teleport_version="17.7.1", teleport_tarball_sha256="a" * 64, teleport_edition="enterprise",
                     teleport_tunnel_strategy="proxy_peering", teleport_public_addr=["boot.example.com:443"],
                     teleport_join_method="token", teleport_ca_pin=[CA_PIN],
                     node_agent_peers_inventory_url="https://inventory.boot.internal:8790/v1/peers",
                     node_agent_jar_src=str(stand_in_jar(tmp)), **SECRETS)
    w.first = converged(w.run("config", w.cluster, "-i", str(w.inventory)))
    yield w
    w.stop()


def stand_in_jar(tmp):
    """A stand-in for the node-agent jar (its bytes travel in the kit; nothing here runs it)."""
    path = tmp / "node-agent.jar"
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return path


def parameter(world, region, role):
    value = world.client("ssm", region).get_parameter(Name=f"/teleport/{CLUSTER}/config/{role}")["Parameter"]["Value"]
    return json.loads(value)


def secret(world, region, role):
    return json.loads(world.client("secretsmanager", region).get_secret_value(SecretId=f"teleport/{CLUSTER}/{role}")["SecretString"])


def pools_of(region):
    return ["auth", "proxy"] if region == "us-west-2" else ["proxy"]


def test_every_pool_region_has_its_parameter_secret_and_the_kit_they_name(world):
    for region in REGIONS:
        s3 = world.client("s3", region)
        bucket = f"{SHORT}-config-{ACCOUNT}-{region}"
        # Where publishing finds it from the cluster's name alone (aws-pools.yml writes it).
        assert world.client("ssm", region).get_parameter(Name=f"/teleport/{CLUSTER}/config-bucket")["Parameter"]["Value"] == bucket
        for role in pools_of(region):
            doc = parameter(world, region, role)
            assert (doc["cluster"], doc["role"], doc["region"], doc["teleport_version"]) == (CLUSTER, role, region, "17.7.1")
            assert doc["digest"] == published.digest({k: v for k, v in doc.items() if k != "digest"})
            assert doc["secret"] == {"name": f"teleport/{CLUSTER}/{role}", "sha256": published.digest(secret(world, region, role))}
            kit = doc["kit"]
            assert (kit["bucket"], kit["key"]) == (bucket, published.KIT_KEY)
            body = s3.get_object(Bucket=bucket, Key=kit["key"], VersionId=kit["version_id"])["Body"].read()
            assert published.sha256_hex(body) == kit["sha256"] and len(body) == kit["size"]
        # No auth pool there, nothing of it published there.
        if region != "us-west-2":
            with pytest.raises(world.client("ssm", region).exceptions.ParameterNotFound):
                parameter(world, region, "auth")


def test_a_pool_gets_the_variables_a_host_of_it_gets(world):
    proxy, auth = parameter(world, "eu-central-1", "proxy"), parameter(world, "us-west-2", "auth")
    assert proxy["vars"]["teleport_auth_server"] == "auth.boot.internal:3025"   # the proxies' group vars
    assert "teleport_auth_server" not in auth["vars"]
    assert proxy["vars"]["teleport_ca_pin"] == [CA_PIN]
    for doc in (proxy, auth):
        assert doc["vars"]["teleport_public_addr"] == ["boot.example.com:443"]
        # Host-specific and controller variables are never published.
        assert not {"aws_region", "teleport_role", "node_agent_jar_src", "teleport_diag_addr"} & set(doc["vars"])
        assert doc["release"]["teleport_edition"] == "enterprise" and doc["release"]["teleport_tarball_sha256"] == "a" * 64


def test_each_pool_gets_only_the_secrets_it_uses(world):
    auth, proxy = secret(world, "us-west-2", "auth")["vars"], secret(world, "eu-central-1", "proxy")["vars"]
    assert auth == {k: SECRETS[k] for k in ("teleport_license_content", "teleport_join_token")}
    assert proxy == {k: SECRETS[k] for k in ("teleport_join_token", "node_agent_tls_cert_pem", "node_agent_tls_key_pem",
                                             "node_agent_peers_inventory_token")}


def test_no_secret_is_in_a_parameter_the_user_data_or_the_output(world):
    texts = []
    for region in REGIONS:
        ssm = world.client("ssm", region)
        texts += [p["Value"] for p in ssm.get_parameters_by_path(Path="/teleport", Recursive=True)["Parameters"]]
        ec2 = world.client("ec2", region)
        for lt in ec2.describe_launch_templates()["LaunchTemplates"]:
            for v in ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])["LaunchTemplateVersions"]:
                texts.append(base64.b64decode(v["LaunchTemplateData"].get("UserData", "")).decode())
    verbose = world.run("config", world.cluster, "-i", str(world.inventory), "-vvv", "--diff")
    texts += [json.dumps(r.report) + r.rest for _, _, r in world.runs]
    assert verbose.rc == 0
    # Every secret value carries "never-in-ssm": none of it may be anywhere but in the secrets.
    assert all("never-in-ssm" in v for v in SECRETS.values())
    assert [t[:300] for t in texts if "never-in-ssm" in t] == []


def test_a_second_run_writes_nothing_and_a_check_run_writes_nothing(world):
    again = converged(world.run("config", world.cluster, "-i", str(world.inventory)))
    assert (again.changed, again.mutating) == (0, [])
    changed = dict(world.cluster, teleport_log_severity="DEBUG")
    check = converged(world.run("config", changed, "-i", str(world.inventory), "--check", "--diff"))
    assert check.changed > 0 and check.mutating == []
    assert parameter(world, "us-west-2", "auth")["vars"].get("teleport_log_severity") is None


def test_a_run_without_the_clusters_release_publishes_nothing(world):
    # tls.yml or upgrade.yml given only their own variables: the role's default release would reach every new host.
    bare = {k: v for k, v in world.cluster.items() if k != "teleport_version"}
    before = parameter(world, "us-west-2", "proxy")
    run = world.run("config", bare, "-i", str(world.inventory))
    assert run.rc != 0 and run.mutating == []
    assert any("no teleport_version for the" in m and "Nothing was published" in m for m in run.failures()), run.failures()
    assert parameter(world, "us-west-2", "proxy") == before


def test_proxies_under_proxy_peering_without_the_inventory_url_are_not_published(world):
    # A proxy its group launches would probe no peer, none would probe it, and one that left would page.
    static = {k: v for k, v in world.cluster.items() if k != "node_agent_peers_inventory_url"}
    before = parameter(world, "eu-central-1", "proxy")
    run = world.run("config", static, "-i", str(world.inventory))
    assert run.rc != 0 and run.mutating == []
    assert any("run proxy_peering with node_agent_peers_inventory_url unset" in m and "eu-central-1" in m
               and "Nothing was published" in m for m in run.failures()), run.failures()
    assert parameter(world, "eu-central-1", "proxy") == before
    # The operator's explicit choice, and agent_mesh (no peer port), publish.
    for extra in ({"cluster_config_allow_static_peers": True}, {"teleport_tunnel_strategy": "agent_mesh"}):
        check = converged(world.run("config", dict(static, **extra), "-i", str(world.inventory), "--check"))
        assert check.mutating == []


def test_a_limited_run_publishes_every_pools_whole_configuration(world):
    # Limited to one proxy, a change of the auth pool's variables is published all the same: the configuration is the
    # cluster's, not the hosts'.
    changed = dict(world.cluster, teleport_log_severity="WARN")
    run = converged(world.run("config", changed, "-i", str(world.inventory), "--limit", "p-eu"))
    assert sorted({c[1] for c in run.mutating}) == ["PutParameter"]   # the kit and the secrets did not change
    for region in REGIONS:
        for role in pools_of(region):
            assert parameter(world, region, role)["vars"]["teleport_log_severity"] == "WARN"


def test_the_boot_policies_on_the_pool_profiles_are_least_privilege(world):
    iam = world.client("iam")
    for role, regions in (("auth", ["us-west-2"]), ("proxy", list(REGIONS))):
        doc = iam.get_role_policy(RoleName=f"boot-{role}", PolicyName=f"teleport-ha-boot-{role}")["PolicyDocument"]
        assert least_privilege_problems(doc, CLUSTER, SHORT, role, ACCOUNT, regions) == []
        assert iam.list_role_policies(RoleName=f"boot-{role}")["PolicyNames"] == [f"teleport-ha-boot-{role}"]


def test_the_inventory_services_role_gets_its_policy_for_every_pool(world):
    """aws-pools.yml keeps teleport-ha-inventory-service on the role the inventory service runs as, rendered from the
    pools it makes (tests/aws/test_iam_inventory_service.py proves the document against moto's IAM)."""
    doc = world.client("iam").get_role_policy(RoleName="boot-inventory",
                                              PolicyName="teleport-ha-inventory-service")["PolicyDocument"]
    pools = [{"role": "auth", "region": "us-west-2", "asg": f"{SHORT}-auth-us-west-2"}] + [
        {"role": "proxy", "region": r, "asg": f"{SHORT}-proxy-{r}"} for r in REGIONS]
    assert doc == published.inventory_service_policy("aws", ACCOUNT, pools, f"/teleport/{CLUSTER}/membership")
    assert world.client("iam").list_role_policies(RoleName="boot-inventory")["PolicyNames"] == ["teleport-ha-inventory-service"]


def test_the_config_bucket_is_versioned_private_and_encrypted(world):
    for region in REGIONS:
        s3, bucket = world.client("s3", region), f"{SHORT}-config-{ACCOUNT}-{region}"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}]


def test_the_user_data_is_the_boot_cloud_config_and_names_the_pools_own_entries(world):
    for region in REGIONS:
        ec2 = world.client("ec2", region)
        for role in pools_of(region):
            data = ec2.describe_launch_template_versions(LaunchTemplateName=f"{SHORT}-{role}", Versions=["$Latest"])[
                "LaunchTemplateVersions"][0]["LaunchTemplateData"]
            text = base64.b64decode(data["UserData"]).decode()
            assert text.startswith("#cloud-config\n")
            cloud = yaml.safe_load(text)
            (f,) = cloud["write_files"]
            assert (f["path"], f["owner"], f["permissions"]) == ("/etc/teleport-ha/boot.json", "root:root", "0644")
            assert json.loads(f["content"]) == {
                "version": 1, "cluster": CLUSTER, "role": role, "region": region, "asg": f"{SHORT}-{role}-{region}",
                "launch_hook": "teleport-launch", "terminate_hook": "teleport-terminate",
                "parameter": f"/teleport/{CLUSTER}/config/{role}", "secret": f"teleport/{CLUSTER}/{role}",
                "bucket": f"{SHORT}-config-{ACCOUNT}-{region}", "kit_key": published.KIT_KEY,
                "heartbeat_seconds": 300, "terminate_heartbeat_seconds": 90, "drain_seconds": 300}
            assert cloud["runcmd"] == [["/opt/teleport-ha/bin/teleport-ha-boot", "boot", "--config", "/etc/teleport-ha/boot.json"]]


def test_aws_pools_second_run_and_check_run_make_no_mutating_call(world):
    for args in ((), ("--check", "--diff")):
        run = converged(world.run("pools", world.base, *args))
        assert (run.changed, run.mutating) == (0, [])


def test_the_tls_only_policy_refuses_plain_http_so_it_is_not_set_against_a_plain_http_endpoint(world):
    # moto enforces bucket policies, and this world is plain http: the policy would refuse the publisher and the
    # instances, so aws-pools.yml does not set it here, and says so.
    assert "is plain http (an emulator): the TLS-only policy is not set" in json.dumps(world.pools.report)
    for region in REGIONS:
        s3, bucket = world.client("s3", region), f"{SHORT}-config-{ACCOUNT}-{region}"
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=bucket)
    # What it sets against AWS's https endpoints, put here by hand: a plain-http read is refused. Last: it stays.
    s3, bucket = world.client("s3", "eu-central-1"), f"{SHORT}-config-{ACCOUNT}-eu-central-1"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(published.tls_only_policy("aws", bucket)))
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied|Forbidden|403"):
        s3.get_object(Bucket=bucket, Key=published.KIT_KEY)


def test_the_auth_pools_storage_policy_follows_the_clusters_storage_variables(world):
    """aws-pools.yml keeps teleport-ha-auth-storage on the auth pool's role from the teleport role's storage variables
    it is given (tests/aws/test_iam_auth_storage.py proves the document); without them it says it kept none; with
    storage that needs no AWS permission it removes the policy. (A name AWS would refuse is refused by name in
    tests/aws/test_iam_auth_storage.py, where it costs no run.)"""
    iam = world.client("iam")
    base = world.pools.task("storage policy is not kept")
    assert "WARNING: the auth pool's storage policy" in base["msg"]
    storage = {"teleport_storage_type": "dynamodb", "teleport_dynamodb_table_name": f"{SHORT}-backend",
               "teleport_storage_audit_events_uri": [f"dynamodb://{SHORT}-events", "stdout://"],
               "teleport_storage_audit_sessions_uri": f"s3://{SHORT}-sessions-{ACCOUNT}/records"}
    converged(world.run("pools", dict(world.base, **storage)))
    doc = iam.get_role_policy(RoleName="boot-auth", PolicyName="teleport-ha-auth-storage")["PolicyDocument"]
    assert doc == published.auth_storage_policy("aws", ACCOUNT, "us-west-2", "dynamodb", f"{SHORT}-backend",
                                                storage["teleport_storage_audit_events_uri"],
                                                storage["teleport_storage_audit_sessions_uri"], True)
    assert "teleport-ha-auth-storage" not in iam.list_role_policies(RoleName="boot-proxy")["PolicyNames"]
    again = converged(world.run("pools", dict(world.base, **storage)))
    assert again.changed == 0 and not again.mutating
    converged(world.run("pools", dict(world.base, teleport_storage_type="etcd", teleport_storage_audit_events_uri=["stdout://"],
                                      teleport_storage_audit_sessions_uri="file:///var/lib/teleport/log")))
    assert iam.list_role_policies(RoleName="boot-auth")["PolicyNames"] == ["teleport-ha-boot-auth"]


def test_the_infrastructure_playbooks_documents_allow_every_call_and_each_statement_is_needed(world):
    """aws_scenario.infra_policy_proof, on this scenario's runs."""
    infra_policy_proof(world, NEEDED_BY_THIS_SCENARIO)
