"""The TLS issuer's policy (teleport-ha-tls-issuer, for whoever runs tls.yml) is enough and least privilege.

tls_issuer_aws_calls.yml makes the issuer's AWS calls with the role's own modules and its tasks' arguments (the lock,
the challenge records written with wait, read, removed). The lock: against moto with its IAM enforcement on
(iam_proof.py), it succeeds with the document's action projection and fails with each lock statement removed. Route
53: moto refuses every IAM user's Route 53 request once enforcing, so the playbook runs against a moto without it
behind a recording proxy, and every Route 53 request it made (action, zone or change, and for a change batch its
record names, types and actions) is evaluated against the document by IAM's table: all allowed, and each statement
needed by at least one. The table also shows the conditions allow the certificate's own challenge records (TXT)
and lock item only."""
import json
import os
import xml.etree.ElementTree as ET

import pytest
from iam_policy_docs import published
from iam_proof import action_projection, allows, enforce, principal, without

from harness.ansible import ansible_env, run_playbook
from harness.moto import CountingProxy, MotoServer, client
from harness.util import REPO

ACCOUNT, ZONE, DOMAIN = "123456789012", "example.test", "teleport.example.test"
TABLE, KEY = "tp-tls-issuer-lock", f"tls-issuer/{DOMAIN}"
NAMES = [DOMAIN, "*." + DOMAIN]
CHALLENGE = {f"_acme-challenge.{DOMAIN}": ["token-apex", "token-wildcard"]}
PLAYBOOK = os.path.join(os.path.dirname(__file__), "tls_issuer_aws_calls.yml")


def seed(moto):
    """The operator's hosted zone and lock table; returns the zone's id."""
    zone_id = client("route53", "us-east-1", moto.endpoint).create_hosted_zone(
        Name=ZONE, CallerReference="tls-issuer")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    client("dynamodb", "us-east-1", moto.endpoint).create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}])
    return zone_id


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """moto with IAM enforcement: an IAM user per document (the whole action projection, and each statement removed)."""
    tmp = tmp_path_factory.mktemp("iam-tls-issuer")
    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    try:
        zone_id = seed(moto)
        doc = published.tls_issuer_policy("aws", ACCOUNT, zone_id, NAMES, TABLE, "us-east-1", KEY)
        iam = client("iam", "us-east-1", moto.endpoint)
        keys = {"all": principal(iam, "all", action_projection(doc))}
        for s in doc["Statement"]:
            keys[s["Sid"]] = principal(iam, s["Sid"], action_projection(without(doc, s["Sid"])))
        enforce(moto.endpoint)
        yield {"moto": moto, "endpoint": moto.endpoint, "keys": keys, "doc": doc, "zone_id": zone_id, "tmp": tmp}
    finally:
        moto.stop()


def issue(world, who, *args, by_name=True, endpoint=None):
    key, secret = world["keys"][who] if who else ("testing", "testing")
    env = ansible_env(aws=endpoint or world["endpoint"], AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
                      ANSIBLE_LIBRARY=os.path.join(REPO, "roles", "tls_issuer", "library"))
    zone = {"tls_issuer_route53_zone": ZONE} if by_name else {"tls_issuer_route53_zone_id": world["zone_id"]}
    extra = dict(zone, tls_issuer_lock_table=TABLE, tls_issuer_lock_key=KEY, tls_issuer_lock_region="us-east-1",
                 challenge=CHALLENGE, names=NAMES)
    return run_playbook(PLAYBOOK, None, extra, *args, env=env, timeout=300,
                        log=world["tmp"] / f"{who}-{by_name}-{len(args)}.log")


# moto's Route 53 refuses every request of an IAM user once enforcement is on, even one allowed "*" on "*" (403 with
# an empty error: read here, moto 5.2): the Route 53 statements are proven below against the calls the playbook
# really makes, recorded, and IAM's table. The lock's are proven by moto.
def test_moto_refuses_even_an_allow_all_route53_caller(world):
    import boto3
    key, secret = world["keys"]["all"]
    r53 = boto3.client("route53", endpoint_url=world["endpoint"], region_name="us-east-1", aws_access_key_id=key,
                       aws_secret_access_key=secret)
    with pytest.raises(Exception, match="ListHostedZones"):
        r53.list_hosted_zones()


def test_the_lock_succeeds_with_the_policy(world):
    done = issue(world, "all", "--tags", "lock")
    assert done.rc == 0, done.log.read_text()[-3000:]


@pytest.mark.parametrize("sid,refused", [("TheLockItem", "dynamodb:UpdateItem"), ("TheLockTable", "dynamodb:DescribeTable")])
def test_each_lock_statement_is_needed(world, sid, refused):
    done = issue(world, sid, "--tags", "lock")
    text = done.log.read_text()
    assert done.rc != 0 and refused in text, text[-3000:]


