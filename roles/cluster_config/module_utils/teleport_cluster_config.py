# -*- coding: utf-8 -*-
"""The published cluster configuration (docs/boot.md): its names, its documents, the boot kit and
the read-only IAM policy each pool's instances need.

Pure functions (the kit builder alone reads files), shared by the cluster_config module that
publishes, the aws_pools modules that make the config bucket and attach the boot policies, and
tests/aws/iam_policy_docs.py, which writes docs/iam/. teleport-ha-boot reads what these write.
"""
import gzip
import hashlib
import io
import json
import os
import re
import tarfile

FORMAT_VERSION = 1
ROLES = ("auth", "proxy")
# The kit's one key in each region's config bucket; the bucket is versioned and the parameter names
# the version, so an instance reads exactly the kit its parameter describes.
KIT_KEY = "boot-kit/kit.tar.gz"
# Auto Scaling, EC2 and the host's own discovery: AWS authorizes these Describe calls only on "*"
# (Service Authorization Reference: no resource types for DescribeAutoScalingInstances,
# DescribeAutoScalingGroups, DescribeInstances).
DESCRIBE_ONLY_ON_STAR = ("autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                         "ec2:DescribeInstances")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+\Z")
_ACCOUNT = re.compile(r"^[0-9]{12}\Z")


def canonical(doc):
    """The bytes a document is compared and digested as: sorted keys, no spaces, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def digest(doc):
    return sha256_hex(canonical(doc))


def parameter_name(prefix, role):
    return "%s/%s" % (prefix.rstrip("/"), role)


def secret_name(prefix, role):
    return "%s/%s" % (prefix.rstrip("/"), role)


def bucket_name(short_name, account_id, region):
    """<short>-config-<account>-<region>: S3 names are global, so the account makes it this account's,
    and one bucket per region keeps the kit in the region its instances read from."""
    if not _ACCOUNT.match(str(account_id)):
        raise ValueError("account id %r is not 12 digits" % (account_id,))
    if not _REGION.match(region):
        raise ValueError("region %r is not an AWS region name" % (region,))
    name = "%s-config-%s-%s" % (short_name, account_id, region)
    if len(name) > 63 or not re.match(r"^[a-z0-9][a-z0-9-]*[a-z0-9]\Z", name):
        raise ValueError("bucket name %r is not a valid S3 bucket name (3-63 lower-case letters, digits and dashes): "
                         "shorten aws_cluster_short_name" % name)
    return name


def tls_only_policy(partition, bucket):
    """The config bucket's policy: every request without TLS is denied (aws:SecureTransport false)."""
    arn = "arn:%s:s3:::%s" % (partition, bucket)
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, arn + "/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def parameter_document(cluster, role, region, release, variables, inventory, kit, secret):
    """The SSM parameter's value: everything a new host of this pool reads, but the secrets, whose
    document is only named and digested here. `digest` covers everything else in it."""
    doc = {
        "version": FORMAT_VERSION,
        "cluster": cluster,
        "role": role,
        "region": region,
        "teleport_version": release["teleport_version"],
        "release": {k: v for k, v in sorted(release.items()) if k != "teleport_version"},
        "vars": variables,
        "inventory": inventory,
        "kit": kit,
        "secret": secret,
    }
    doc["digest"] = digest(doc)
    return doc


def secret_document(cluster, role, variables, files):
    return {"version": FORMAT_VERSION, "cluster": cluster, "role": role, "vars": variables, "files": files}


# --- the boot kit ------------------------------------------------------------------------------

def _skipped(rel, exclude):
    parts = rel.split("/")
    if any(p in ("__pycache__", ".git", ".pytest_cache") for p in parts) or rel.endswith((".pyc", ".retry")):
        return True
    return any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in exclude)


def kit_members(root, include, exclude, extra_files):
    """(path in the kit, source path) of every file, sorted: the directories and files of include
    under root (less exclude and caches), plus extra_files {path in the kit: source path}."""
    out = {}
    for item in include:
        src = os.path.join(root, item)
        if os.path.isfile(src):
            out[item] = src
            continue
        if not os.path.isdir(src):
            raise ValueError("%s is missing from %s: the boot kit needs it" % (item, root))
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                if not _skipped(rel, exclude):
                    out[rel] = path
    for rel, path in extra_files.items():
        if not os.path.isfile(path):
            raise ValueError("%s (for %s in the boot kit) does not exist" % (path, rel))
        out[rel] = path
    return sorted(out.items())


def build_kit(root, include, exclude, extra_files, dest):
    """Writes the kit as a reproducible tar.gz at dest: sorted members, no times, owners or
    modes but the executable bit. Returns its sha256 (what an instance verifies), the sha256 of the
    uncompressed tar (what decides whether to upload: gzip's bytes may differ between zlib
    versions for the same content), its size and member count."""
    raw = io.BytesIO()
    members = kit_members(root, include, exclude, extra_files)
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for rel, path in members:
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(rel)
            with open(path, "rb") as f:
                data = f.read()
            info.size = len(data)
            info.mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    content = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
        gz.write(content)
    blob = packed.getvalue()
    with open(dest, "wb") as f:
        f.write(blob)
    return {"sha256": sha256_hex(blob), "content_sha256": sha256_hex(content), "size": len(blob),
            "files": len(members)}


