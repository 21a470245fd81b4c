"""The inventory source awx/objects.yml gives AWX, run as AWX syncs a sourced-from-project script: its path
from the file, the environment its credential type injects (the URL, and the token as a file AWX writes),
`ansible-inventory --list --export -i <path>`, against the real inventory service; nothing on stderr."""
import os
import re
from pathlib import Path

import yaml
from ansible.parsing.yaml.loader import AnsibleLoader
from conftest import clean_env, parse

from harness.ansible import ansible
from harness.util import REPO


def awx_objects():
    # Ansible's loader: the injectors are !unsafe, as Ansible must not template them.
    return yaml.load(Path(REPO, "awx/objects.yml").read_text(), Loader=AnsibleLoader)  # noqa: S506


def injected_env(credential_type, inputs, tmp_path):
    """The environment AWX gives the sync: the type's env injectors, with each file template written out."""
    files = {}
    for key, template in credential_type["injectors"].get("file", {}).items():
        path = tmp_path / key.removeprefix("template.")
        path.write_text(re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: inputs[m.group(1)], template))
        path.chmod(0o600)
        files[key.removeprefix("template.")] = str(path)

    def render(template):
        template = re.sub(r"\{\{\s*tower\.filename\.(\w+)\s*\}\}", lambda m: files[m.group(1)], template)
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: inputs[m.group(1)], template)
    return {k: render(v) for k, v in credential_type["injectors"]["env"].items()}


def test_the_awx_inventory_source_syncs_as_awx_runs_it(service, world, tmp_path):
    objects = awx_objects()
    [inventory] = objects["awx_inventories"]
    [source] = inventory["sources"]
    path = Path(REPO, source["source_path"])
    assert source["source"] == "scm" and source["update_on_launch"] and source["overwrite"]
    assert path.is_file() and os.access(path, os.X_OK), f"{path}: AWX runs an inventory script only when it is executable"
    [credential] = [c for c in objects["awx_credentials"] if c["name"] == source["credential"]]
    [ctype] = [t for t in objects["awx_credential_types"] if t["name"] == credential["credential_type"]]
    env = clean_env(**injected_env(ctype, {"url": service["url"], "token": service["token"]}, tmp_path))
    assert set(env) >= {"TELEPORT_INVENTORY_URL", "TELEPORT_INVENTORY_TOKEN_FILE"}
    r = ansible("ansible-inventory", "--list", "--export", "-i", source["source_path"], env=env, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # AWX marks an inventory sync with stderr output as suspicious
    inv = parse(r.stdout)
    assert sorted(inv["teleport_auth_us_west_2"]["hosts"]) == world["tp-auth"]
    assert sorted(inv["teleport_proxy_eu_central_1"]["hosts"]) == world["tp-proxy-eu"]
