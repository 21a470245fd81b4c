"""collections/requirements.yml pins exactly the versions the installed ansible bundle ships."""
import json
import subprocess

import yaml
from conftest import ROOT

from harness.ansible import BIN, ansible_env


def test_pinned_collections_match_the_bundle():
    wanted = yaml.safe_load((ROOT / "collections/requirements.yml").read_text())["collections"]
    out = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "list", "--format", "json"], capture_output=True, text=True,
                         env=ansible_env(), check=True).stdout
    installed = {}
    for path in json.loads(out).values():
        for name, info in path.items():
            installed.setdefault(name, info["version"])
    for c in wanted:
        assert installed.get(c["name"]) == c["version"], f"{c['name']}: pinned {c['version']}, bundle has {installed.get(c['name'])}"
