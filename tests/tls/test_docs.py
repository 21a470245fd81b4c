"""docs/tls.md lists every variable of the tls_issuer role (the typed source is its
meta/argument_specs.yml; docs/ansible.md's table is generated from it)."""
import re

import yaml
from conftest import ROOT


def test_every_tls_issuer_variable_is_in_docs_tls_md():
    spec = yaml.safe_load((ROOT / "roles/tls_issuer/meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    section = (ROOT / "docs/tls.md").read_text().split("\n## Variables\n", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(tls_issuer_[a-z0-9_]+)` \|", section, re.M))
    assert sorted(set(options) - rows) == [], "in argument_specs.yml but not in docs/tls.md's table"
    assert sorted(rows - set(options)) == [], "in docs/tls.md's table but not a variable of the role"
