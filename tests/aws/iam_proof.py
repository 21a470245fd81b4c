"""Proving an IAM policy document against moto with its IAM enforcement on (a module, not a conftest).

What moto enforces, read in its source (moto 5.2, core/authorization.py and iam/access_control.py), and so what a
proof here can and cannot show:

  * once `POST /moto-api/reset-auth` sets the allowed unauthenticated requests to 0, every request of a service
    answered through moto's generic dispatcher (EC2, Auto Scaling, SSM, Secrets Manager, ELBv2, Route 53, DynamoDB,
    IAM, STS) and of S3 is checked: the access key must be an IAM user's, the signature must verify, and the
    user's policies must allow the action;
  * except Route 53: its requests from an IAM user are refused (403, an empty error) whatever the user's policy,
    "*" on "*" included, so a Route 53 statement is proven against the calls the code makes, recorded, and the table
    (test_iam_tls_issuer.py);
  * the **action** is evaluated as IAM does (Allow/Deny, wildcards); the **resource** only for S3 (bucket and
    object ARNs): every other service is checked against the resource "*", so a statement that names resources
    never matches there; **conditions** are ignored for identity policies (moto passes no request context).

So the proof has two halves. Against moto: the document's action projection (each statement with Resource "*" and
no Condition) lets the actor's real work succeed, and each statement removed makes it fail: the actions are enough
and each statement is needed. Against a table: the resources and conditions of the real document allow the
resources the work touches and refuse their neighbours (allows() below, IAM's rules for what it covers)."""
import copy
import fnmatch
import json
import urllib.request


def enforce(endpoint):
    """moto checks every request from now on (until the server stops)."""
    # Not form-encoded (urllib's default type): moto reads the raw body as the count.
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def principal(iam, name, document):
    """An IAM user with document as its only (inline) policy; returns (access key id, secret)."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="under-test", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


# Where moto's name for what a call needs is not AWS's: HeadBucket needs s3:ListBucket (Amazon S3 API reference,
# HeadBucket, "Permissions"), moto checks s3:HeadBucket (moto/s3/responses.py, ACTION_MAP). A statement that grants
# the real action grants moto's name with it in a projection, and loses both when it is removed.
MOTO_ACTION_ALIASES = {"s3:ListBucket": ["s3:HeadBucket"]}


def action_projection(document, keep_s3_resources=False):
    """What moto can evaluate of document: each statement without its Condition, on Resource "*" (moto compares
    resources for S3 only; keep_s3_resources keeps an S3-only statement's own resources, which moto does check),
    with moto's names for the actions it names otherwise (MOTO_ACTION_ALIASES)."""
    out = copy.deepcopy(document)
    for s in out["Statement"]:
        actions = _list(s["Action"])
        s["Action"] = actions + [alias for a in actions for alias in MOTO_ACTION_ALIASES.get(a, [])]
        s3_only = all(a.startswith("s3:") for a in actions)
        if not (keep_s3_resources and s3_only):
            s["Resource"] = "*"
        s.pop("Condition", None)
    return out


def without(document, sid):
    out = copy.deepcopy(document)
    out["Statement"] = [s for s in out["Statement"] if s.get("Sid") != sid]
    assert len(out["Statement"]) == len(document["Statement"]) - 1, f"no statement {sid}"
    return out


def _list(value):
    return [value] if isinstance(value, str) else list(value)


def _matches(pattern, value):
    # IAM's wildcards in Action and Resource: * any run of characters, ? one; actions case-insensitively.
    return fnmatch.fnmatchcase(value, pattern)


def allows(document, action, resource, context=None):
    """Whether document allows action on resource with the request context (e.g. {"aws:ResourceTag/K": "v"}).
    IAM's rules for what the project's documents use: Allow statements only (a Deny or NotAction, NotResource is
    refused here rather than evaluated), Action and Resource with wildcards, and Condition operators StringEquals
    (the value one of the listed) and ForAllValues:StringEquals (every value of a multivalued key listed; an absent
    key satisfies it, as in IAM). A StringEquals key absent from the context does not match, as in IAM."""
    context = context or {}
    for s in document["Statement"]:
        if s["Effect"] != "Allow" or "NotAction" in s or "NotResource" in s:
            raise ValueError(f"{s.get('Sid')}: allows() evaluates plain Allow statements only")
        if not any(_matches(a.lower(), action.lower()) for a in _list(s["Action"])):
            continue
        if not any(_matches(r, resource) for r in _list(s["Resource"])):
            continue
        if all(_condition(op, keys, context) for op, keys in s.get("Condition", {}).items()):
            return True
    return False


def _condition(op, keys, context):
    for key, wanted in keys.items():
        wanted = _list(wanted)
        have = context.get(key)
        if op == "StringEquals":
            if have is None or isinstance(have, list) or have not in wanted:
                return False
        elif op == "ForAllValues:StringEquals":
            if have is not None and not set(_list(have)) <= set(wanted):
                return False
        else:
            raise ValueError(f"allows() does not evaluate the condition operator {op}")
    return True
