"""Every option of the teleport and node_agent roles is classified for publishing (roles/cluster_config/vars/main.yml):
cluster-wide (in the SSM parameter), host-specific (never published), secret (in the secret only) or the
controller's own. A new option fails here until it is put in one list, and the lists follow what the argument specs
say of each option: a default derived from the host makes it host-specific, "never logged" makes it a secret."""
import re

import pytest
import yaml
from conftest import ROOT

LISTS = ("_cluster_config_cluster_options", "_cluster_config_host_options", "_cluster_config_secret_options",
         "_cluster_config_controller_options")
# A default derived from one host: the inventory's aws_* variables, its facts, its peer address, its private IP.
FROM_THE_HOST = re.compile(r"\baws_[a-z_]+|ansible_facts|teleport_peer_public_addr|_teleport_private_ip")


def options():
    out = {}
    for role in ("teleport", "node_agent"):
        spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
        out.update(spec["argument_specs"]["main"]["options"])
    return out


@pytest.fixture(scope="module")
def lists():
    v = yaml.safe_load((ROOT / "roles/cluster_config/vars/main.yml").read_text())
    return {name: v[name] for name in LISTS} | {"_cluster_config_role_secrets": v["_cluster_config_role_secrets"]}


def test_every_option_is_in_exactly_one_list(lists):
    seen = [name for key in LISTS for name in lists[key]]
    duplicates = sorted({n for n in seen if seen.count(n) > 1})
    assert duplicates == [], "classified twice"
    assert sorted(set(options()) - set(seen)) == [], "classify these new options in roles/cluster_config/vars/main.yml"
    assert sorted(set(seen) - set(options())) == [], "classified but not an option of the teleport or node_agent role"


def test_an_option_whose_default_derives_from_the_host_is_host_specific(lists):
    derived = {name for name, opt in options().items() if "default" not in opt or FROM_THE_HOST.search(str(opt["default"]))}
    assert sorted(derived) == sorted(lists["_cluster_config_host_options"])


def test_an_option_never_logged_is_a_secret_or_the_controllers(lists):
    never_logged = {name for name, opt in options().items() if "never logged" in str(opt.get("description"))}
    assert never_logged <= set(lists["_cluster_config_secret_options"]) | set(lists["_cluster_config_controller_options"])
    assert set(lists["_cluster_config_secret_options"]) <= never_logged


def test_each_pool_gets_only_secrets(lists):
    for role, names in lists["_cluster_config_role_secrets"].items():
        assert set(names) <= set(lists["_cluster_config_secret_options"]), role