# --- what an instance of a pool may read ----------------------------------------------------

# The tags teleport-ha-boot writes on its own instance (roles/boot_kit/files/teleport_ha_boot.py) and the
# inventory service reads as data (docs/boot.md).
BOOT_RESULT_TAGS = ("teleport-ha:boot-failure", "teleport-ha:boot-config-digest")


def _arn(partition, service, region, account, resource):
    return "arn:%s:%s:%s:%s:%s" % (partition, service, region, account, resource)


def boot_policy(partition, account_id, pools, parameter_prefix, secret_prefix, membership_parameter, short_name,
                kit_key=KIT_KEY):
    """The IAM policy document of one pool role's instances. pools: [{"role", "region", "asg"}] of that
    role (the same instance profile serves them all). Every statement names the cluster's own
    resources of that role, but the Describe calls AWS allows only on "*"."""
    roles = {p["role"] for p in pools}
    if len(roles) != 1 or not roles <= set(ROLES):
        raise ValueError("pools must all have one role, auth or proxy; got %s" % sorted(roles))
    (role,) = roles
    pools = sorted(pools, key=lambda p: p["region"])
    regions = [p["region"] for p in pools]

    def ssm_parameter(region, name):
        return _arn(partition, "ssm", region, account_id, "parameter/" + name.lstrip("/"))

    statements = [
        {"Sid": "ReadThePublishedConfiguration", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": [ssm_parameter(r, parameter_name(parameter_prefix, role)) for r in regions]},
        {"Sid": "ReadTheMembershipRecord", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": [ssm_parameter(r, membership_parameter) for r in regions]},
        # Secrets Manager appends six random characters to a secret's ARN.
        {"Sid": "ReadThePoolSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": [_arn(partition, "secretsmanager", r, account_id,
                           "secret:%s-??????" % secret_name(secret_prefix, role)) for r in regions]},
        # GetObjectVersion: the parameter names the kit's version.
        {"Sid": "ReadTheBootKit", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": ["arn:%s:s3:::%s/%s" % (partition, bucket_name(short_name, account_id, r), kit_key)
                      for r in regions]},
        {"Sid": "ReportOnItsOwnGroup", "Effect": "Allow",
         "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat",
                    "autoscaling:SetInstanceHealth"],
         "Resource": [_arn(partition, "autoscaling", p["region"], account_id,
                           "autoScalingGroup:*:autoScalingGroupName/" + p["asg"]) for p in pools]},
        # How its boot converge ended, for the inventory (the two keys teleport-ha-boot writes), on instances of
        # its own groups only: the group tag is Auto Scaling's, which no one can write (aws: prefix).
        {"Sid": "TagItsBootResult", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": [_arn(partition, "ec2", r, account_id, "instance/*") for r in regions],
         "Condition": {"StringEquals": {"aws:ResourceTag/aws:autoscaling:groupName": [p["asg"] for p in pools]},
                       "ForAllValues:StringEquals": {"aws:TagKeys": list(BOOT_RESULT_TAGS)}}},
        {"Sid": "DiscoverItself", "Effect": "Allow", "Action": list(DESCRIBE_ONLY_ON_STAR), "Resource": "*"},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def policy_name(role):
    return "teleport-ha-boot-%s" % role


# --- what the inventory service may read -------------------------------------------------------

INVENTORY_SERVICE_POLICY_NAME = "teleport-ha-inventory-service"
# The inventory service's discovery (inventory-service/.../RegionDiscoverer.java): AWS grants these two on "*" only
# (Service Authorization Reference: no resource types for DescribeAutoScalingGroups or DescribeInstances).
INVENTORY_DISCOVERY_ON_STAR = ("autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances")


def inventory_service_policy(partition, account_id, pools, membership_parameter, host_keys=True):
    """The IAM policy document of the inventory service (list, serve, known-hosts): pools: [{"role", "region",
    "asg"}], every pool of the cluster. The Describe calls of discovery on "*", each region's membership record, and
    (host_keys) the console output of the pools' own instances, where the SSH host keys are: the group tag is
    Auto Scaling's, which nobody can write (aws: prefix)."""
    if not pools:
        raise ValueError("pools is empty: the inventory service's policy names the pools it reads")
    pools = sorted(pools, key=lambda p: (p["region"], p["asg"]))
    regions = sorted({p["region"] for p in pools})
    statements = [
        {"Sid": "DiscoverThePools", "Effect": "Allow", "Action": list(INVENTORY_DISCOVERY_ON_STAR), "Resource": "*"},
        {"Sid": "ReadTheMembershipRecords", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": [_arn(partition, "ssm", r, account_id, "parameter/" + membership_parameter.lstrip("/"))
                      for r in regions]},
    ]
    if host_keys:
        statements.append(
            {"Sid": "ReadThePoolsHostKeys", "Effect": "Allow", "Action": "ec2:GetConsoleOutput",
             "Resource": [_arn(partition, "ec2", r, account_id, "instance/*") for r in regions],
             "Condition": {"StringEquals": {"aws:ResourceTag/aws:autoscaling:groupName": [p["asg"] for p in pools]}}})
    return {"Version": "2012-10-17", "Statement": statements}


# --- what the publishing playbooks may write ----------------------------------------------------

PUBLISHER_POLICY_NAME = "teleport-ha-publisher"


def publisher_policy(partition, account_id, regions, short_name, parameter_prefix, secret_prefix, bucket_parameter,
                     kit_key=KIT_KEY):
    """The IAM policy document of whoever runs the publishing (site.yml, tls.yml, upgrade.yml and
    playbooks/cluster-config.yml, from the controller or AWX): in each region with a pool, read the bucket's name,
    write the pools' parameters and secrets (creating them with the cluster's tags: AddTagsToResource and
    TagResource are what a Create/Put with tags needs), and upload the boot kit (HeadBucket needs ListBucket,
    HeadObject GetObject)."""
    regions = sorted(set(regions))
    if not regions:
        raise ValueError("regions is empty: the publisher's policy names the regions it publishes in")

    def arn(service, region, resource):
        return _arn(partition, service, region, account_id, resource)
    prefix, secrets = parameter_prefix.strip("/"), secret_prefix.strip("/")
    buckets = [bucket_name(short_name, account_id, r) for r in regions]
    statements = [
        {"Sid": "ReadTheConfigBucketNames", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": [arn("ssm", r, "parameter/" + bucket_parameter.lstrip("/")) for r in regions]},
        {"Sid": "PublishTheParameters", "Effect": "Allow",
         "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:AddTagsToResource"],
         "Resource": [arn("ssm", r, "parameter/%s/*" % prefix) for r in regions]},
        # Secrets Manager appends six random characters to a secret's name in its ARN.
        {"Sid": "PublishTheSecrets", "Effect": "Allow",
         "Action": ["secretsmanager:GetSecretValue", "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
                    "secretsmanager:TagResource"],
         "Resource": [arn("secretsmanager", r, "secret:%s/*" % secrets) for r in regions]},
        {"Sid": "FindTheConfigBuckets", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": ["arn:%s:s3:::%s" % (partition, b) for b in buckets]},
        {"Sid": "UploadTheBootKit", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": ["arn:%s:s3:::%s/%s" % (partition, b, kit_key) for b in buckets]},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


# --- what the auth pool's Teleport may do with its storage ----------------------------------------

AUTH_STORAGE_POLICY_NAME = "teleport-ha-auth-storage"
# DynamoDB table names (DynamoDB developer guide, "Naming rules"); S3 bucket names ("Bucket naming rules").
_DYNAMODB_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY_ID = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
_KMS_KEY_ARN = re.compile(r"^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$")
# Teleport's documented policies ("Storage Backends", docs/pages/includes/dynamodb-iam-policy.mdx and
# s3-iam-policy.mdx, "Manage the Bucket Yourself"): the cluster state table with its stream, the audit events table
# with its indexes, the recordings bucket and its objects.
TELEPORT_STATE_TABLE_ACTIONS = (
    "dynamodb:BatchWriteItem", "dynamodb:UpdateTimeToLive", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan",
    "dynamodb:Query", "dynamodb:DescribeStream", "dynamodb:UpdateItem", "dynamodb:DescribeTimeToLive",
    "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:GetShardIterator", "dynamodb:GetItem",
    "dynamodb:UpdateTable", "dynamodb:GetRecords")
TELEPORT_EVENTS_TABLE_ACTIONS = (
    "dynamodb:CreateTable", "dynamodb:BatchWriteItem", "dynamodb:UpdateTimeToLive", "dynamodb:PutItem",
    "dynamodb:DescribeTable", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query",
    "dynamodb:UpdateItem", "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTable", "dynamodb:UpdateContinuousBackups")
TELEPORT_RECORDINGS_BUCKET_ACTIONS = (
    "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:ListBucket", "s3:GetEncryptionConfiguration",
    "s3:GetBucketVersioning")
TELEPORT_RECORDINGS_OBJECT_ACTIONS = (
    "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload")
# Teleport's S3 server-side encryption with a customer managed key ("S3 Server Side Encryption", the auth
# servers' grant in its key policy example), as an identity policy on that key.
TELEPORT_RECORDINGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                   "kms:DescribeKey")
# Audit event destinations that need no AWS permission.
_LOCAL_EVENT_SCHEMES = ("file", "stdout")


def _storage_uri(uri, where):
    """(scheme, host, path, {query}) of a Teleport storage URI; ValueError naming where for a malformed one."""
    from urllib.parse import parse_qs, urlsplit
    parts = urlsplit(str(uri))
    if not parts.scheme:
        raise ValueError("%s: %r has no scheme (dynamodb://, s3://, file://, ...)" % (where, uri))
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return parts.scheme, parts.netloc, parts.path, query


def auth_storage_policy(partition, account_id, region, storage_type, table_name, audit_events_uris,
                        audit_sessions_uri, continuous_backups=True):
    """The IAM policy document of the auth pool's Teleport for the storage teleport.yaml names (the teleport role's
    teleport_storage_type, teleport_dynamodb_table_name, teleport_storage_audit_events_uri,
    teleport_storage_audit_sessions_uri, teleport_dynamodb_continuous_backups), or None when it needs no AWS
    permission. Teleport's documented statements, scoped to those tables, that bucket and its key;
    dynamodb:UpdateContinuousBackups on the state table only with continuous backups on (Teleport sets them only
    then). ValueError, naming the variable and the fix, for a name AWS would refuse or a destination these
    statements do not cover."""
    def arn(service, where, resource):
        return _arn(partition, service, where, account_id, resource)
    statements = []
    if storage_type == "dynamodb":
        if not _DYNAMODB_TABLE.match(table_name or ""):
            raise ValueError("teleport_dynamodb_table_name %r is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)"
                             % (table_name,))
        actions = list(TELEPORT_STATE_TABLE_ACTIONS) + (["dynamodb:UpdateContinuousBackups"] if continuous_backups else [])
        statements.append({"Sid": "ClusterStateStorage", "Effect": "Allow", "Action": actions,
                           "Resource": [arn("dynamodb", region, "table/" + table_name),
                                        arn("dynamodb", region, "table/%s/stream/*" % table_name)]})
    events = []
    for uri in audit_events_uris or []:
        scheme, host, _, query = _storage_uri(uri, "teleport_storage_audit_events_uri")
        if scheme in _LOCAL_EVENT_SCHEMES:
            continue
        if scheme != "dynamodb":
            raise ValueError("teleport_storage_audit_events_uri %r: the auth storage policy covers dynamodb://, file:// "
                             "and stdout:// only; set aws_pools_auth_storage_policy: false and attach your own" % uri)
        if not _DYNAMODB_TABLE.match(host) or host == table_name:
            raise ValueError("teleport_storage_audit_events_uri %r: %r is not a DynamoDB table name, or is the cluster "
                             "state table (Teleport needs two tables)" % (uri, host))
        where = query.get("region", region)
        events += [arn("dynamodb", where, "table/" + host), arn("dynamodb", where, "table/%s/index/*" % host)]
    if events:
        statements.append({"Sid": "ClusterEventsStorage", "Effect": "Allow",
                           "Action": list(TELEPORT_EVENTS_TABLE_ACTIONS), "Resource": events})
    if audit_sessions_uri:
        scheme, bucket, _, query = _storage_uri(audit_sessions_uri, "teleport_storage_audit_sessions_uri")
        if scheme == "s3":
            if not _S3_BUCKET.match(bucket):
                raise ValueError("teleport_storage_audit_sessions_uri %r: %r is not an S3 bucket name"
                                 % (audit_sessions_uri, bucket))
            statements += [
                {"Sid": "RecordingsBucket", "Effect": "Allow", "Action": list(TELEPORT_RECORDINGS_BUCKET_ACTIONS),
                 "Resource": "arn:%s:s3:::%s" % (partition, bucket)},
                {"Sid": "RecordingsObjects", "Effect": "Allow", "Action": list(TELEPORT_RECORDINGS_OBJECT_ACTIONS),
                 "Resource": "arn:%s:s3:::%s/*" % (partition, bucket)}]
            key = query.get("sse_kms_key")
            if key and query.get("disablesse", "false") != "true":
                if _KMS_KEY_ARN.match(key):
                    key_arn = key
                elif _KMS_KEY_ID.match(key):
                    key_arn = arn("kms", query.get("region", region), "key/" + key)
                else:
                    raise ValueError("teleport_storage_audit_sessions_uri: sse_kms_key %r is neither a KMS key id nor a "
                                     "key ARN (an alias cannot scope a policy)" % key)
                statements.append({"Sid": "RecordingsKey", "Effect": "Allow",
                                   "Action": list(TELEPORT_RECORDINGS_KEY_ACTIONS), "Resource": key_arn})
        elif scheme != "file":
            raise ValueError("teleport_storage_audit_sessions_uri %r: the auth storage policy covers s3:// and file:// "
                             "only; set aws_pools_auth_storage_policy: false and attach your own" % audit_sessions_uri)
    if not statements:
        return None
    return {"Version": "2012-10-17", "Statement": statements}


# --- what the TLS issuer (tls.yml, on the controller or AWX) may do -------------------------------

TLS_ISSUER_POLICY_NAME = "teleport-ha-tls-issuer"
_ZONE_ID = re.compile(r"^[A-Z0-9]{1,32}$")


def tls_issuer_policy(partition, account_id, zone_id, names, lock_table, lock_region, lock_key, create_table=False,
                      find_zone_by_name=True):
    """The IAM policy document of whoever runs tls.yml (roles/tls_issuer): the DNS-01 challenge records of the
    certificate's names only (Route 53's normalized record names: lower case, no trailing dot, a wildcard's label
    dropped, so the apex and its wildcard share _acme-challenge.<domain>; TXT; CREATE, UPSERT and DELETE, what
    amazon.aws.route53 sends), reading that zone and waiting for its changes, and the lock item of this domain in
    the lock table (dynamodb:LeadingKeys), with CreateTable only when tls.yml may create the table."""
    zone_id = (zone_id or "").rsplit("/", 1)[-1]
    if not _ZONE_ID.match(zone_id):
        raise ValueError("tls_issuer_route53_zone_id %r is not a Route 53 hosted zone id (upper-case letters and digits, e.g. Z0123456789EXAMPLE)" % zone_id)
    if not _DYNAMODB_TABLE.match(lock_table or ""):
        raise ValueError("tls_issuer_lock_table %r is not a DynamoDB table name" % (lock_table,))
    records = sorted({"_acme-challenge." + n.lower().rstrip(".").removeprefix("*.") for n in names})
    if not records:
        raise ValueError("names is empty: the issuer's policy names the certificate's challenge records")
    zone = "arn:%s:route53:::hostedzone/%s" % (partition, zone_id)
    table = _arn(partition, "dynamodb", lock_region, account_id, "table/" + lock_table)
    statements = [
        {"Sid": "ChallengeRecordsOnly", "Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
         "Resource": zone,
         "Condition": {"ForAllValues:StringEquals": {
             "route53:ChangeResourceRecordSetsNormalizedRecordNames": records,
             "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
             "route53:ChangeResourceRecordSetsActions": ["CREATE", "UPSERT", "DELETE"]}}},
        {"Sid": "ReadTheZone", "Effect": "Allow", "Action": ["route53:ListResourceRecordSets", "route53:GetHostedZone"],
         "Resource": zone},
        {"Sid": "WaitForInsync", "Effect": "Allow", "Action": "route53:GetChange",
         "Resource": "arn:%s:route53:::change/*" % partition},
    ]
    if find_zone_by_name:
        # AWS grants ListHostedZones on "*" only (Service Authorization Reference: no resource type).
        statements.append({"Sid": "FindTheZoneByName", "Effect": "Allow", "Action": "route53:ListHostedZones",
                           "Resource": "*"})
    statements += [
        {"Sid": "TheLockItem", "Effect": "Allow", "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem"],
         "Resource": table, "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [lock_key]}}},
        {"Sid": "TheLockTable", "Effect": "Allow",
         "Action": ["dynamodb:DescribeTable"] + (["dynamodb:CreateTable"] if create_table else []), "Resource": table},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


# --- what the rolling plays (site.yml, upgrade.yml, restart.yml) may do to the balancers and groups -------------

ROLLING_POLICY_NAME = "teleport-ha-rolling"
# ELBv2's and Auto Scaling's Describe calls and EC2's DescribeInstances take no resource narrower than "*" (Service
# Authorization Reference).
ROLLING_DESCRIBE_ON_STAR = ("ec2:DescribeInstances", "elasticloadbalancing:DescribeTargetGroups",
                            "elasticloadbalancing:DescribeTargetHealth", "autoscaling:DescribeAutoScalingGroups")


def rolling_policy(partition, account_id, pools, short_name):
    """The IAM policy document of whoever runs the plays that restart hosts one batch at a time (site.yml,
    upgrade.yml, restart.yml, upgrade-proxy-region.yml; roles/teleport tasks lb_drain, lb_rejoin, asg_suspend,
    asg_resume): each host drained from and put back into the target groups it is in (the cluster's, named
    <short>-...: aws-edge.yml's names), and the batch's groups' processes suspended and resumed (the pools' own
    groups). pools: [{"role", "region", "asg"}], every pool of the cluster."""
    if not pools:
        raise ValueError("pools is empty: the rolling plays' policy names the pools they roll")
    pools = sorted(pools, key=lambda p: (p["region"], p["asg"]))
    regions = sorted({p["region"] for p in pools})
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "FindTheHostsTargetGroups", "Effect": "Allow", "Action": list(ROLLING_DESCRIBE_ON_STAR), "Resource": "*"},
        {"Sid": "DrainAndRejoinTheClustersTargetGroups", "Effect": "Allow",
         "Action": ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"],
         "Resource": [_arn(partition, "elasticloadbalancing", r, account_id, "targetgroup/%s-*/*" % short_name)
                      for r in regions]},
        {"Sid": "HoldThePoolsGroupsStill", "Effect": "Allow",
         "Action": ["autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"],
         "Resource": [_arn(partition, "autoscaling", p["region"], account_id,
                           "autoScalingGroup:*:autoScalingGroupName/" + p["asg"]) for p in pools]},
    ]}


