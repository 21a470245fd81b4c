"""The boot policies (teleport-ha-boot-<role>) are least privilege: reads of the cluster's own published entries
of that pool role, the hooks and health of that role's own groups, and only the Describe calls AWS grants on "*";
docs/iam/ is what the playbook attaches (tests/aws/iam_policy_docs.py)."""
import subprocess
import sys

from aws_scenario import ROOT
from iam_policy_docs import EXAMPLE, documents, published

READS = {"ssm:GetParameter", "secretsmanager:GetSecretValue", "s3:GetObject", "s3:GetObjectVersion"}
OWN_GROUP = {"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat",
             "autoscaling:SetInstanceHealth"}


def actions(statement):
    a = statement["Action"]
    return {a} if isinstance(a, str) else set(a)


def resources(statement):
    r = statement["Resource"]
    return [r] if isinstance(r, str) else list(r)


def tag_statement_problems(s, short, role, account, regions):
    """The one conditional statement: CreateTags of the two boot-result keys, on instances of its own groups."""
    want = {"Sid": "TagItsBootResult", "Effect": "Allow", "Action": "ec2:CreateTags",
            "Resource": [f"arn:aws:ec2:{r}:{account}:instance/*" for r in sorted(regions)],
            "Condition": {"StringEquals": {"aws:ResourceTag/aws:autoscaling:groupName":
                                           [f"{short}-{role}-{r}" for r in sorted(regions)]},
                          "ForAllValues:StringEquals": {"aws:TagKeys": list(published.BOOT_RESULT_TAGS)}}}
    return [] if s == want else [f"TagItsBootResult: {s} is not CreateTags of the boot-result keys on its own groups"]


def least_privilege_problems(doc, cluster, short, role, account, regions):
    """What in a boot policy reaches beyond the pool role's own resources (empty when nothing does)."""
    own = set()
    for r in regions:
        own |= {f"arn:aws:ssm:{r}:{account}:parameter/teleport/{cluster}/config/{role}",
                f"arn:aws:ssm:{r}:{account}:parameter/teleport/{cluster}/membership",
                f"arn:aws:secretsmanager:{r}:{account}:secret:teleport/{cluster}/{role}-??????",
                f"arn:aws:s3:::{short}-config-{account}-{r}/{published.KIT_KEY}",
                f"arn:aws:autoscaling:{r}:{account}:autoScalingGroup:*:autoScalingGroupName/{short}-{role}-{r}"}
    problems = []
    for s in doc["Statement"]:
        if s.get("Sid") == "TagItsBootResult":
            problems += tag_statement_problems(s, short, role, account, regions)
            continue
        if s["Effect"] != "Allow" or "NotAction" in s or "NotResource" in s or "Condition" in s:
            problems.append(f"{s.get('Sid')}: not a plain Allow")
            continue
        if resources(s) == ["*"]:
            if not actions(s) <= set(published.DESCRIBE_ONLY_ON_STAR):
                problems.append(f"{s['Sid']}: {sorted(actions(s) - set(published.DESCRIBE_ONLY_ON_STAR))} on *")
            continue
        if not actions(s) <= READS | OWN_GROUP:
            problems.append(f"{s['Sid']}: {sorted(actions(s) - READS - OWN_GROUP)} is neither a read nor its own group's")
        outside = [r for r in resources(s) if r not in own]
        if outside:
            problems.append(f"{s['Sid']}: {outside} are not the {role} pool's own")
    return problems


def test_each_pools_policy_names_only_its_own_resources():
    for role, doc in documents().items():
        regions = [EXAMPLE["auth_region"]] if role == "auth" else EXAMPLE["regions"]
        assert least_privilege_problems(doc, EXAMPLE["cluster"], EXAMPLE["short"], role, EXAMPLE["account"], regions) == []
        # And it lets the instance do what teleport-ha-boot, the drain and the report do.
        granted = set().union(*(actions(s) for s in doc["Statement"]))
        assert READS | OWN_GROUP | set(published.DESCRIBE_ONLY_ON_STAR) | {"ec2:CreateTags"} == granted


def test_the_checker_sees_another_pools_or_clusters_resource():
    doc = documents()["auth"]
    proxy_secret = "arn:aws:secretsmanager:us-west-2:123456789012:secret:teleport/teleport.example.com/proxy-??????"
    other_bucket = "arn:aws:s3:::other-config-123456789012-us-west-2/boot-kit/kit.tar.gz"
    doc["Statement"][2]["Resource"].append(proxy_secret)
    doc["Statement"][3]["Resource"].append(other_bucket)
    doc["Statement"].append({"Sid": "Wide", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"})
    # Any tag key, or another pool's instances.
    tag = next(s for s in doc["Statement"] if s["Sid"] == "TagItsBootResult")
    tag["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"].append("Name")
    problems = least_privilege_problems(doc, EXAMPLE["cluster"], EXAMPLE["short"], "auth", EXAMPLE["account"], ["us-west-2"])
    assert len(problems) == 4, problems


def test_the_boot_script_writes_exactly_the_tags_the_policy_allows():
    import importlib.util
    spec = importlib.util.spec_from_file_location("teleport_ha_boot", ROOT / "roles/boot_kit/files/teleport_ha_boot.py")
    boot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(boot)
    assert (boot.TAG_BOOT_FAILURE, boot.TAG_BOOT_DIGEST) == published.BOOT_RESULT_TAGS


def test_docs_iam_is_what_the_playbook_attaches():
    r = subprocess.run([sys.executable, str(ROOT / "tests/aws/iam_policy_docs.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
