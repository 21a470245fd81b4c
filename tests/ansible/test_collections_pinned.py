"""collections/requirements.yml pins exactly the versions the installed ansible bundle ships."""
import json
import os
import subprocess
from pathlib import Path

import yaml
from conftest import ROOT, ansible_env


def test_pinned_collections_match_the_bundle():
    wanted = yaml.safe_load((ROOT / "collections/requirements.yml").read_text())["collections"]
    galaxy = Path(os.environ.get("ANSIBLE_BIN_DIR", ROOT / ".venv/bin")) / "ansible-galaxy"
    out = subprocess.run([str(galaxy), "collection", "list", "--format", "json"], capture_output=True, text=True,
                         env=ansible_env(), check=True).stdout
    installed = {}
    for path in json.loads(out).values():
        for name, info in path.items():
            installed.setdefault(name, info["version"])
    for c in wanted:
        assert installed.get(c["name"]) == c["version"], f"{c['name']}: pinned {c['version']}, bundle has {installed.get(c['name'])}"
