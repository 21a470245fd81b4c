"""The pure helpers of the teleport_aws_* modules: Route 53 name normalisation and change
planning on the forms real AWS returns, and security group rule flattening."""
import importlib.util

import pytest
from aws_scenario import ROOT

spec = importlib.util.spec_from_file_location("teleport_aws", ROOT / "roles/aws_cluster/module_utils/teleport_aws.py")
ta = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ta)

ZONE_NLB = "teleport-proxy-0123456789abcdef.elb.us-west-2.amazonaws.com"


def aws_record(name, ident, region, value, ttl=30, hc="11111111-2222-3333-4444-555555555555"):
    """A record as Route 53 itself returns it from ListResourceRecordSets."""
    return {"Name": name, "Type": "CNAME", "SetIdentifier": ident, "Region": region, "TTL": ttl,
            "ResourceRecords": [{"Value": value}], "HealthCheckId": hc}


def wanted(name, ident, region, value, ttl=30, hc="11111111-2222-3333-4444-555555555555"):
    return {"Name": name, "Type": "CNAME", "SetIdentifier": ident, "Region": region, "TTL": ttl,
            "ResourceRecords": [{"Value": value}], "HealthCheckId": hc}


@pytest.mark.parametrize("returned, ours", [
    ("\\052.teleport.example.com.", "*.teleport.example.com"),   # AWS: octal escape, fully qualified
    ("*.teleport.example.com.", "*.teleport.example.com"),       # moto: literal
    ("Teleport.Example.COM.", "teleport.example.com"),
    ("teleport.example.com", "teleport.example.com"),
])
def test_dns_names_compare_in_one_form(returned, ours):
    assert ta.dns_name(returned) == ta.dns_name(ours) == ours


def test_records_in_the_form_aws_returns_them_need_no_change():
    current = [aws_record("\\052.teleport.example.com.", "wildcard.teleport.example.com/us-west-2", "us-west-2", ZONE_NLB + "."),
               aws_record("teleport.example.com.", "teleport.example.com/us-west-2", "us-west-2", ZONE_NLB.upper())]
    desired = [wanted("*.teleport.example.com", "wildcard.teleport.example.com/us-west-2", "us-west-2", ZONE_NLB),
               wanted("teleport.example.com", "teleport.example.com/us-west-2", "us-west-2", ZONE_NLB)]
    assert ta.plan_record_changes(current, desired, []) == ([], {}, {})


def test_a_changed_record_is_upserted_and_shown_before_and_after():
    current = [aws_record("\\052.teleport.example.com.", "w/us-west-2", "us-west-2", "old.elb.amazonaws.com")]
    desired = [wanted("*.teleport.example.com", "w/us-west-2", "us-west-2", ZONE_NLB)]
    changes, before, after = ta.plan_record_changes(current, desired, [])
    assert changes == [{"Action": "UPSERT", "ResourceRecordSet": desired[0]}]
    label = "*.teleport.example.com CNAME [w/us-west-2]"
    assert before[label]["values"] == ["old.elb.amazonaws.com"] and after[label]["values"] == [ZONE_NLB]


def test_a_ttl_or_health_check_difference_is_a_change():
    current = [aws_record("teleport.example.com.", "t/us-west-2", "us-west-2", ZONE_NLB, ttl=300)]
    assert len(ta.plan_record_changes(current, [wanted("teleport.example.com", "t/us-west-2", "us-west-2", ZONE_NLB)], [])[0]) == 1
    current = [aws_record("teleport.example.com.", "t/us-west-2", "us-west-2", ZONE_NLB, hc="other")]
    assert len(ta.plan_record_changes(current, [wanted("teleport.example.com", "t/us-west-2", "us-west-2", ZONE_NLB)], [])[0]) == 1


def test_absent_records_are_deleted_exactly_as_route53_holds_them_and_only_when_present():
    held = aws_record("\\052.teleport.example.com.", "w/eu-central-1", "eu-central-1", ZONE_NLB)
    other = aws_record("teleport.example.com.", "t/us-west-2", "us-west-2", ZONE_NLB)
    changes, before, _ = ta.plan_record_changes([held, other], [], [("*.teleport.example.com", "CNAME", "w/eu-central-1"),
                                                                   ("teleport.example.com", "CNAME", "t/eu-central-1")])
    assert changes == [{"Action": "DELETE", "ResourceRecordSet": held}]
    assert list(before) == ["*.teleport.example.com CNAME [w/eu-central-1]"]


def test_records_of_other_names_or_identifiers_are_never_touched():
    foreign = aws_record("teleport.example.com.", "someone-else", "us-west-2", "x.example.net")
    changes, _, _ = ta.plan_record_changes([foreign], [wanted("teleport.example.com", "t/us-west-2", "us-west-2", ZONE_NLB)], [])
    assert [c["Action"] for c in changes] == ["UPSERT"]
    assert changes[0]["ResourceRecordSet"]["SetIdentifier"] == "t/us-west-2"


def test_a_record_both_wanted_and_absent_or_given_twice_is_refused():
    r = wanted("teleport.example.com", "t/us-west-2", "us-west-2", ZONE_NLB)
    with pytest.raises(ValueError, match="both wanted and absent"):
        ta.plan_record_changes([], [r], [("teleport.example.com.", "CNAME", "t/us-west-2")])
    w = wanted("*.teleport.example.com", "w/us-west-2", "us-west-2", ZONE_NLB)
    with pytest.raises(ValueError, match="given twice"):  # the same record, in its two spellings
        ta.plan_record_changes([], [w, dict(w, Name="\\052.teleport.example.com.")], [])


def test_security_group_rules_flatten_and_rebuild():
    perms = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
              "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "clients"}, {"CidrIp": "10.0.0.0/8"}],
              "UserIdGroupPairs": [{"GroupId": "sg-1"}]},
             {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    flat = ta.expand_permissions(perms, {"sg-1": "teleport-proxy-nlb"})
    assert flat == {("tcp", 443, 443, "cidr", "0.0.0.0/0", "clients"), ("tcp", 443, 443, "cidr", "10.0.0.0/8", ""),
                    ("tcp", 443, 443, "group", "teleport-proxy-nlb", ""), ("-1", -1, -1, "cidr", "0.0.0.0/0", "")}
    rebuilt = [ta.rule_permission(r, {"teleport-proxy-nlb": "sg-1"}) for r in sorted(flat)]
    assert ta.expand_permissions(rebuilt, {"sg-1": "teleport-proxy-nlb"}) == flat


def test_check_mode_placeholders_are_recognised_anywhere():
    p = ta.pending("target-group", "tp-proxy-3080")
    assert ta.is_pending(p) and not ta.is_pending("arn:aws:elasticloadbalancing:...")
    assert ta.any_pending([{"port": 443, "target_group_arn": p}]) and not ta.any_pending([{"port": 443}])


def test_a_resource_of_another_cluster_is_not_adopted():
    assert ta.owner_conflict({"TeleportCluster": "a.example.com"}, {"TeleportCluster": "b.example.com"}, "x")
    assert ta.owner_conflict({}, {"TeleportCluster": "b.example.com"}, "x") is None


def test_results_of_several_resources_combine_into_one_diff():
    changed, ids, diff = ta.combined([("a", False, {"x": 1}, {"x": 1}, "id-a"), ("b", True, None, {"x": 2}, "id-b")])
    assert changed and ids == {"a": "id-a", "b": "id-b"}
    assert diff == {"before": {"a": {"x": 1}}, "after": {"a": {"x": 1}, "b": {"x": 2}}}
