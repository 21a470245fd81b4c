"""roles/tls_renewal: the renewal schedule of docs/tls.md as a hardened systemd timer on the management host.
Its preflight refuses what would leave a timer that never runs tls.yml, its configure tasks write tls.yml's
variables readable by the renewal's group alone (never logged), and its units pass systemd's own check."""
import grp
import os
import pwd
import subprocess

import pytest
import yaml
from conftest import HERE, failures_by_host, local_host_vars, play

DOMAIN = "teleport.example.com"
ACCOUNT_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE-account-key-material\n-----END EC PRIVATE KEY-----\n"


def checkout(tmp_path):
    """A stand-in for the repository checkout: playbooks/tls.yml and an executable at the place the role's
    default names for ansible-playbook (a file that starts nothing: no test here runs the timer)."""
    project = tmp_path / "teleport-ha-aws"
    (project / "playbooks").mkdir(parents=True, exist_ok=True)
    (project / "playbooks/tls.yml").write_text("---\n")
    default = yaml.safe_load((HERE.parents[1] / "roles/tls_renewal/defaults/main.yml").read_text())
    binary = project / default["tls_renewal_ansible_playbook"].replace("{{ tls_renewal_project_dir }}/", "")
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return project


def configure(tmp_path, hosts, **env):
    """Runs configure_tls_renewal.yml for sample hosts, each with its files under tmp_path/<host>/."""
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    project = checkout(tmp_path)
    for name, host_vars in hosts.items():
        (tmp_path / name).mkdir(exist_ok=True)
        host_vars.setdefault("tls_renewal_vars_file", str(tmp_path / name / "etc/tls.yml"))
    inventory = {"all": {"vars": local_host_vars(render_dir=str(tmp_path), tls_renewal_project_dir=str(project),
                                                 tls_renewal_user=user, tls_renewal_group=group),
                         "hosts": hosts}}
    return play(HERE / "configure_tls_renewal.yml", inventory, tmp_path, env=env)


def mgmt():
    return {"mgmt": {
        "tls_renewal_vars": {"tls_issuer_domain": DOMAIN, "tls_issuer_route53_zone": "example.com",
                             "tls_issuer_store_dir": f"/var/lib/teleport-tls/{DOMAIN}",
                             "tls_issuer_acme_account_key_pem": ACCOUNT_KEY},
        "tls_renewal_inventory": "playbooks/inventory/teleport_inventory.py",
        "tls_renewal_environment": {"AWS_REGION": "us-west-2"},
    }}


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls-renewal")
    result = configure(tmp, mgmt())
    assert result.rc == 0, result.text[-4000:]
    return tmp, result


def test_the_service_runs_tls_yml_from_the_checkout_with_the_written_variables(configured):
    tmp, _ = configured
    unit = (tmp / "mgmt/teleport-tls-renew.service").read_text()
    project = tmp / "teleport-ha-aws"
    assert f"WorkingDirectory={project}\n" in unit
    assert (f"ExecStart={project}/.venv/bin/ansible-playbook -i playbooks/inventory/teleport_inventory.py "
            f"playbooks/tls.yml -e @{tmp}/mgmt/etc/tls.yml\n") in unit
    assert "Type=oneshot\n" in unit and "TimeoutStartSec=2h\n" in unit
    assert f"EnvironmentFile=-{tmp}/mgmt/etc/teleport-tls-renew.env\n" in unit
    written = yaml.safe_load((tmp / "mgmt/etc/tls.yml").read_text())
    assert written["tls_issuer_domain"] == DOMAIN and written["tls_issuer_acme_account_key_pem"] == ACCOUNT_KEY
    assert "AWS_REGION=us-west-2\n" in (tmp / "mgmt/etc/teleport-tls-renew.env").read_text()


