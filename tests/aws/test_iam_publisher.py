"""The publisher's policy (teleport-ha-publisher: site.yml, tls.yml, upgrade.yml and cluster-config.yml write the
published configuration) is enough and least privilege, proven against moto with its IAM enforcement on
(iam_proof.py says what moto checks): the real cluster-config.yml publishes every pool with the document and
fails with each statement removed. S3 is the one service moto checks resources for, so the bucket and kit
statements keep their own resources there; the rest is checked against a table."""
import json
import sys

import pytest
from aws_scenario import World, converged
from iam_policy_docs import published
from iam_proof import action_projection, allows, enforce, principal, without
from test_boot_config import stand_in_jar

from harness.ansible import ansible_env, run_playbook

CLUSTER, SHORT, ACCOUNT = "pub.example.com", "pub", "123456789012"
REGIONS = {"us-west-2": "10.41.0.0/16", "eu-central-1": "10.42.0.0/16"}
DOCUMENT = published.publisher_policy("aws", ACCOUNT, list(REGIONS), SHORT, f"/teleport/{CLUSTER}/config",
                                      f"teleport/{CLUSTER}", f"/teleport/{CLUSTER}/config-bucket")
SIDS = [s["Sid"] for s in DOCUMENT["Statement"]]


def host(region):
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "aws_region": region}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """aws-pools.yml's pools and config buckets (as the operator, before enforcement), one IAM user per document,
    then moto's enforcement on."""
    tmp = tmp_path_factory.mktemp("iam-publisher")
    w = World(tmp, CLUSTER, "us-west-2", REGIONS)
    try:
        w.base = w.vars(aws_cluster_short_name=SHORT, aws_pools_boot_policy=False)
        converged(w.run("pools", w.base))
        w.inventory = tmp / "inventory.json"
        w.inventory.write_text(json.dumps({"all": {
            "vars": {"teleport_inventory_cluster": CLUSTER, "teleport_inventory_regions": list(REGIONS)},
            "children": {"teleport": {"children": {
                "teleport_auth": {"hosts": {"a1": host("us-west-2")}},
                "teleport_proxy": {"vars": {"teleport_auth_server": "auth.pub.internal:3025"},
                                   "hosts": {"p-west": host("us-west-2"), "p-eu": host("eu-central-1")}}}}}}}))
        w.cluster = dict(w.base, teleport_version="17.7.1", teleport_tarball_sha256="a" * 64,
                         teleport_join_method="token", teleport_ca_pin=["sha256:" + "c" * 64],
                         teleport_join_token="JOIN-TOKEN-not-a-real-one",
                         node_agent_peers_inventory_url="https://inventory.pub.internal:8790/v1/peers",
                         node_agent_jar_src=str(stand_in_jar(tmp)))
        w.vars_file = tmp / "cluster.json"
        w.vars_file.write_text(json.dumps(w.cluster))
        iam = w.client("iam")
        w.keys = {"all": principal(iam, "all", action_projection(DOCUMENT, keep_s3_resources=True))}
        for sid in SIDS:
            w.keys[sid] = principal(iam, sid, action_projection(without(DOCUMENT, sid), keep_s3_resources=True))
        enforce(w.moto.endpoint)
        yield w
    finally:
        w.moto.stop()


def publish(world, who, severity):
    """cluster-config.yml as who, with teleport_log_severity severity: a value the parameters do not hold yet makes
    the run write them, so a statement that only writes is needed in that run too."""
    key, secret = world.keys[who]
    env = ansible_env(aws=world.moto.endpoint, AWS_REGION="us-west-2", AWS_ACCESS_KEY_ID=key,
                      AWS_SECRET_ACCESS_KEY=secret)
    return run_playbook("cluster-config.yml", str(world.inventory), str(world.vars_file), "-e",
                        f"teleport_log_severity={severity}", env=env, timeout=600, log=world.tmp / f"publish-{who}.log")


def test_cluster_config_publishes_every_pool_with_the_policy(world):
    r = publish(world, "all", "INFO")
    assert r.rc == 0, r.tail(3000)
    assert "AccessDenied" not in r.text


