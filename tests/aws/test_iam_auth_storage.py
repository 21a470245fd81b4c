"""The auth servers' storage policy (teleport-ha-auth-storage, aws-pools.yml) is enough and least privilege.

The actor is Teleport's Auth Service, which the sandbox's Teleport double does not replace here (it opens no
backend: issue 24), so its work is replayed as the API calls Teleport's own code makes at start and while it runs
(gravitational/teleport: lib/backend/dynamo/dynamodbbk.go New: DescribeTable, CreateTable with a NEW_IMAGE stream,
TurnOnTimeToLive, TurnOnStreams, SetContinuousBackups when asked; its stream watcher's DescribeStream,
GetShardIterator and GetRecords; items read and written; lib/events/dynamoevents the same for the events table;
lib/events/s3sessions: the bucket's versioning and encryption checked, recordings uploaded and read back). Against
moto with its IAM enforcement on (iam_proof.py says what moto checks): the document's action projection lets every
call succeed, and each statement moto can tell apart, removed, makes its own calls fail; against the table of
IAM's rules: the resources are the cluster's own tables, stream, indexes, bucket and key, and nothing beside them."""
import pytest
from iam_policy_docs import published
from iam_proof import action_projection, allows, enforce, principal, without

from harness.moto import MotoServer, client

ACCOUNT, REGION = "123456789012", "us-west-2"   # moto's account
STATE, EVENTS, BUCKET = "tp-backend", "tp-events", "tp-sessions-123456789012"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
DOCUMENT = published.auth_storage_policy("aws", ACCOUNT, REGION, "dynamodb", STATE,
                                         [f"dynamodb://{EVENTS}", "file:///var/lib/teleport/audit/events"],
                                         f"s3://{BUCKET}/records", True)
SIDS = [s["Sid"] for s in DOCUMENT["Statement"]]


def table(name):
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


