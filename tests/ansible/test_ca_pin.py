"""A proxy without teleport_ca_pin pins what `tctl status` prints on the first auth server
(roles/teleport/tasks/ca_pin.yml), read from Teleport's table as the Teleport double prints it."""
import json
import stat

from conftest import HERE, local_host_vars, messages_by_host, play

PIN = "sha256:" + "0123456789abcdef" * 4


def _tctl(tmp_path, output, rc=0):
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True)
    tctl = bindir / "tctl"
    tctl.write_text(f"#!/bin/sh\ncat <<'OUT'\n{output}OUT\nexit {rc}\n")
    tctl.chmod(tctl.stat().st_mode | stat.S_IXUSR)
    return str(bindir / "teleport")


def _pins(tmp_path, output, rc=0, auth=True, **proxy_vars):
    common = local_host_vars(teleport_binary=_tctl(tmp_path, output, rc), teleport_config_file="/dev/null")
    groups = {"teleport_proxy": {"hosts": {"proxy-1": {"teleport_role": "proxy", **proxy_vars}}}}
    if auth:
        groups["teleport_auth"] = {"hosts": {"auth-1": {"teleport_role": "auth"}}}
    inventory = {"all": {"vars": common, "children": groups}}
    r = play(HERE / "read_ca_pin.yml", inventory, tmp_path, env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    assert r.rc == 0, r.text[-3000:]
    line = next(m for m in messages_by_host(r)["proxy-1"] if m.startswith("pins="))
    return json.loads(line.removeprefix("pins="))


def test_the_pin_tctl_status_prints_is_the_one_pinned(tmp_path):
    table = ("Cluster      teleport.example.com (TEST DOUBLE)\n"
             "Version      18.11.0 (TEST DOUBLE)\n"
             "host CA     never updated (TEST DOUBLE)\n"
             f"CA pin       {PIN} (TEST DOUBLE)\n")
    assert _pins(tmp_path, table) == [PIN]


def test_no_pin_when_tctl_status_fails_or_prints_none(tmp_path):
    assert _pins(tmp_path / "a", "ERROR: cannot connect to the auth server\n", rc=1) == []
    assert _pins(tmp_path / "b", "CA pin       sha256:short\n") == []


def test_a_given_pin_wins_over_what_tctl_prints(tmp_path):
    given = "sha256:" + "f" * 64
    assert _pins(tmp_path, f"CA pin {PIN}\n", teleport_ca_pin=[given]) == [given]


def test_a_proxy_alone_in_its_inventory_keeps_its_published_pin(tmp_path):
    """A proxy configuring itself at boot (playbooks/boot.yml) has no auth group in its inventory. Ansible
    templates delegate_to before `when`, so a bare groups['teleport_auth'] failed that run even with the
    task skipped: every proxy an Auto Scaling group launched was ABANDONed."""
    given = "sha256:" + "e" * 64
    assert _pins(tmp_path, f"CA pin {PIN}\n", auth=False, teleport_ca_pin=[given]) == [given]