def moto_tells_apart(sid):
    """Whether moto can see the statement go: an S3 statement (moto checks its resources), or one with an action
    no other statement grants. ReadTheConfigBucketNames shares ssm:GetParameter with PublishTheParameters, which
    moto checks on "*" alike: the table below tells those two apart."""
    s = next(x for x in DOCUMENT["Statement"] if x["Sid"] == sid)
    actions = set(actions_of(s))
    if all(a.startswith("s3:") for a in actions):
        return True
    others = {a for x in DOCUMENT["Statement"] if x["Sid"] != sid for a in actions_of(x)}
    return bool(actions - others)


def actions_of(statement):
    return [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])


@pytest.mark.parametrize("sid", [s for s in SIDS if moto_tells_apart(s)])
def test_cluster_config_fails_with_each_statement_removed(world, sid):
    r = publish(world, sid, "WARN")   # the parameters hold INFO: the run must write them
    assert r.rc != 0
    assert REFUSED[sid] in r.text, r.tail(3000)


# Each removal's own refusal, as the run reports it (moto names the action for SSM and Secrets Manager; S3 answers
# a HEAD with a bare 403).
REFUSED = {
    "FindTheConfigBuckets": "is missing or not readable",
    "UploadTheBootKit": "(403) when calling the HeadObject operation",
    "PublishTheParameters": "not authorized to perform: ssm:PutParameter",
    "PublishTheSecrets": "not authorized to perform: secretsmanager:GetSecretValue",
}


@pytest.mark.parametrize("sid", [s for s in SIDS if not moto_tells_apart(s)])
def test_a_statement_moto_cannot_tell_apart_is_the_only_one_for_its_resources(sid):
    s = next(x for x in DOCUMENT["Statement"] if x["Sid"] == sid)
    rest = without(DOCUMENT, sid)
    for action in actions_of(s):
        for resource in s["Resource"]:
            assert allows(DOCUMENT, action, resource) and not allows(rest, action, resource), (action, resource)


# --- the resources, against the table of what publishing touches --------------------------------------------

def arn(service, region, resource):
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


@pytest.mark.parametrize("region", list(REGIONS))
def test_the_clusters_own_entries_in_each_region_and_nothing_else(region):
    bucket = published.bucket_name(SHORT, ACCOUNT, region)
    own = [("ssm:GetParameter", arn("ssm", region, f"parameter/teleport/{CLUSTER}/config-bucket")),
           ("ssm:PutParameter", arn("ssm", region, f"parameter/teleport/{CLUSTER}/config/proxy")),
           ("secretsmanager:PutSecretValue", arn("secretsmanager", region, f"secret:teleport/{CLUSTER}/auth-AbCdEf")),
           ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
           ("s3:PutObject", f"arn:aws:s3:::{bucket}/{published.KIT_KEY}")]
    for action, resource in own:
        assert allows(DOCUMENT, action, resource), (action, resource)
    others = [("ssm:PutParameter", arn("ssm", region, f"parameter/teleport/{CLUSTER}/membership")),
              ("ssm:PutParameter", arn("ssm", region, "parameter/teleport/other.example.com/config/auth")),
              ("ssm:PutParameter", arn("ssm", region, f"parameter/teleport/{CLUSTER}/config-bucket")),
              ("secretsmanager:PutSecretValue", arn("secretsmanager", region, "secret:teleport/other.example.com/auth-AbCdEf")),
              ("secretsmanager:DeleteSecret", arn("secretsmanager", region, f"secret:teleport/{CLUSTER}/auth-AbCdEf")),
              ("s3:PutObject", f"arn:aws:s3:::{bucket}/anything-else"),
              ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{published.KIT_KEY}"),
              ("s3:PutObject", f"arn:aws:s3:::other-config-{ACCOUNT}-{region}/{published.KIT_KEY}"),
              ("ssm:PutParameter", arn("ssm", "ap-south-1", f"parameter/teleport/{CLUSTER}/config/auth"))]
    for action, resource in others:
        assert not allows(DOCUMENT, action, resource), (action, resource)