# --- the document ---------------------------------------------------------------------------------------------
def test_the_document_is_teleports_scoped_to_the_clusters_resources():
    assert SIDS == ["ClusterStateStorage", "ClusterEventsStorage", "RecordingsBucket", "RecordingsObjects"]
    by_sid = {s["Sid"]: s for s in DOCUMENT["Statement"]}
    assert by_sid["ClusterStateStorage"]["Resource"] == [table(STATE), table(STATE) + "/stream/*"]
    assert by_sid["ClusterEventsStorage"]["Resource"] == [table(EVENTS), table(EVENTS) + "/index/*"]
    assert by_sid["RecordingsBucket"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert by_sid["RecordingsObjects"]["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    # Teleport only creates tables; it never deletes one, nor a recording.
    actions = {a for s in DOCUMENT["Statement"] for a in s["Action"]}
    assert not {a for a in actions if "Delete" in a and a != "dynamodb:DeleteItem"}


def test_continuous_backups_off_drops_the_one_call_teleport_then_skips():
    doc = published.auth_storage_policy("aws", ACCOUNT, REGION, "dynamodb", STATE, [], "", False)
    assert [s["Sid"] for s in doc["Statement"]] == ["ClusterStateStorage"]
    assert "dynamodb:UpdateContinuousBackups" not in doc["Statement"][0]["Action"]


def test_a_key_for_the_recordings_is_named_by_its_arn():
    doc = published.auth_storage_policy("aws", ACCOUNT, REGION, "etcd", "", [], f"s3://{BUCKET}/r?sse_kms_key={KEY}")
    assert [s["Sid"] for s in doc["Statement"]] == ["RecordingsBucket", "RecordingsObjects", "RecordingsKey"]
    assert doc["Statement"][2]["Resource"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY}"
    # disablesse: Teleport sets no encryption of its own, so it uses no key.
    doc = published.auth_storage_policy("aws", ACCOUNT, REGION, "etcd", "", [],
                                        f"s3://{BUCKET}/r?sse_kms_key={KEY}&disablesse=true")
    assert [s["Sid"] for s in doc["Statement"]] == ["RecordingsBucket", "RecordingsObjects"]


def test_storage_needing_no_aws_permission_has_no_document():
    assert published.auth_storage_policy("aws", ACCOUNT, REGION, "etcd", "", ["file:///a", "stdout://"], "file:///r") is None


@pytest.mark.parametrize("args,message", [
    (("dynamodb", "a", [], ""), "'a' is not a DynamoDB table name"),
    (("dynamodb", "tp-backend", ["dynamodb://tp-backend"], ""), "is the cluster state table"),
    (("dynamodb", "tp-backend", ["athena://db.table?topicArn=x"], ""), "covers dynamodb://, file:// and stdout:// only"),
    (("dynamodb", "tp-backend", ["tp-events"], ""), "has no scheme"),
    (("dynamodb", "tp-backend", [], "s3://Bad_Bucket/r"), "is not an S3 bucket name"),
    (("dynamodb", "tp-backend", [], "gs://bucket/r"), "covers s3:// and file:// only"),
    (("dynamodb", "tp-backend", [], f"s3://{BUCKET}/r?sse_kms_key=alias/teleport"), "an alias cannot scope a policy"),
])
def test_what_the_statements_cannot_cover_is_refused_by_name(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        published.auth_storage_policy("aws", ACCOUNT, REGION, *args)


def test_the_table_allows_the_clusters_resources_and_nothing_beside_them():
    for action, resource in [("dynamodb:PutItem", table(STATE)), ("dynamodb:GetRecords", table(STATE) + "/stream/2026"),
                             ("dynamodb:Query", table(EVENTS) + "/index/timesearchV2"),
                             ("s3:GetBucketVersioning", f"arn:aws:s3:::{BUCKET}"),
                             ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/records/x.tar")]:
        assert allows(DOCUMENT, action, resource), (action, resource)
    for action, resource in [("dynamodb:PutItem", table("other-backend")), ("dynamodb:DeleteTable", table(STATE)),
                             ("dynamodb:GetRecords", table(EVENTS) + "/stream/2026"),
                             ("s3:PutObject", "arn:aws:s3:::other-bucket/x"), ("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/x"),
                             ("dynamodb:PutItem", f"arn:aws:dynamodb:eu-central-1:{ACCOUNT}:table/{STATE}")]:
        assert not allows(DOCUMENT, action, resource), (action, resource)
    # The events statement is the only one for the events table (moto cannot tell it apart: its actions are all
    # the state statement's too, and moto checks DynamoDB on Resource "*").
    assert not allows(without(DOCUMENT, "ClusterEventsStorage"), "dynamodb:PutItem", table(EVENTS))


# --- against moto ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iam-auth-storage")
    moto = MotoServer(log_path=str(tmp / "moto.log")).start()
    try:
        # The recordings bucket is the operator's, made before Teleport starts ("Manage the Bucket Yourself").
        s3 = client("s3", REGION, moto.endpoint)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        iam = client("iam", "us-east-1", moto.endpoint)
        keys = {"all": principal(iam, "all", action_projection(DOCUMENT, keep_s3_resources=True))}
        for sid in SIDS:
            keys[sid] = principal(iam, sid, action_projection(without(DOCUMENT, sid), keep_s3_resources=True))
        enforce(moto.endpoint)
        yield {"moto": moto, "keys": keys}
    finally:
        moto.stop()


def session(world, who, service):
    import boto3
    from botocore.config import Config
    key, secret = world["keys"][who]
    return boto3.client(service, region_name=REGION, endpoint_url=world["moto"].endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def start_state_backend(ddb, streams, name):
    """What Teleport's DynamoDB backend calls at start and then (dynamodbbk.go), on the state table."""
    try:
        ddb.describe_table(TableName=name)
    except ddb.exceptions.ResourceNotFoundException:
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "HashKey", "AttributeType": "S"},
                                               {"AttributeName": "FullPath", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "HashKey", "KeyType": "HASH"},
                                    {"AttributeName": "FullPath", "KeyType": "RANGE"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    ddb.describe_time_to_live(TableName=name)
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "Expires"})
    described = ddb.describe_table(TableName=name)["Table"]
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    item = {"HashKey": {"S": "teleport"}, "FullPath": {"S": "/authorities/host"}, "Value": {"B": b"x"}}
    ddb.put_item(TableName=name, Item=item)
    ddb.get_item(TableName=name, Key={k: item[k] for k in ("HashKey", "FullPath")})
    ddb.query(TableName=name, KeyConditionExpression="HashKey = :h", ExpressionAttributeValues={":h": {"S": "teleport"}})
    ddb.update_item(TableName=name, Key={k: item[k] for k in ("HashKey", "FullPath")},
                    UpdateExpression="SET #v = :v", ExpressionAttributeNames={"#v": "Value"},
                    ExpressionAttributeValues={":v": {"B": b"y"}})
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": dict(item, FullPath={"S": "/nodes/a"})}}]})
    ddb.scan(TableName=name, Limit=10)
    ddb.delete_item(TableName=name, Key={k: item[k] for k in ("HashKey", "FullPath")})
    arn = described["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return len(streams.get_records(ShardIterator=it)["Records"])


def start_events_backend(ddb, name):
    """What Teleport's DynamoDB audit events backend calls (lib/events/dynamoevents): its table, TTL, backups,
    events written and searched."""
    try:
        ddb.describe_table(TableName=name)
    except ddb.exceptions.ResourceNotFoundException:
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "SessionID", "AttributeType": "S"},
                                               {"AttributeName": "EventIndex", "AttributeType": "N"}],
                         KeySchema=[{"AttributeName": "SessionID", "KeyType": "HASH"},
                                    {"AttributeName": "EventIndex", "KeyType": "RANGE"}])
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "Expires"})
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.put_item(TableName=name, Item={"SessionID": {"S": "s1"}, "EventIndex": {"N": "0"}})
    return ddb.query(TableName=name, KeyConditionExpression="SessionID = :s",
                     ExpressionAttributeValues={":s": {"S": "s1"}})["Count"]


