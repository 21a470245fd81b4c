"""What the inventory script hands to Ansible: only a well-formed --list document, every string
from the service marked unsafe (Ansible never templates it), and dict keys Ansible could template
dropped and recorded. Checked with Ansible's own JSON decoder and with real ansible runs."""
import copy
import json

import pytest
from ansible.module_utils.common.json import get_decoder
from ansible.plugins.inventory.script import detect_profile_name
from ansible.template import is_trusted_as_template, trust_as_template
from hostile_service import CLUSTER, HOST, SCRIPT, Service, fake_java, host_vars, inventory, run_script, script_env, token_file

from harness.ansible import ansible, run_playbook


def serving(list_doc, host_doc=None):
    """An answer function: list_doc for /v1/inventory, host_doc for /v1/hosts/*."""
    def answer(reply):
        reply.json(host_doc if reply.path.startswith("/v1/hosts/") else list_doc)
    return answer


def strings_in(value, path="$"):
    """Every string inside value, as (path, string), dict keys excluded."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from strings_in(item, f"{path}.{k}")


def decoded_by_ansible(stdout, host=False):
    """stdout decoded as ansible-core's script inventory plugin decodes it: the whole output is
    trusted as a template (the plugin's run_command), and the legacy inventory profile takes the trust
    off each {"__ansible_unsafe": s}; the --host answer goes through the plain legacy profile."""
    data = trust_as_template(stdout)
    return json.loads(data, cls=get_decoder("legacy" if host else detect_profile_name(data)))


def with_group(doc, name, group):
    doc = copy.deepcopy(doc)
    doc[name] = group
    return doc


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def mutated(change):
    doc = inventory()
    change(doc)
    return doc


NOT_AN_INVENTORY = {
    "a list": ([inventory()], "the document must be a JSON object (an Ansible --list document), got a list"),
    "hosts as a string": (with_group(inventory(), "teleport_proxy_us_west_2", {"hosts": HOST}),
                          "group 'teleport_proxy_us_west_2': hosts must be a list of host names, got a string"),
    "a template in a host name": (with_group(inventory(), "teleport_proxy_us_west_2", {"hosts": ["{{ lookup('env', 'HOME') }}"]}),
                                  "group 'teleport_proxy_us_west_2': hosts[0]: \"{{ lookup('env', 'HOME') }}\" is not a valid host name"),
    "a host name with a space": (mutated(lambda d: d["_meta"]["hostvars"].update({"auth 1": host_vars()})),
                                 "_meta.hostvars: \"auth 1\" is not a valid host name"),
    "host variables as a list": (mutated(lambda d: d["_meta"]["hostvars"].update({HOST: ["a"]})),
                                 f"_meta.hostvars.{HOST}: must be an object of variables, got a list"),
    "no _meta.hostvars": (mutated(lambda d: d.update({"_meta": {}})), "_meta: must hold hostvars"),
    "an unknown _meta key": (mutated(lambda d: d["_meta"].update({"extra": 1})), "_meta: unknown key \"extra\" (only hostvars)"),
    "a group name with a dash": (with_group(inventory(), "tp-auth", {"hosts": [HOST]}),
                                 "\"tp-auth\" is not a valid group name (letters, digits and _ only)"),
    "a group Ansible's decoder reserves": (with_group(inventory(), "__ansible_unsafe", {"hosts": [HOST]}),
                                           "\"__ansible_unsafe\" is not a valid group name"),
    "a group as a list": (with_group(inventory(), "teleport_proxy", [HOST]),
                          "group 'teleport_proxy': must be an object with hosts, children or vars, got a list"),
    "an unknown group key": (with_group(inventory(), "teleport_proxy", {"hosts": [], "host_vars": {}}),
                             "group 'teleport_proxy': unknown key \"host_vars\" (only hosts, children and vars)"),
    "children as a string": (with_group(inventory(), "teleport_proxy", {"children": "teleport_proxy_us_west_2"}),
                             "group 'teleport_proxy': children must be a list of group names, got a string"),
    "a bad child name": (with_group(inventory(), "teleport_proxy", {"children": ["proxy us"]}),
                         "group 'teleport_proxy': children[0]: \"proxy us\" is not a valid group name"),
    "group vars as a list": (with_group(inventory(), "teleport_proxy", {"vars": ["a"]}),
                             "group 'teleport_proxy': vars must be an object, got a list"),
    "no cluster": (mutated(lambda d: d["all"]["vars"].pop("teleport_inventory_cluster")),
                   "group 'all': vars.teleport_inventory_cluster is missing: this is not inventory-service's inventory"),
    "no all group": (mutated(lambda d: d.pop("all")),
                     "group 'all': vars.teleport_inventory_cluster is missing: this is not inventory-service's inventory"),
    "nested without end": (mutated(lambda d: d["_meta"]["hostvars"][HOST].update({"deep": nested(100)})),
                           f"_meta.hostvars.{HOST}.deep{'[0]' * 63}: nested deeper than 64 levels"),
}


@pytest.mark.parametrize("case", NOT_AN_INVENTORY)
def test_a_document_that_is_not_an_inventory_is_refused_saying_where(case):
    doc, expected = NOT_AN_INVENTORY[case]
    with Service(serving(doc)) as service:
        r = run_script(["--list"], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/inventory: not an Ansible inventory: {expected}" in r.stderr


def test_a_host_answer_that_is_not_an_object_is_refused():
    with Service(serving(inventory(), host_doc=["a", "b"])) as service:
        r = run_script(["--host", HOST], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/hosts/{HOST}: not an Ansible inventory: the host's variables must be a JSON object, got a list" in r.stderr


def test_the_local_mode_refuses_what_is_not_an_inventory(tmp_path):
    env = script_env(extra={"XDG_CACHE_HOME": str(tmp_path / "cache")}, **fake_java(tmp_path, {"hosts": "i-1"}))
    r = run_script(["--list"], env)
    assert r.returncode == 1 and r.stdout == ""
    assert "inventory-service list: not an Ansible inventory: _meta: must hold hostvars" in r.stderr
    assert "; group 'hosts': must be an object with hosts, children or vars, got a string" in r.stderr


def test_json_nested_past_pythons_recursion_limit_is_refused_cleanly():
    with Service(lambda reply: reply.head(200, {"Content-Length": 200000}) or reply.write(b"[" * 100000 + b"]" * 100000)) as service:
        r = run_script(["--list"], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/inventory: the response is nested too deeply to be an inventory" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_document_that_is_not_json_is_still_refused_as_such():
    with Service(lambda reply: reply.head(200, {"Content-Length": 3}) or reply.write(b"{{{")) as service:
        r = run_script(["--list"], script_env(URL=service.url))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{service.url}/v1/inventory: the response is not JSON" in r.stderr


EVIL = "{{ lookup('env', 'HOME') }}"
HOSTILE_VARS = host_vars(
    ansible_host="198.18.1.10{{ x }}",
    ec2_tags={"Name": EVIL, "Owner": "{% raw %}", "Note": "{# comment #}", "Plain": "auth-1",
              "Wrapped": {"__ansible_unsafe": "already {{ wrapped }}"}},
    teleport_ports=[3025, "{{ port }}", {"deep": ["{{ deeper }}", None, True, 1.5]}],
    aws_public_ip=None,
)


def hostile_inventory():
    return inventory(hostvars={HOST: copy.deepcopy(HOSTILE_VARS)},
                     all_vars={"teleport_inventory_cluster": CLUSTER, "teleport_inventory_regions": ["us-west-2", EVIL],
                               "teleport_inventory_stale_regions": [], "nested": {"k": EVIL}})


def unwrapped(value):
    """value with the {"__ansible_unsafe": s} wrappers taken off, for comparing with what was sent."""
    if isinstance(value, dict):
        if list(value) == ["__ansible_unsafe"] and isinstance(value["__ansible_unsafe"], str):
            return value["__ansible_unsafe"]
        return {k: unwrapped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrapped(v) for v in value]
    return value


def assert_every_string_is_unsafe(variables):
    assert variables, "nothing to check"
    for path, s in strings_in(variables):
        assert not is_trusted_as_template(s), f"{path} = {s!r} would be templated by Ansible"


def assert_wrapped_once(raw_variables):
    """In the JSON itself: each string is {"__ansible_unsafe": s}, never wrapped twice."""
    text = json.dumps(raw_variables)
    assert '{"__ansible_unsafe": {"__ansible_unsafe"' not in text
    assert '"already {{ wrapped }}"' in text


def check_list_output(stdout):
    raw = json.loads(stdout)
    doc = decoded_by_ansible(stdout)
    assert_every_string_is_unsafe(doc["_meta"]["hostvars"][HOST])
    assert_every_string_is_unsafe(doc["all"]["vars"])
    assert_wrapped_once(raw["_meta"]["hostvars"])
    expected = copy.deepcopy(HOSTILE_VARS)
    expected["ec2_tags"]["Wrapped"] = "already {{ wrapped }}"
    assert unwrapped(raw["_meta"]["hostvars"][HOST]) == expected
    assert unwrapped(raw["all"]["vars"])["teleport_inventory_regions"] == ["us-west-2", EVIL]
    # Names stay plain: the strict name patterns are what keeps them safe.
    assert raw["teleport_auth_us_west_2"]["hosts"] == [HOST]
    assert raw["_meta"]["teleport_inventory_script_dropped"] == []


@pytest.fixture(params=["url", "local"])
def hostile_source(request, tmp_path):
    """The script's environment with the hostile inventory behind it: from serve, or from `java ... list`."""
    if request.param == "url":
        with Service(serving(hostile_inventory(), host_doc=copy.deepcopy(HOSTILE_VARS))) as service:
            yield script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path))
    else:
        yield script_env(extra={"XDG_CACHE_HOME": str(tmp_path / "cache")}, **fake_java(tmp_path, hostile_inventory()))