def test_the_service_is_hardened_and_writes_only_its_home(configured):
    tmp, _ = configured
    unit = (tmp / "mgmt/teleport-tls-renew.service").read_text()
    for directive in ["NoNewPrivileges=true", "CapabilityBoundingSet=", "AmbientCapabilities=", "ProtectSystem=strict",
                      "ReadWritePaths=/var/lib/teleport-tls", "ProtectHome=true", "PrivateTmp=true", "PrivateDevices=true",
                      "RestrictSUIDSGID=true", "SystemCallFilter=@system-service", "UMask=0077"]:
        assert directive + "\n" in unit, directive


def test_the_timer_fires_twice_a_day_spread_and_catches_up_after_downtime(configured):
    tmp, _ = configured
    timer = (tmp / "mgmt/teleport-tls-renew.timer").read_text()
    for line in ["OnCalendar=*-*-* 03,15:17:00", "RandomizedDelaySec=1h", "Persistent=true",
                 "Unit=teleport-tls-renew.service", "WantedBy=timers.target"]:
        assert line + "\n" in timer, line


def test_systemd_accepts_both_units(configured):
    tmp, _ = configured
    units = [str(tmp / "mgmt/teleport-tls-renew.service"), str(tmp / "mgmt/teleport-tls-renew.timer")]
    check = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    # verify also reports the host's own units; only lines about these two matter.
    ours = [line for line in check.stderr.splitlines() if "teleport-tls-renew" in line]
    assert ours == [], check.stderr


def test_tls_yml_variables_are_readable_by_the_renewal_group_alone_and_never_logged(configured):
    tmp, result = configured
    for name in ["tls.yml", "teleport-tls-renew.env"]:
        assert (tmp / "mgmt/etc" / name).stat().st_mode & 0o777 == 0o640, name
    assert (tmp / "mgmt/etc").stat().st_mode & 0o777 == 0o750
    assert "account-key-material" not in result.text


def test_a_second_run_changes_nothing(configured):
    tmp, _ = configured
    result = configure(tmp, mgmt())
    assert result.rc == 0, result.text[-3000:]
    assert result.recap["mgmt"]["changed"] == 0, result.recap


@pytest.mark.parametrize("host_vars, says", [
    ({"tls_renewal_vars": {}}, "tls_renewal_vars must hold tls.yml's variables, at least tls_issuer_domain"),
    ({"tls_renewal_vars": {"tls_issuer_domain": DOMAIN, "tls_issuer_store_dir": "/srv/tls"}},
     "must lie under tls_renewal_state_dir (/var/lib/teleport-tls)"),
    ({"tls_renewal_vars": {"tls_issuer_domain": DOMAIN, "tls_issuer_store_dir": "/var/lib/teleport-tls/../../etc"}},
     "must lie under tls_renewal_state_dir"),
    ({"tls_renewal_on_calendar": "twice a day"}, 'systemd refuses tls_renewal_on_calendar = "twice a day"'),
    ({"tls_renewal_timeout": "2 fortnights"}, 'systemd refuses tls_renewal_timeout = "2 fortnights"'),
    ({"tls_renewal_inventory": "inv.py\nExecStartPre=/bin/true"}, "tls_renewal_inventory a path"),
    ({"tls_renewal_environment": {"AWS_REGION": "us-west-2\nPATH=/tmp"}}, "tls_renewal_environment"),
    ({"tls_renewal_ansible_playbook": "/nowhere/bin/runner"}, "/nowhere/bin/runner missing on"),
])
def test_the_preflight_refuses_what_would_leave_a_timer_that_never_renews(tmp_path, host_vars, says):
    host_vars.setdefault("tls_renewal_vars", {"tls_issuer_domain": DOMAIN})
    failures = failures_by_host(configure(tmp_path, {"bad": host_vars}, ANSIBLE_STDOUT_CALLBACK="json"))
    assert any(says in m for m in failures.get("bad", [])), failures
    assert not (tmp_path / "bad/etc/tls.yml").exists()