def record_a_session(s3):
    """What Teleport's S3 session storage does (lib/events/s3sessions): the bucket's versioning and encryption
    checked, a recording uploaded in parts and read back, the bucket's uploads listed."""
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    try:
        s3.get_bucket_encryption(Bucket=BUCKET)
    except s3.exceptions.ClientError as e:
        if "ServerSideEncryptionConfigurationNotFoundError" not in str(e):
            raise
    s3.list_multipart_uploads(Bucket=BUCKET)
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="records/s1.tar")["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key="records/s1.tar", UploadId=up, PartNumber=1, Body=b"r" * 64)["ETag"]
    s3.list_parts(Bucket=BUCKET, Key="records/s1.tar", UploadId=up)
    s3.complete_multipart_upload(Bucket=BUCKET, Key="records/s1.tar", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.list_object_versions(Bucket=BUCKET, Prefix="records/")
    return s3.get_object(Bucket=BUCKET, Key="records/s1.tar")["Body"].read()


def test_moto_refuses_a_caller_with_no_policy_for_it(world):
    with pytest.raises(Exception, match="InvalidClientTokenId|not valid|security token"):
        client("dynamodb", REGION, world["moto"].endpoint).list_tables()


def test_teleports_work_succeeds_with_the_policy(world):
    start_state_backend(session(world, "all", "dynamodb"), session(world, "all", "dynamodbstreams"), STATE)
    assert start_events_backend(session(world, "all", "dynamodb"), EVENTS) == 1
    assert record_a_session(session(world, "all", "s3")) == b"r" * 64


@pytest.mark.parametrize("sid,work,refused", [
    ("ClusterStateStorage", "stream", "DescribeStream"),
    ("RecordingsBucket", "recordings", "GetBucketVersioning"),
    ("RecordingsObjects", "recordings", "CreateMultipartUpload"),
])
def test_each_statement_is_needed(world, sid, work, refused):
    """Without the statement, the first call only it allows is refused (AccessDenied naming the action)."""
    with pytest.raises(Exception) as e:
        if work == "stream":
            start_state_backend(session(world, sid, "dynamodb"), session(world, sid, "dynamodbstreams"), STATE)
        else:
            record_a_session(session(world, sid, "s3"))
    assert "AccessDenied" in str(e.value) and refused in str(e.value), str(e.value)