# --- the infrastructure playbooks' own documents (aws-pools.yml, aws-edge.yml) -------------------------------------
# They create and change what the other documents name, so they are the widest; still, each statement names the
# cluster's own resources where the service's authorization lets a policy name them (by name in the ARN, or by the
# TeleportCluster tag the roles put on everything they create), and "*" only where AWS authorizes nothing narrower
# (Describe and List calls, CreateHealthCheck, CreateHostedZone). Sources: the Service Authorization Reference of
# each service (its actions' resource types and condition keys), and for what a call implies: Amazon EC2 Auto
# Scaling's "Launch template permissions" (a group made or changed with a launch template needs ec2:RunInstances on
# what the template launches, ec2:CreateTags when it tags, iam:PassRole for its instance profile's role), Elastic
# Load Balancing's tag-on-create (elasticloadbalancing:AddTags), and Route 53's private zones (ec2:DescribeVpcs).
AWS_POOLS_POLICY_NAME = "teleport-ha-aws-pools"
AWS_EDGE_POLICY_NAME = "teleport-ha-aws-edge"
CLUSTER_TAG = "TeleportCluster"
AWS_POOLS_DESCRIBE_ON_STAR = (
    "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeImages", "ec2:DescribeSecurityGroups",
    "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions", "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLifecycleHooks", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags")
AWS_EDGE_DESCRIBE_ON_STAR = (
    "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeSecurityGroups", "autoscaling:DescribeAutoScalingGroups",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTags",
    "route53:ListHostedZonesByName", "route53:ListHealthChecks", "route53:GetChange")
CONFIG_BUCKET_ACTIONS = (
    "s3:ListBucket", "s3:CreateBucket", "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:GetBucketPolicy",
    "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:GetBucketOwnershipControls",
    "s3:PutBucketOwnershipControls", "s3:GetBucketVersioning", "s3:PutBucketVersioning",
    "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration")
_IAM_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,128}\Z")


