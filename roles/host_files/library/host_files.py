#!/usr/bin/python
"""Directories, files and symbolic links of one host in one module run.

Why a module: every task that touches a host starts the host's Python, which imports
ansible.module_utils.basic from the AnsiballZ zip (no bytecode cache: 140 ms with ansible-core 2.21 on
these hosts, bench/README.md), and a template or copy task whose file is already right still runs two
(stat, then file). A role that manages twenty paths paid for forty module runs on every site.yml run that
changes nothing; with this module it pays for one. The items are applied in the order given, each the way
ansible.builtin.file, copy and template would, and a refusal names the item and the fix:

- directory: created when missing (with missing parents, as file does), then owner, group and mode;
  ``create_only`` leaves an existing one as it is (a directory another role owns); ``owner_below`` also
  gives everything below it to the owner (links themselves, never their targets; group and mode kept),
  except the paths in ``keep_below`` (files another item of the role owns as another user): what a
  service's data directory needs when the service's user changes.
- file: content compared by sha256; a new content is written to a temporary file beside the path, owned
  and moded as asked, checked with ``validate`` (%s is the temporary file, as the template module's
  validate) and renamed over the path, so a reader sees the old file or the new one, never half of one;
  only owner, group or mode differing is fixed in place. Contents are no_log: a secret passed here is
  masked wherever Ansible would print or log it, and never returned.
- link: a symbolic link to ``src``; a path that is anything but a link is refused, as file refuses to
  convert a file to a link without force; ``src`` must exist except in check mode (file's own rule).
- absent: a file or link removed; a directory is refused (nothing here removes a tree).

Returns ``changed_paths`` in the order applied, so the caller notifies exactly the handlers of what changed.
"""
import grp
import hashlib
import os
import pwd
import re
import shlex
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: host_files
short_description: Directories, files and symbolic links of one host in one module run
options:
  items:
    description: What to make true, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path: {description: Absolute path., type: str, required: true}
      state: {description: What the path is., type: str, choices: [directory, file, link, absent], default: file}
      content: {description: The file's content (state file); masked in output and logs., type: str}
      src: {description: The link's target (state link)., type: str}
      owner: {description: User name (directory and file)., type: str, default: root}
      group: {description: Group name (directory and file)., type: str, default: root}
      mode: {description: Octal mode as a quoted string such as "0640" (directory and file)., type: str}
      validate: {description: Command that must accept the new content before it lands; %s is the temporary file., type: str}
      create_only: {description: Create a missing directory; leave an existing one alone., type: bool, default: false}
      owner_below: {description: Also give every entry below the directory to the owner (group and mode kept)., type: bool, default: false}
      keep_below: {description: Absolute paths below the directory that owner_below leaves alone., type: list, elements: str, default: []}
"""

RETURN = r"""
changed_paths: {description: The paths this run changed (or would change in check mode), in order., type: list, returned: always}
"""

MODE = re.compile(r"^0?[0-7]{3,4}\Z")


class Refused(Exception):
    """An item this module will not apply, with the reason and the fix."""


def ids(item):
    try:
        uid = pwd.getpwnam(item["owner"]).pw_uid
    except KeyError:
        raise Refused(f"owner {item['owner']!r} is no user on this host (create it before this task)") from None
    try:
        gid = grp.getgrnam(item["group"]).gr_gid
    except KeyError:
        raise Refused(f"group {item['group']!r} is no group on this host (create it before this task)") from None
    return uid, gid


def attrs_differ(st, uid, gid, mode):
    return st.st_uid != uid or st.st_gid != gid or stat.S_IMODE(st.st_mode) != mode


def lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def redact(text, content):
    """A validator's words without the content's lines (Ansible masks only the content whole, and a
    validator may quote the line it refused)."""
    for line in sorted({ln.strip() for ln in content.splitlines()}, key=len, reverse=True):
        if len(line) >= 4:
            text = text.replace(line, "********")
    return text


def give_below(path, uid, keep, check):
    """Whether an entry below path (but those in keep) has another owner; each is given to uid (lchown: a
    link itself, never what it points to, so nothing outside the tree changes hands)."""
    changed = False
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = os.path.join(root, name)
            if entry not in keep and os.lstat(entry).st_uid != uid:
                if check:
                    return True
                os.lchown(entry, uid, -1)
                changed = True
    return changed


def directory(item, check):
    path, (uid, gid), mode = item["path"], ids(item), item["mode"]
    st = lstat(path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise Refused("exists and is not a directory: move it away, or fix the path")
    if item["owner_below"] and item["create_only"]:
        raise Refused("owner_below and create_only exclude each other: a directory another role owns is left alone")
    below = st is not None and item["owner_below"] and give_below(path, uid, set(item["keep_below"]), check)
    if st is not None and (item["create_only"] or not attrs_differ(st, uid, gid, mode)):
        return below
    if check:
        return True
    if st is None:
        missing = []
        p = path
        while lstat(p) is None:
            missing.append(p)
            p = os.path.dirname(p)
        for p in reversed(missing):
            os.mkdir(p, mode)
            os.chown(p, uid, gid)
            os.chmod(p, mode)
        return True
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return True


def regular_file(module, item, check):
    path, (uid, gid), mode = item["path"], ids(item), item["mode"]
    data = item["content"].encode()
    st = lstat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise Refused("exists and is not a regular file (a directory or a link): move it away, or fix the path")
    if st is not None:
        with open(path, "rb") as f:
            same = hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
        if same:
            if not attrs_differ(st, uid, gid, mode):
                return False
            if not check:
                os.chown(path, uid, gid)
                os.chmod(path, mode)
            return True
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        if check:
            return True  # an earlier item of this run would create it
        raise Refused(f"its directory {parent} does not exist: add it as a directory item before this one")
    if check:
        return True
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchown(f.fileno(), uid, gid)
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if item["validate"]:
            if "%s" not in item["validate"]:
                raise Refused("validate must contain %s (the file to check), as the template module's validate")
            argv = [tmp if a == "%s" else a.replace("%s", tmp) for a in shlex.split(item["validate"])]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                said = redact((err or out).strip()[-2000:], item["content"])
                raise Refused(f"validate ({item['validate']}) refused the new content (exit {rc}): "
                              f"{said}; the file was left as it was")
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            os.unlink(tmp)
    return True


def link(item, check):
    path, src = item["path"], item["src"]
    st = lstat(path)
    if st is not None and not stat.S_ISLNK(st.st_mode):
        raise Refused(f"exists and is not a symbolic link: the link to {src} would replace it; move it away")
    if st is not None and os.readlink(path) == src:
        return False
    if check:
        return True
    if not os.path.exists(src if os.path.isabs(src) else os.path.join(os.path.dirname(path), src)):
        raise Refused(f"its target {src} does not exist (install it before this item)")
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.link")
    if lstat(tmp) is not None:
        os.unlink(tmp)
    os.symlink(src, tmp)
    os.replace(tmp, path)
    return True


def absent(item, check):
    st = lstat(item["path"])
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        raise Refused("is a directory: this module removes files and links only")
    if not check:
        os.unlink(item["path"])
    return True


def check_item(item):
    state = item["state"]
    if not os.path.isabs(item["path"]) or item["path"] != os.path.normpath(item["path"]):
        raise Refused("path must be absolute and normal (no trailing /, no . or .. parts)")
    if state in ("directory", "file"):
        if item["mode"] is None or not MODE.match(item["mode"]):
            raise Refused(f"mode must be an octal string such as \"0640\", got {item['mode']!r}")
        item["mode"] = int(item["mode"], 8)
    if state == "file" and item["content"] is None:
        raise Refused("state file needs content")
    if state == "link" and not item["src"]:
        raise Refused("state link needs src")
    if state != "file" and (item["content"] is not None or item["validate"]):
        raise Refused(f"content and validate apply to state file only, not {state}")


def main():
    module = AnsibleModule(
        argument_spec={
            "items": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "path": {"type": "str", "required": True},
                    "state": {"type": "str", "choices": ["directory", "file", "link", "absent"], "default": "file"},
                    "content": {"type": "str", "no_log": True},
                    "src": {"type": "str"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str"},
                    "validate": {"type": "str"},
                    "create_only": {"type": "bool", "default": False},
                    "owner_below": {"type": "bool", "default": False},
                    "keep_below": {"type": "list", "elements": "str", "default": []},
                },
            },
        },
        supports_check_mode=True,
    )
    changed = []
    for n, item in enumerate(module.params["items"]):
        try:
            check_item(item)
            state = item["state"]
            if state == "directory":
                did = directory(item, module.check_mode)
            elif state == "file":
                did = regular_file(module, item, module.check_mode)
            elif state == "link":
                did = link(item, module.check_mode)
            else:
                did = absent(item, module.check_mode)
        except Refused as e:
            module.fail_json(msg=f"items[{n}] ({item['path']}, {item['state']}): {e}", changed_paths=changed)
        except OSError as e:
            module.fail_json(msg=f"items[{n}] ({item['path']}, {item['state']}): {e.strerror or e}",
                             changed_paths=changed)
        if did:
            changed.append(item["path"])
    module.exit_json(changed=bool(changed), changed_paths=changed)


if __name__ == "__main__":
    main()
