"""scripts/route53-checker-cidrs.py on a file in ip-ranges.json's format. The prefixes here are documentation
addresses (RFC 5737), not AWS's: what is tested is the selection and the refusals, never the ranges."""
import json
import subprocess
import sys

from aws_scenario import ROOT

SCRIPT = ROOT / "scripts/route53-checker-cidrs.py"
DOC = {"syncToken": "1", "createDate": "2026-12-01-00-00-00", "prefixes": [
    {"ip_prefix": "192.0.2.0/26", "region": "us-east-1", "service": "ROUTE53_HEALTHCHECKS", "network_border_group": "us-east-1"},
    {"ip_prefix": "192.0.2.64/26", "region": "us-west-2", "service": "ROUTE53_HEALTHCHECKS", "network_border_group": "us-west-2"},
    {"ip_prefix": "198.51.100.0/26", "region": "eu-west-1", "service": "ROUTE53_HEALTHCHECKS", "network_border_group": "eu-west-1"},
    {"ip_prefix": "203.0.113.0/24", "region": "GLOBAL", "service": "ROUTE53_HEALTHCHECKS", "network_border_group": "GLOBAL"},
    {"ip_prefix": "192.0.2.128/25", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
    {"ip_prefix": "198.51.100.64/26", "region": "sa-east-1", "service": "ROUTE53_HEALTHCHECKS", "network_border_group": "sa-east-1"}]}


def run(tmp_path, doc, *regions):
    f = tmp_path / "ip-ranges.json"
    f.write_text(json.dumps(doc))
    return subprocess.run([sys.executable, str(SCRIPT), str(f), *regions], capture_output=True, text=True)


def test_the_checkers_of_the_regions_asked_for_and_the_global_ones(tmp_path):
    out = run(tmp_path, DOC, "us-east-1", "us-west-2", "eu-west-1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["aws_edge_route53_checker_cidrs:", "  - 192.0.2.0/26", "  - 192.0.2.64/26",
                                       "  - 198.51.100.0/26", "  - 203.0.113.0/24"]


def test_a_region_without_checkers_or_a_bad_prefix_is_refused(tmp_path):
    out = run(tmp_path, DOC, "us-east-1", "ap-south-1")
    assert out.returncode != 0 and "no ROUTE53_HEALTHCHECKS range for ap-south-1" in out.stderr
    bad = {"prefixes": DOC["prefixes"] + [{"ip_prefix": "{{ lookup('pipe','id') }}", "region": "us-east-1",
                                           "service": "ROUTE53_HEALTHCHECKS"}]}
    out = run(tmp_path, bad, "us-east-1")
    assert out.returncode != 0 and "is not an IPv4 CIDR" in out.stderr and out.stdout == ""
