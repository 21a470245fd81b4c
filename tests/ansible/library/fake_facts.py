#!/usr/bin/python
"""Test-only module: returns its `facts` parameter as ansible_facts, so the render
playbooks can give a sample host the facts of another machine (a distribution, a
private address) without gathering them."""
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"facts": {"type": "dict", "default": {}}}, supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts=module.params["facts"])


if __name__ == "__main__":
    main()