def test_every_string_from_the_service_reaches_ansible_unsafe(hostile_source):
    r = run_script(["--list"], hostile_source)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    check_list_output(r.stdout)

    r = run_script(["--host", HOST], hostile_source)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert_every_string_is_unsafe(decoded_by_ansible(r.stdout, host=True))
    assert_wrapped_once(json.loads(r.stdout))


TEMPLATING_KEYS = {
    "{{ lookup('env', 'HOME') }}": "v1",
    "100%": "v2",
    "#hash": "v3",
    "brace}": "v4",
    "tab\tkey": "v5",
    "__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n6162",
    "__ansible_unsafe": {"not": "a string"},
    "Name": "auth-1",
}


def test_dict_keys_ansible_could_template_are_dropped_and_recorded(tmp_path):
    vars_ = host_vars(ec2_tags=dict(TEMPLATING_KEYS), teleport_extra=[{"ok": 1, "{% x %}": 2}])
    doc = inventory(hostvars={HOST: vars_})
    doc["teleport_proxy"] = {"hosts": [], "vars": {"{{ g }}": "group"}}
    with Service(serving(doc, host_doc=vars_)) as service:
        env = script_env(URL=service.url)
        r = run_script(["--list"], env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # Ansible and AWX show stderr as warnings: the record is in the document instead
        raw = json.loads(r.stdout)
        out = decoded_by_ansible(r.stdout)
        hv = out["_meta"]["hostvars"][HOST]
        assert hv["ec2_tags"] == {"Name": "auth-1"}
        assert hv["teleport_extra"] == [{"ok": 1}]
        assert out["teleport_proxy"]["vars"] == {}
        dropped = out["_meta"]["teleport_inventory_script_dropped"]
        assert dropped == out["all"]["vars"]["teleport_inventory_script_dropped"]
        assert_every_string_is_unsafe(dropped)
        assert raw["_meta"]["teleport_inventory_script_dropped"][0] == {"__ansible_unsafe": dropped[0]}
        where = f"_meta.hostvars.{HOST}"
        assert sorted(dropped) == sorted([
            f"{where}.ec2_tags: dropped the key \"{{{{ lookup('env', 'HOME') }}}}\" (Ansible could template it)",
            f"{where}.ec2_tags: dropped the key \"100%\" (Ansible could template it)",
            f"{where}.ec2_tags: dropped the key \"#hash\" (Ansible could template it)",
            f"{where}.ec2_tags: dropped the key \"brace}}\" (Ansible could template it)",
            f"{where}.ec2_tags: dropped the key \"tab\\tkey\" (it holds a control character)",
            f"{where}.ec2_tags: dropped the key \"__ansible_vault\" (reserved by Ansible's JSON decoder)",
            f"{where}.ec2_tags: dropped the key \"__ansible_unsafe\" (reserved by Ansible's JSON decoder)",
            f"{where}.teleport_extra[0]: dropped the key \"{{% x %}}\" (Ansible could template it)",
            "group 'teleport_proxy': vars: dropped the key \"{{ g }}\" (Ansible could template it)",
        ])

        r = run_script(["--host", HOST], env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        out = decoded_by_ansible(r.stdout, host=True)
        assert out["ec2_tags"] == {"Name": "auth-1"}
        assert len(out["teleport_inventory_script_dropped"]) == 8


def test_ansible_never_runs_what_the_service_sent(tmp_path, tmp_path_factory):
    work = tmp_path_factory.mktemp("ansible-run")
    markers = {n: tmp_path / f"marker-{n}" for n in ("value", "block", "key", "group", "all")}
    touch = {n: f"lookup('pipe', 'touch {m}')" for n, m in markers.items()}
    value = "{{ " + touch["value"] + " }}"
    block = "{% set x = " + touch["block"] + " %}block"
    key = "{{ " + touch["key"] + " }}"
    vars_ = host_vars(ec2_tags={"Name": value, "Owner": block, key: "k", "Plain": "auth-1"})
    doc = inventory(hostvars={HOST: vars_})
    doc["all"]["vars"]["teleport_inventory_note"] = "{{ " + touch["all"] + " }}"
    doc["teleport_auth_us_west_2"]["vars"] = {"group_note": "{{ " + touch["group"] + " }}"}
    playbook = work / "show.yml"
    playbook.write_text("""\
- hosts: all
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        var: ec2_tags
    - ansible.builtin.debug:
        msg: "name={{ ec2_tags.Name }} owner={{ ec2_tags.Owner }} group={{ group_note }} all={{ teleport_inventory_note }}"
    # Keys turn into values here, and a loop item is templated again when a task reads it.
    - ansible.builtin.debug:
        msg: "key={{ item.key }}"
      loop: "{{ ec2_tags | dict2items }}"
""")
    with Service(serving(doc, host_doc=vars_)) as service:
        env = script_env(URL=service.url, extra={"ANSIBLE_HOME": str(work / "home"), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
                                                 "ANSIBLE_NOCOLOR": "1"})
        env.pop("ANSIBLE_CONFIG", None)
        inv = ansible("ansible-inventory", "-i", SCRIPT, "--list", env=env, cwd=work, timeout=180)
        assert inv.returncode == 0, inv.stderr
        play = run_playbook(playbook, SCRIPT, None, env=env, cwd=work, timeout=180, log=work / "show.log")
    assert [m.name for m in markers.values() if m.exists()] == [], play.text
    assert play.rc == 0, play.text
    assert f"name={value} owner={block}" in play.text
    assert "group={{ " + touch["group"] + " }}" in play.text
    assert "all={{ " + touch["all"] + " }}" in play.text
    assert [line.strip() for line in play.text.splitlines() if '"msg": "key=' in line] == [
        '"msg": "key=Name"', '"msg": "key=Owner"', '"msg": "key=Plain"']
    # ansible-inventory writes unsafe text back out in the same wrapper.
    assert json.loads(inv.stdout)["_meta"]["hostvars"][HOST]["ec2_tags"]["Name"] == {"__ansible_unsafe": value}