@pytest.fixture(scope="module")
def route53_calls(world, tmp_path_factory):
    """The Route 53 requests of the whole playbook (zone by name, then by id) against a moto without enforcement,
    recorded by a proxy: [(action, resource, context)] as IAM would evaluate each."""
    tmp = tmp_path_factory.mktemp("iam-tls-issuer-r53")
    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    try:
        zone_id = seed(moto)
        out = []
        for by_name in (True, False):
            with CountingProxy(moto.endpoint) as proxy:
                done = issue(dict(world, zone_id=zone_id, tmp=tmp), None, by_name=by_name, endpoint=proxy.endpoint)
                assert done.rc == 0, done.log.read_text()[-3000:]
                requests = list(proxy.requests)
            out += [call for method, path, body in requests if path.startswith("/2013-04-01/")
                    for call in [route53_call(method, path, body, world["zone_id"], zone_id)]]
        yield out
    finally:
        moto.stop()


def route53_call(method, path, body, zone_id, recorded_zone):
    """(action, resource, context) of one Route 53 REST request (the API reference's paths), the recorded world's
    zone id read as the enforced world's, whose document is under test."""
    parts = path.split("?", 1)[0].split("/")[2:]   # after /2013-04-01/
    if parts == ["hostedzone"] and method == "GET":
        return "route53:ListHostedZones", "*", {}
    if parts[0] == "change":
        return "route53:GetChange", f"arn:aws:route53:::change/{parts[1]}", {}
    assert parts[0] == "hostedzone" and parts[1] == recorded_zone, path
    zone = f"arn:aws:route53:::hostedzone/{zone_id}"
    if len(parts) == 2 and method == "GET":
        return "route53:GetHostedZone", zone, {}
    if parts[2:] == ["rrset"] and method == "GET":
        return "route53:ListResourceRecordSets", zone, {}
    if parts[2:] in (["rrset"], ["rrset", ""]) and method == "POST":
        ns = {"r": "https://route53.amazonaws.com/doc/2013-04-01/"}
        changes = ET.fromstring(body).findall(".//r:Change", ns)
        return "route53:ChangeResourceRecordSets", zone, {
            "route53:ChangeResourceRecordSetsActions": sorted({c.findtext("r:Action", namespaces=ns) for c in changes}),
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
                {c.findtext(".//r:Name", namespaces=ns).lower().rstrip(".") for c in changes}),
            "route53:ChangeResourceRecordSetsRecordTypes": sorted({c.findtext(".//r:Type", namespaces=ns) for c in changes})}
    raise AssertionError(f"a Route 53 call the test does not know: {method} {path}")


def test_every_route53_call_the_issuer_makes_is_allowed(world, route53_calls):
    actions = {a for a, _, _ in route53_calls}
    assert {"route53:ListHostedZones", "route53:ChangeResourceRecordSets", "route53:GetChange",
            "route53:ListResourceRecordSets"} <= actions, actions
    for action, resource, context in route53_calls:
        assert allows(world["doc"], action, resource, context), (action, resource, context)


@pytest.mark.parametrize("sid", ["ChallengeRecordsOnly", "ReadTheZone", "WaitForInsync", "FindTheZoneByName"])
def test_each_route53_statement_is_needed(world, route53_calls, sid):
    refused = [c for c in route53_calls if not allows(without(world["doc"], sid), *c)]
    assert refused, f"no call needs {sid}"


def test_the_conditions_allow_the_certificates_own_records_and_lock_item_only(world):
    doc, zone = world["doc"], f"arn:aws:route53:::hostedzone/{world['zone_id']}"
    own = {"route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{DOMAIN}"],
           "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"], "route53:ChangeResourceRecordSetsActions": ["UPSERT"]}
    assert allows(doc, "route53:ChangeResourceRecordSets", zone, own)
    for other in ({"route53:ChangeResourceRecordSetsNormalizedRecordNames": [DOMAIN]},          # the cluster's own record
                  {"route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.other.{ZONE}"]},
                  {"route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"]}):
        assert not allows(doc, "route53:ChangeResourceRecordSets", zone, dict(own, **other)), other
    assert not allows(doc, "route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/ZOTHER", own)
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"
    assert allows(doc, "dynamodb:UpdateItem", table, {"dynamodb:LeadingKeys": [KEY]})
    assert not allows(doc, "dynamodb:UpdateItem", table, {"dynamodb:LeadingKeys": ["tls-issuer/other.example.test"]})
    assert not allows(doc, "dynamodb:CreateTable", table)
    assert not allows(doc, "dynamodb:DeleteItem", table, {"dynamodb:LeadingKeys": [KEY]})


def test_the_document_refuses_what_it_cannot_scope():
    with pytest.raises(ValueError, match="not a Route 53 hosted zone id"):
        published.tls_issuer_policy("aws", ACCOUNT, "", NAMES, TABLE, "us-east-1", KEY)
    with pytest.raises(ValueError, match="not a DynamoDB table name"):
        published.tls_issuer_policy("aws", ACCOUNT, "Z123", NAMES, "", "us-east-1", KEY)
    doc = published.tls_issuer_policy("aws", ACCOUNT, "/hostedzone/Z123", NAMES, TABLE, "us-east-1", KEY, create_table=True,
                                      find_zone_by_name=False)
    assert [s["Sid"] for s in doc["Statement"]] == ["ChallengeRecordsOnly", "ReadTheZone", "WaitForInsync", "TheLockItem",
                                                    "TheLockTable"]
    assert doc["Statement"][-1]["Action"] == ["dynamodb:DescribeTable", "dynamodb:CreateTable"]
    assert json.dumps(doc).count("_acme-challenge.") == 1   # apex and wildcard share one record name
