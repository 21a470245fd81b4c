#!/usr/bin/python
"""System groups and users of one host in one module run.

Why a module: a service's group and user were two tasks (ansible.builtin.group, ansible.builtin.user),
each a module run that imports ansible.module_utils.basic again on the host (host_files.py says why that
matters); the teleport role and every jvm_service paid for both on every run that changes nothing.
Each item is made true the way those modules make it, in order (a user's group before the user):

- group: created with `groupadd --system` when missing; an existing group is left as it is.
- user: created with `useradd --system --gid --shell --home-dir --no-create-home` when missing (the user
  module's create_home: false); on an existing user, a primary group, shell or home that differs is set
  with `usermod` (the home directory is not moved, as the user module's default).

Check mode reports what would change and changes nothing. Returns ``changed_accounts`` in the order
applied (``group:<name>``, ``user:<name>``).
"""
import grp
import pwd
import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: host_accounts
short_description: System groups and users of one host in one module run
options:
  groups:
    description: System groups, created when missing.
    type: list
    elements: str
    default: []
  users:
    description: System users, created or corrected; their groups must exist or be in groups.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: User name., type: str, required: true}
      group: {description: Primary group., type: str, required: true}
      shell: {description: Login shell., type: str, default: /usr/sbin/nologin}
      home: {description: Home directory (not created)., type: str, required: true}
"""

RETURN = r"""
changed_accounts: {description: "What this run changed (or would in check mode): group:<name>, user:<name>.", type: list, returned: always}
"""

# What useradd and groupadd accept (shadow-utils' default NAME_REGEX, without the trailing $ of machine accounts).
NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")


def main():
    module = AnsibleModule(
        argument_spec={
            "groups": {"type": "list", "elements": "str", "default": []},
            "users": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "group": {"type": "str", "required": True},
                    "shell": {"type": "str", "default": "/usr/sbin/nologin"},
                    "home": {"type": "str", "required": True},
                },
            },
        },
        supports_check_mode=True,
    )
    check = module.check_mode
    changed = []

    def run(argv, what):
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"{what}: {argv[0]} exited {rc}: {(err or out).strip()}", changed_accounts=changed)

    def refuse(what, why):
        module.fail_json(msg=f"{what}: {why}", changed_accounts=changed)

    # Every item is checked before anything is applied: a refusal leaves the host as it was.
    for name in module.params["groups"]:
        if not NAME.match(name):
            refuse(f"groups: {name!r}", "not a valid group name (lowercase letters, digits, _ and -, at most 32)")
    for user in module.params["users"]:
        if not NAME.match(user["name"]):
            refuse(f"users: {user['name']!r}", "not a valid user name (lowercase letters, digits, _ and -, at most 32)")
        for field in ("shell", "home"):
            value = user[field]
            if not value.startswith("/") or ":" in value or "\n" in value:
                refuse(f"user {user['name']}", f"{field} must be an absolute path without ':' or a newline, got {value!r}")
        if user["group"] not in module.params["groups"]:
            try:
                grp.getgrnam(user["group"])
            except KeyError:
                refuse(f"user {user['name']}", f"its group {user['group']} does not exist; list it in groups (before its user)")

    for name in module.params["groups"]:
        try:
            grp.getgrnam(name)
        except KeyError:
            if not check:
                run(["groupadd", "--system", name], f"group {name}")
            changed.append(f"group:{name}")

    for user in module.params["users"]:
        name, group, shell, home = user["name"], user["group"], user["shell"], user["home"]
        what = f"user {name}"
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            gid = None  # check mode: the group would only now be created (in groups: checked above)
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            if not check:
                run(["useradd", "--system", "--gid", group, "--shell", shell, "--home-dir", home, "--no-create-home",
                     name], what)
            changed.append(f"user:{name}")
            continue
        argv = []
        if gid is None or pw.pw_gid != gid:
            argv += ["--gid", group]
        if pw.pw_shell != shell:
            argv += ["--shell", shell]
        if pw.pw_dir != home:
            argv += ["--home", home]
        if argv:
            if not check:
                run(["usermod"] + argv + [name], what)
            changed.append(f"user:{name}")

    module.exit_json(changed=bool(changed), changed_accounts=changed)


if __name__ == "__main__":
    main()
