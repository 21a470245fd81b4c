#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Builds the boot kit on the controller: a reproducible tar.gz of what this controller runs."""

DOCUMENTATION = r"""
module: teleport_cluster_config_kit
short_description: Build the boot kit (the roles and playbooks this controller runs) as a reproducible tar.gz
description:
  - Packs include (less exclude and caches) from root, plus extra_files, into dest, with sorted members and no
    times or owners, so the same content gives the same digest. A scratch file, never managed state, so never a
    change; it is built in check mode too (publishing compares its digest with the published one).
options:
  root: {type: path, required: true, description: The repository root.}
  include: {type: list, elements: str, required: true, description: Files and directories relative to root.}
  exclude: {type: list, elements: str, default: [], description: Paths relative to root left out.}
  extra_files: {type: dict, default: {}, description: Path in the kit to a file anywhere on the controller.}
  dest: {type: path, required: true, description: Where the tar.gz is written.}
"""

RETURN = r"""
sha256: {description: sha256 of the tar.gz, type: str, returned: always}
content_sha256: {description: sha256 of the uncompressed tar, type: str, returned: always}
size: {description: Bytes of the tar.gz, type: int, returned: always}
files: {description: Number of files, type: int, returned: always}
path: {description: dest, type: str, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teleport_cluster_config import build_kit


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            include=dict(type="list", elements="str", required=True),
            exclude=dict(type="list", elements="str", default=[]),
            extra_files=dict(type="dict", default={}),
            dest=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        kit = build_kit(p["root"], p["include"], p["exclude"], p["extra_files"], p["dest"])
    except (OSError, ValueError) as e:
        module.fail_json(msg="cannot build the boot kit: %s" % e)
    module.exit_json(changed=False, path=p["dest"], **kit)


if __name__ == "__main__":
    main()