def _iam_name(name, what):
    if not isinstance(name, str) or not _IAM_NAME.match(name):
        raise ValueError("%s %r is not an IAM name (1-128 of letters, digits and +=,.@_-)" % (what, name))
    return name


def _ec2(partition, regions, account_id, resource):
    """One ARN for every region of the cluster; the statement says which (_regional), which keeps a document of many
    regions inside IAM's size limits (6,144 characters for a managed policy)."""
    return ["arn:%s:ec2:*:%s:%s" % (partition, "" if resource.startswith("image/") else account_id, resource)]


def _regional(regions, condition=None):
    """A statement's Condition: its ARNs' "*" region is one of the cluster's (aws:RequestedRegion, a global key)."""
    out = {k: dict(v) for k, v in (condition or {}).items()}
    out.setdefault("StringEquals", {})["aws:RequestedRegion"] = list(regions)
    return out


def _group_arns(partition, account_id, pools):
    return [_arn(partition, "autoscaling", p["region"], account_id, "autoScalingGroup:*:autoScalingGroupName/" + p["asg"])
            for p in pools]


def _tagged(cluster, key="aws:ResourceTag/" + CLUSTER_TAG):
    return {"StringEquals": {key: cluster}}


def aws_pools_policy(partition, account_id, cluster, short_name, pools, image_parameter, instance_profile_roles=None,
                     inventory_service_role=""):
    """The IAM policy document of whoever runs aws-pools.yml (you, the controller, AWX). pools: [{"role", "region",
    "asg"}], every pool; image_parameter: aws_pools_image_parameter (the published AMI id); instance_profile_roles:
    {instance profile name: the name of the role it holds}, the pools' aws_pools_*_instance_profile (their roles
    are passed to the instances and carry the boot and storage policies); inventory_service_role:
    aws_pools_inventory_service_iam_role."""
    if not pools:
        raise ValueError("pools is empty: the aws-pools.yml policy names the pools it keeps")
    pools = sorted(pools, key=lambda p: (p["region"], p["asg"]))
    regions = sorted({p["region"] for p in pools})
    profiles = {_iam_name(k, "instance profile"): _iam_name(v, "role") for k, v in (instance_profile_roles or {}).items()}
    clusters_own = _ec2(partition, regions, account_id, "security-group/*") + _ec2(partition, regions, account_id,
                                                                                   "launch-template/*")

    def parameter(name):
        return _arn(partition, "ssm", "*", account_id, "parameter/" + name.lstrip("/"))

    statements = [
        {"Sid": "DiscoverTheNetworkImagesAndGroups", "Effect": "Allow", "Action": list(AWS_POOLS_DESCRIBE_ON_STAR),
         "Resource": "*"},
        # GetParameters too: a launch template whose image is resolve:ssm: is resolved with it when a group is
        # created or updated.
        {"Sid": "ReadThePublishedImage", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
         "Resource": parameter(image_parameter), "Condition": _regional(regions)},
        # EC2 evaluates aws:RequestTag against the new group and template only; the VPC a group is made in is a
        # resource of the call too, named without it (the Service Authorization Reference, CreateSecurityGroup).
        {"Sid": "CreateTheClustersGroupsAndTemplates", "Effect": "Allow",
         "Action": ["ec2:CreateSecurityGroup", "ec2:CreateLaunchTemplate"], "Resource": clusters_own,
         "Condition": _regional(regions, _tagged(cluster, "aws:RequestTag/" + CLUSTER_TAG))},
        {"Sid": "CreateSecurityGroupsInTheVpcs", "Effect": "Allow", "Action": "ec2:CreateSecurityGroup",
         "Resource": _ec2(partition, regions, account_id, "vpc/*"), "Condition": _regional(regions)},
        {"Sid": "TagWhatItCreates", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": clusters_own,
         "Condition": _regional(regions, {"StringEquals": {
             "ec2:CreateAction": ["CreateSecurityGroup", "CreateLaunchTemplate"]}})},
        {"Sid": "KeepTheClustersGroupsAndTemplates", "Effect": "Allow",
         "Action": ["ec2:CreateTags", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": clusters_own, "Condition": _regional(regions, _tagged(cluster))},
        # A group made or updated with a launch template: the caller must be allowed to launch the template.
        {"Sid": "LaunchFromTheClustersTemplates", "Effect": "Allow", "Action": "ec2:RunInstances",
         "Resource": _ec2(partition, regions, account_id, "launch-template/*"),
         "Condition": _regional(regions, _tagged(cluster))},
        {"Sid": "LaunchWhatTheTemplatesName", "Effect": "Allow", "Action": "ec2:RunInstances",
         "Resource": [a for kind in ("instance/*", "volume/*", "network-interface/*", "subnet/*", "security-group/*",
                                     "image/*") for a in _ec2(partition, regions, account_id, kind)],
         "Condition": _regional(regions)},
        {"Sid": "TagWhatTheTemplatesLaunch", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": _ec2(partition, regions, account_id, "volume/*") + _ec2(partition, regions, account_id, "instance/*"),
         "Condition": _regional(regions, {"StringEquals": {"ec2:CreateAction": "RunInstances"}})},
        {"Sid": "KeepThePoolsGroups", "Effect": "Allow",
         "Action": ["autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup",
                    "autoscaling:CreateOrUpdateTags", "autoscaling:PutLifecycleHook"],
         "Resource": _group_arns(partition, account_id, pools)},
        {"Sid": "CreateAutoScalingsServiceLinkedRole", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": "arn:%s:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
                     % (partition, account_id),
         "Condition": {"StringEquals": {"iam:AWSServiceName": "autoscaling.amazonaws.com"}}},
        {"Sid": "KeepTheConfigBuckets", "Effect": "Allow", "Action": list(CONFIG_BUCKET_ACTIONS),
         "Resource": ["arn:%s:s3:::%s" % (partition, bucket_name(short_name, account_id, r)) for r in regions]},
        {"Sid": "RecordTheConfigBucketsAndTheMembership", "Effect": "Allow",
         "Action": ["ssm:GetParameter", "ssm:PutParameter"],
         "Resource": [parameter("/teleport/%s/%s" % (cluster, what)) for what in ("config-bucket", "membership")],
         "Condition": _regional(regions)},
    ]
    if profiles:
        roles = [_arn(partition, "iam", "", account_id, "role/" + role) for role in sorted(set(profiles.values()))]
        statements += [
            {"Sid": "PassTheInstanceProfilesRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": roles,
             "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
            {"Sid": "KeepThePoliciesOnTheProfilesRoles", "Effect": "Allow",
             "Action": ["iam:GetInstanceProfile", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
             "Resource": [_arn(partition, "iam", "", account_id, "instance-profile/" + p) for p in sorted(profiles)]
                         + roles}]
    if inventory_service_role:
        statements.append({
            "Sid": "KeepThePolicyOnTheInventoryServicesRole", "Effect": "Allow",
            "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy"],
            "Resource": _arn(partition, "iam", "", account_id,
                             "role/" + _iam_name(inventory_service_role, "inventory service role"))})
    return {"Version": "2012-10-17", "Statement": statements}


def aws_edge_policy(partition, account_id, cluster, short_name, pools, load_balancers, record_names, split_dns=False,
                    purge_listeners=False):
    """The IAM policy document of whoever runs aws-edge.yml (you, the controller, AWX; steering included). pools:
    [{"role", "region", "asg"}], every pool; load_balancers: the NLB names aws-edge.yml makes (<short>-proxy,
    <short>-proxy-int, <short>-auth); record_names: the names it keeps in the public zone (and the private one with
    split_dns): the cluster's name and its wildcard. The zones are found by name, so records are scoped by name
    and type, not by zone id."""
    if not pools or not load_balancers or not record_names:
        raise ValueError("pools, load_balancers and record_names name what aws-edge.yml keeps; none may be empty")
    pools = sorted(pools, key=lambda p: (p["region"], p["asg"]))
    regions = sorted({p["region"] for p in pools})
    lbs = sorted(set(load_balancers))

    def elb(resource):  # with _regional(regions), as _ec2
        return [_arn(partition, "elasticloadbalancing", "*", account_id, resource)]

    listener_actions = ["elasticloadbalancing:ModifyListener"] + (
        ["elasticloadbalancing:DeleteListener"] if purge_listeners else [])
    statements = [
        {"Sid": "DiscoverTheNetworkAndTheEdge", "Effect": "Allow", "Action": list(AWS_EDGE_DESCRIBE_ON_STAR),
         "Resource": "*"},
        {"Sid": "CreateTheClustersSecurityGroups", "Effect": "Allow", "Action": "ec2:CreateSecurityGroup",
         "Resource": _ec2(partition, regions, account_id, "security-group/*"),
         "Condition": _regional(regions, _tagged(cluster, "aws:RequestTag/" + CLUSTER_TAG))},
        {"Sid": "CreateSecurityGroupsInTheVpcs", "Effect": "Allow", "Action": "ec2:CreateSecurityGroup",
         "Resource": _ec2(partition, regions, account_id, "vpc/*"), "Condition": _regional(regions)},
        {"Sid": "TagWhatItCreates", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": _ec2(partition, regions, account_id, "security-group/*"),
         "Condition": _regional(regions, {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}})},
        {"Sid": "KeepTheRulesOfTheClustersGroups", "Effect": "Allow",
         "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                    "ec2:CreateTags"],
         "Resource": _ec2(partition, regions, account_id, "security-group/*"),
         "Condition": _regional(regions, _tagged(cluster))},
        {"Sid": "KeepTheLoadBalancers", "Effect": "Allow",
         "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetSubnets", "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:CreateListener", "elasticloadbalancing:AddTags"],
         "Resource": [a for lb in lbs for a in elb("loadbalancer/net/%s/*" % lb)], "Condition": _regional(regions)},
        {"Sid": "KeepTheListeners", "Effect": "Allow", "Action": listener_actions,
         "Resource": [a for lb in lbs for a in elb("listener/net/%s/*/*" % lb)], "Condition": _regional(regions)},
        {"Sid": "KeepTheTargetGroups", "Effect": "Allow",
         "Action": ["elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:AddTags"],
         "Resource": elb("targetgroup/%s-*/*" % short_name), "Condition": _regional(regions)},
        {"Sid": "CreateElasticLoadBalancingsServiceLinkedRole", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": "arn:%s:iam::%s:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
                     "AWSServiceRoleForElasticLoadBalancing" % (partition, account_id),
         "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
        {"Sid": "AttachTheTargetGroupsToThePools", "Effect": "Allow",
         "Action": "autoscaling:AttachLoadBalancerTargetGroups", "Resource": _group_arns(partition, account_id, pools)},
        {"Sid": "ReadTheZones", "Effect": "Allow",
         "Action": ["route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ListTagsForResource"],
         "Resource": "arn:%s:route53:::hostedzone/*" % partition},
        # Route 53 normalizes the names it evaluates (lower case, no final dot, \052 read as *).
        {"Sid": "ChangeTheClustersRecords", "Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
         "Resource": "arn:%s:route53:::hostedzone/*" % partition,
         "Condition": {"ForAllValues:StringEquals": {
             "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(n.lower().rstrip(".") for n in record_names),
             "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"]}}},
        {"Sid": "CreateHealthChecks", "Effect": "Allow", "Action": "route53:CreateHealthCheck", "Resource": "*"},
        {"Sid": "KeepTheHealthChecks", "Effect": "Allow",
         "Action": ["route53:UpdateHealthCheck", "route53:ChangeTagsForResource", "route53:ListTagsForResource",
                    "route53:ListTagsForResources"],
         "Resource": "arn:%s:route53:::healthcheck/*" % partition},
    ]
    if split_dns:
        statements += [
            {"Sid": "CreateThePrivateZone", "Effect": "Allow", "Action": "route53:CreateHostedZone", "Resource": "*"},
            {"Sid": "KeepThePrivateZone", "Effect": "Allow",
             "Action": ["route53:AssociateVPCWithHostedZone", "route53:ChangeTagsForResource"],
             "Resource": "arn:%s:route53:::hostedzone/*" % partition}]
    return {"Version": "2012-10-17", "Statement": statements}
