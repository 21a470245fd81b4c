"""roles/host_files/library/host_files.py, run as Ansible runs it on a host (the module with its arguments as
JSON): each kind of item applied, left alone when already right, refused with the item and the fix, check
mode changing nothing, and a content never printed."""
import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import ROOT

MODULE = ROOT / "roles/host_files/library/host_files.py"


def run(tmp_path, items, check=False):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"items": items, "_ansible_check_mode": check}}))
    out = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True)
    return json.loads(out.stdout), out.stdout + out.stderr


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_directories_files_and_links_land_once(tmp_path):
    root = tmp_path / "root"
    (tmp_path / "release").mkdir()
    (tmp_path / "release/teleport").write_text("binary")
    items = [
        {"path": f"{root}/etc/conf.d", "state": "directory", "mode": "0750"},
        {"path": f"{root}/etc/conf.d/a.yaml", "content": "a: 1\n", "mode": "0640"},
        {"path": f"{root}/etc/teleport", "state": "link", "src": f"{tmp_path}/release/teleport"},
        {"path": f"{root}/etc/gone", "state": "absent"},
    ]
    result, _ = run(tmp_path, items)
    assert result["changed_paths"] == [f"{root}/etc/conf.d", f"{root}/etc/conf.d/a.yaml", f"{root}/etc/teleport"]
    assert mode(root / "etc/conf.d") == 0o750 and mode(root / "etc") == 0o750  # parents as file's state directory
    assert (root / "etc/conf.d/a.yaml").read_text() == "a: 1\n" and mode(root / "etc/conf.d/a.yaml") == 0o640
    assert os.readlink(root / "etc/teleport") == f"{tmp_path}/release/teleport"
    again, _ = run(tmp_path, items)
    assert again == {"changed": False, "changed_paths": []}


def test_only_what_differs_changes(tmp_path):
    f = tmp_path / "f"
    f.write_text("old\n")
    os.chmod(f, 0o644)
    inode = os.stat(f).st_ino
    result, _ = run(tmp_path, [{"path": str(f), "content": "old\n", "mode": "0600"}])
    assert result["changed_paths"] == [str(f)] and mode(f) == 0o600 and os.stat(f).st_ino == inode  # fixed in place
    (tmp_path / "other").mkdir()
    os.chmod(tmp_path / "other", 0o700)
    result, _ = run(tmp_path, [{"path": str(tmp_path / "other"), "state": "directory", "mode": "0755", "create_only": True}])
    assert result["changed_paths"] == [] and mode(tmp_path / "other") == 0o700  # another role's directory
    result, _ = run(tmp_path, [{"path": str(f), "content": "new\n", "mode": "0600"}])
    assert result["changed_paths"] == [str(f)] and f.read_text() == "new\n" and os.stat(f).st_ino != inode  # renamed over
    assert sorted(os.listdir(tmp_path)) == ["args.json", "f", "other"]  # no temporary file left


def test_validate_sees_the_new_content_and_a_refusal_leaves_the_old_file(tmp_path):
    f = tmp_path / "conf"
    f.write_text("good\n")
    ok, _ = run(tmp_path, [{"path": str(f), "content": "good too\n", "mode": "0640", "validate": "grep -q good %s"}])
    assert ok["changed_paths"] == [str(f)] and f.read_text() == "good too\n"
    bad, out = run(tmp_path, [{"path": str(f), "content": "secret-value-123\n", "mode": "0640",
                               "validate": "sh -c 'cat \"$0\" >&2; exit 3' %s"}])
    assert bad.get("failed") and "items[0]" in bad["msg"] and "exit 3" in bad["msg"] and "left as it was" in bad["msg"]
    assert f.read_text() == "good too\n"
    assert "secret-value-123" not in out  # the validator printed it: masked, as no_log contents are
    assert sorted(os.listdir(tmp_path)) == ["args.json", "conf"]


