#!/usr/bin/env python3
"""Writes docs/iam/: the read-only policy each pool's instances boot with (teleport-ha-boot-<role>), the inventory
service's (teleport-ha-inventory-service) and the auth servers' Teleport's storage (teleport-ha-auth-storage), as
aws-pools.yml attaches them, the TLS issuer's (teleport-ha-tls-issuer, for whoever runs tls.yml), the rolling plays' (teleport-ha-rolling), the
infrastructure playbooks' (teleport-ha-aws-pools, teleport-ha-aws-edge) and the publisher's
(teleport-ha-publisher, for the controller or AWX that runs the publishing playbooks)
(roles/cluster_config/module_utils/teleport_cluster_config.py), for the example cluster of docs/aws.md, so the
documents cannot drift from what the playbook attaches.

  tests/aws/iam_policy_docs.py          # print them
  tests/aws/iam_policy_docs.py --write  # rewrite docs/iam/*.json
  tests/aws/iam_policy_docs.py --check  # exit 1 when a document is stale
"""
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "teleport_cluster_config", ROOT / "roles/cluster_config/module_utils/teleport_cluster_config.py")
published = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(published)

# docs/aws.md's example: auth and proxies in us-west-2, proxies in eu-central-1; the account is a placeholder.
EXAMPLE = {"partition": "aws", "account": "123456789012", "cluster": "teleport.example.com", "short": "teleport",
           "auth_region": "us-west-2", "regions": ["us-west-2", "eu-central-1"]}


def documents(example=EXAMPLE):
    pools = {"auth": [example["auth_region"]], "proxy": example["regions"]}
    out = {}
    for role, regions in pools.items():
        out[role] = published.boot_policy(
            example["partition"], example["account"],
            [{"role": role, "region": r, "asg": "%s-%s-%s" % (example["short"], role, r)} for r in regions],
            "/teleport/%s/config" % example["cluster"], "teleport/%s" % example["cluster"],
            "/teleport/%s/membership" % example["cluster"], example["short"])
    return out


def example_pools(example=EXAMPLE):
    """Every pool of the example, as aws-pools.yml names them (roles/aws_pools/vars/main.yml, _aws_pools_list)."""
    pools = [{"role": "auth", "region": example["auth_region"]}] + [{"role": "proxy", "region": r} for r in example["regions"]]
    return [dict(p, asg="%s-%s-%s" % (example["short"], p["role"], p["region"])) for p in pools]


def all_documents(example=EXAMPLE):
    """{file name without .json: document} of every document docs/iam/ holds."""
    out = {"teleport-ha-boot-%s" % role: doc for role, doc in documents(example).items()}
    out[published.PUBLISHER_POLICY_NAME] = published.publisher_policy(
        example["partition"], example["account"], example["regions"], example["short"],
        "/teleport/%s/config" % example["cluster"], "teleport/%s" % example["cluster"],
        "/teleport/%s/config-bucket" % example["cluster"])
    out[published.INVENTORY_SERVICE_POLICY_NAME] = published.inventory_service_policy(
        example["partition"], example["account"], example_pools(example), "/teleport/%s/membership" % example["cluster"])
    out[published.AUTH_STORAGE_POLICY_NAME] = published.auth_storage_policy(
        example["partition"], example["account"], example["auth_region"], *example_storage(example))
    out[published.ROLLING_POLICY_NAME] = published.rolling_policy(
        example["partition"], example["account"], example_pools(example), example["short"])
    out[published.AWS_POOLS_POLICY_NAME] = published.aws_pools_policy(
        example["partition"], example["account"], example["cluster"], example["short"], example_pools(example),
        "/teleport/%s/ami/x86_64" % example["cluster"],
        {"%s-auth" % example["short"]: "%s-auth" % example["short"], "%s-proxy" % example["short"]: "%s-proxy" % example["short"]},
        "%s-inventory" % example["short"])
    out[published.AWS_EDGE_POLICY_NAME] = published.aws_edge_policy(
        example["partition"], example["account"], example["cluster"], example["short"], example_pools(example),
        ["%s-proxy" % example["short"], "%s-auth" % example["short"]], [example["cluster"], "*." + example["cluster"]])
    out[published.TLS_ISSUER_POLICY_NAME] = published.tls_issuer_policy(
        example["partition"], example["account"], "Z0123456789EXAMPLE", [example["cluster"], "*." + example["cluster"]],
        "%s-tls-issuer-lock" % example["short"], "us-east-1", "tls-issuer/%s" % example["cluster"])
    return out


def example_storage(example=EXAMPLE):
    """(storage type, state table, audit events URIs, sessions URI, continuous backups) of the example's auth pool."""
    return ("dynamodb", "%s-backend" % example["short"],
            ["dynamodb://%s-events" % example["short"], "stdout://"],
            "s3://%s-sessions-%s/records" % (example["short"], example["account"]), True)


def text(doc):
    return json.dumps(doc, indent=2) + "\n"


def main(argv):
    docs = all_documents()
    if "--write" in argv or "--check" in argv:
        stale = []
        for name, doc in docs.items():
            path = ROOT / "docs" / "iam" / ("%s.json" % name)
            if "--write" in argv:
                path.write_text(text(doc))
            elif not path.exists() or path.read_text() != text(doc):
                stale.append(str(path))
        if stale:
            print("stale: %s; run tests/aws/iam_policy_docs.py --write" % ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    for name, doc in docs.items():
        print("# %s\n%s" % (name, text(doc)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
