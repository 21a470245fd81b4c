#!/usr/bin/python
"""A lock with an expiry in one DynamoDB item, so that two runs of tls.yml (two
operators, two AWX jobs, two controllers) never both order a certificate.

Why a module: no collection module writes a DynamoDB item conditionally. The lock
is one UpdateItem with a ConditionExpression (DynamoDB evaluates it atomically
against the item's current state, UpdateItem's documented behaviour): taken when
the item is absent, released, or expired. The same item keeps the last issuance
(fingerprint, expiry, who and when) across releases, so that a run on another
controller, whose own store is older, can tell that a certificate was issued
meanwhile instead of ordering a second one.
"""
import calendar
import os
import socket
import time
import uuid

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

DOCUMENTATION = r"""
module: tls_issuer_lock
short_description: Take or release a lock with an expiry in a DynamoDB item
options:
  table: {description: DynamoDB table with a string hash key C(lock_id)., type: str, required: true}
  key: {description: The lock's C(lock_id) (one per certificate)., type: str, required: true}
  state: {description: acquired (wait for it up to I(wait) seconds) or released., type: str, choices: [acquired, released], required: true}
  owner: {description: This run's identity; generated on acquire when omitted, required on release., type: str}
  ttl: {description: Seconds until an unreleased lock expires., type: int, default: 900}
  wait: {description: Seconds to wait for a lock held by another run (0 returns at once)., type: int, default: 900}
  poll_interval: {description: Seconds between two attempts while waiting., type: float, default: 2}
  issued: {description: On release, the certificate this run issued (fingerprint, not_after, names) to record., type: dict}
  create_table: {description: Create the table (on-demand capacity) when it does not exist., type: bool, default: false}
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

RETURN = r"""
acquired: {description: Whether this run holds the lock now., type: bool, returned: state=acquired}
owner: {description: This run's identity., type: str, returned: always}
waited: {description: Seconds spent waiting for another run., type: float, returned: state=acquired}
holder: {description: Who held the lock when it could not be taken., type: dict, returned: when not acquired}
last_issued: {description: The last issuance any run recorded (fingerprint, not_after, issued_at, issued_by)., type: dict, returned: always}
released: {description: Whether this run released a lock it held., type: bool, returned: state=released}
"""


def _item_view(item):
    def s(name):
        return item.get(name, {}).get("S")

    def n(name):
        v = item.get(name, {}).get("N")
        return int(v) if v is not None else None
    last = {k: s("last_" + k) for k in ("fingerprint", "not_after", "issued_at", "issued_by", "names")}
    if last["not_after"]:
        try:
            expiry = calendar.timegm(time.strptime(last["not_after"], "%Y-%m-%dT%H:%M:%SZ"))
            last["remaining_days"] = round((expiry - time.time()) / 86400, 2)
        except ValueError:
            pass  # recorded by something else: reported as it is, without remaining_days
    return {"owner": s("owner"), "expires_at": n("expires_at"), "acquired_at": n("acquired_at"),
            "last_issued": {k: v for k, v in last.items() if v is not None}}


def ensure_table(module, ddb, table):
    try:
        ddb.describe_table(TableName=table)
        return False
    except is_boto3_error_code("ResourceNotFoundException"):
        if not module.params["create_table"]:
            module.fail_json(msg=f"tls_issuer_lock_table: DynamoDB table {table} does not exist in {module.region}. "
                                 "Create it (string hash key lock_id, on-demand) with your infrastructure code, or set "
                                 "tls_issuer_lock_create_table: true to let tls.yml create it")
    if module.check_mode:
        return True
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}])
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return True


def acquire(module, ddb):
    p = module.params
    owner = p["owner"] or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    start = time.monotonic()
    while True:
        now = int(time.time())
        try:
            out = ddb.update_item(
                TableName=p["table"], Key={"lock_id": {"S": p["key"]}},
                UpdateExpression="SET #o = :me, expires_at = :exp, acquired_at = :now",
                ConditionExpression="attribute_not_exists(lock_id) OR attribute_not_exists(#o) OR expires_at < :now "
                                    "OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}, ":exp": {"N": str(now + p["ttl"])},
                                           ":now": {"N": str(now)}},
                ReturnValues="ALL_NEW")
            view = _item_view(out["Attributes"])
            return {"acquired": True, "owner": owner, "waited": round(time.monotonic() - start, 2),
                    "expires_at": now + p["ttl"], "last_issued": view["last_issued"]}
        except is_boto3_error_code("ConditionalCheckFailedException"):
            pass
        current = ddb.get_item(TableName=p["table"], Key={"lock_id": {"S": p["key"]}}, ConsistentRead=True).get("Item", {})
        view = _item_view(current)
        if time.monotonic() - start + p["poll_interval"] > p["wait"]:
            return {"acquired": False, "owner": owner, "waited": round(time.monotonic() - start, 2),
                    "holder": {"owner": view["owner"], "acquired_at": view["acquired_at"], "expires_at": view["expires_at"]},
                    "last_issued": view["last_issued"]}
        time.sleep(p["poll_interval"])  # pacing retries against another run's lock, bounded by wait


def release(module, ddb):
    p = module.params
    if not p["owner"]:
        module.fail_json(msg="owner: required to release (the owner returned when the lock was acquired)")
    names = {"#o": "owner"}
    values = {":me": {"S": p["owner"]}}
    sets = ["expires_at = :zero"]
    values[":zero"] = {"N": "0"}
    for k, v in (p["issued"] or {}).items():
        if k in ("fingerprint", "not_after", "names") and v:
            sets.append(f"last_{k} = :{k}")
            values[f":{k}"] = {"S": ",".join(v) if isinstance(v, list) else str(v)}
    if p["issued"]:
        sets += ["last_issued_at = :at", "last_issued_by = :me"]
        values[":at"] = {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        out = ddb.update_item(
            TableName=p["table"], Key={"lock_id": {"S": p["key"]}},
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE #o", ConditionExpression="#o = :me",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
        return {"released": True, "owner": p["owner"], "last_issued": _item_view(out["Attributes"])["last_issued"]}
    except is_boto3_error_code("ConditionalCheckFailedException"):
        current = ddb.get_item(TableName=p["table"], Key={"lock_id": {"S": p["key"]}}, ConsistentRead=True).get("Item", {})
        view = _item_view(current)
        module.warn(f"the lock {p['key']} in {p['table']} was no longer ours to release (now held by "
                    f"{view['owner'] or 'nobody'}): this run outlived tls_issuer_lock_ttl; raise it")
        return {"released": False, "owner": p["owner"], "last_issued": view["last_issued"]}


def main():
    module = AnsibleAWSModule(argument_spec={
        "table": {"type": "str", "required": True},
        "key": {"type": "str", "required": True, "no_log": False},
        "state": {"type": "str", "choices": ["acquired", "released"], "required": True},
        "owner": {"type": "str"},
        "ttl": {"type": "int", "default": 900},
        "wait": {"type": "int", "default": 900},
        "poll_interval": {"type": "float", "default": 2},
        "issued": {"type": "dict"},
        "create_table": {"type": "bool", "default": False},
    }, supports_check_mode=False)
    if module.params["ttl"] < 60:
        module.fail_json(msg="ttl: at least 60 s (tls_issuer_lock_ttl)")
    ddb = module.client("dynamodb")
    created = ensure_table(module, ddb, module.params["table"])
    result = acquire(module, ddb) if module.params["state"] == "acquired" else release(module, ddb)
    changed = created or result.get("acquired", False) or result.get("released", False)
    module.exit_json(changed=changed, table_created=created, **result)


if __name__ == "__main__":
    main()