@pytest.mark.parametrize("item, words", [
    ({"state": "link", "src": "/nonexistent/target"}, "does not exist"),
    ({"state": "file", "content": "a config\n", "mode": "640x"}, "octal string"),
    ({"state": "file", "content": "a config\n", "mode": "0640", "owner": "no-such-user-here"}, "no user on this host"),
    ({"state": "directory", "mode": "0755", "content": "a config\n"}, "state file only"),
    ({"state": "file", "mode": "0644"}, "needs content"),
])
def test_refusals_name_the_item_and_the_fix(tmp_path, item, words):
    result, _ = run(tmp_path, [{"path": str(tmp_path / "x"), **item}])
    assert result.get("failed") and result["msg"].startswith(f"items[0] ({tmp_path / 'x'}") and words in result["msg"]
    assert not (tmp_path / "x").exists()


def test_what_exists_as_another_kind_is_refused_not_replaced(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("keep")
    for item, words in [({"path": str(tmp_path / "d"), "content": "x", "mode": "0644"}, "not a regular file"),
                        ({"path": str(tmp_path / "f"), "state": "link", "src": str(tmp_path / "d")}, "not a symbolic link"),
                        ({"path": str(tmp_path / "f"), "state": "directory", "mode": "0755"}, "not a directory"),
                        ({"path": str(tmp_path / "d"), "state": "absent"}, "is a directory")]:
        result, _ = run(tmp_path, [item])
        assert result.get("failed") and words in result["msg"], result
    assert (tmp_path / "f").read_text() == "keep" and (tmp_path / "d").is_dir()


def test_check_mode_reports_and_changes_nothing(tmp_path):
    items = [{"path": str(tmp_path / "new"), "state": "directory", "mode": "0755"},
             {"path": str(tmp_path / "new/file"), "content": "x\n", "mode": "0644"},
             {"path": str(tmp_path / "link"), "state": "link", "src": "/not/yet/there"}]
    result, _ = run(tmp_path, items, check=True)
    assert result["changed_paths"] == [i["path"] for i in items]
    assert sorted(os.listdir(tmp_path)) == ["args.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
def test_owner_below_gives_the_tree_to_a_new_owner_and_nothing_outside_it(tmp_path):
    import pwd
    nobody = pwd.getpwnam("nobody")
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "sub").mkdir(parents=True)
    (data / "sub/identity.key").write_text("k")
    outside.write_text("not ours")
    (data / "link").symlink_to(outside)
    for p in [data, data / "sub", data / "sub/identity.key", data / "link"]:
        os.lchown(p, nobody.pw_uid, -1)
    os.chmod(data / "sub/identity.key", 0o600)
    item = {"path": str(data), "state": "directory", "mode": "0750", "owner": "root", "group": "root", "owner_below": True}
    result, _ = run(tmp_path, [item], check=True)
    assert result["changed_paths"] == [str(data)] and os.lstat(data / "sub/identity.key").st_uid == nobody.pw_uid
    result, _ = run(tmp_path, [item])
    assert result["changed_paths"] == [str(data)]
    assert {os.lstat(p).st_uid for p in [data, data / "sub", data / "sub/identity.key", data / "link"]} == {0}
    assert mode(data / "sub/identity.key") == 0o600
    # Only what is below changes hands: the link's target outside the tree keeps its owner.
    os.chown(outside, nobody.pw_uid, -1)
    os.lchown(data / "sub/identity.key", nobody.pw_uid, -1)
    result, _ = run(tmp_path, [item])
    assert result["changed_paths"] == [str(data)] and os.stat(outside).st_uid == nobody.pw_uid
    result, _ = run(tmp_path, [item])
    assert result["changed_paths"] == []
    # A file another item writes as another user keeps its owner.
    os.lchown(data / "sub/identity.key", nobody.pw_uid, -1)
    result, _ = run(tmp_path, [{**item, "keep_below": [str(data / "sub/identity.key")]}])
    assert result["changed_paths"] == [] and os.lstat(data / "sub/identity.key").st_uid == nobody.pw_uid
    result, _ = run(tmp_path, [{**item, "create_only": True}])
    assert result.get("failed") and "exclude each other" in result["msg"]
