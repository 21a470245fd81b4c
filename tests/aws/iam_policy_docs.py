#!/usr/bin/env python3
"""Writes docs/iam/: the read-only policy each pool's instances boot with, as aws-pools.yml attaches it
(teleport-ha-boot-<role>, roles/cluster_config/module_utils/teleport_cluster_config.py), for the example
cluster of docs/aws.md, so the documents cannot drift from what the playbook attaches.

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


def text(doc):
    return json.dumps(doc, indent=2) + "\n"


def main(argv):
    docs = documents()
    if "--write" in argv or "--check" in argv:
        stale = []
        for role, doc in docs.items():
            path = ROOT / "docs" / "iam" / ("teleport-ha-boot-%s.json" % role)
            if "--write" in argv:
                path.write_text(text(doc))
            elif not path.exists() or path.read_text() != text(doc):
                stale.append(str(path))
        if stale:
            print("stale: %s; run tests/aws/iam_policy_docs.py --write" % ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    for role, doc in docs.items():
        print("# teleport-ha-boot-%s\n%s" % (role, text(doc)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
