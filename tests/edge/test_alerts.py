"""monitoring/alerts.yml with Debian's promtool: valid, and each alert fires exactly when
its unit tests (monitoring/tests/alerts_test.yml) say, with its rendered annotations."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MONITORING = os.path.join(ROOT, "monitoring")


@pytest.fixture(scope="module")
def promtool():
    tool = shutil.which("promtool")
    assert tool, "promtool not found: Debian's prometheus package ships it (scripts/apt-packages.txt)"
    return tool


def test_rules_are_valid(promtool):
    p = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_alerts_fire_as_their_unit_tests_expect(promtool):
    p = subprocess.run([promtool, "test", "rules", "tests/alerts_test.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


def test_every_alert_has_a_unit_test():
    import yaml
    with open(os.path.join(MONITORING, "alerts.yml")) as f:
        alerts = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r}
    with open(os.path.join(MONITORING, "tests", "alerts_test.yml")) as f:
        fired = {t["alertname"] for case in yaml.safe_load(f)["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert alerts == fired
