"""The script as OpenSSH's KnownHostsCommand: SSH checks each host against exactly the keys its
console printed (docs/security.md, "Host keys"), and --list tells Ansible's SSH to do so."""
import json
import shlex
import subprocess

import pytest
from hostile_service import SCRIPT, Service, inventory, run_script, script_env, token_file

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM/Uq/BdmQ35WzH/VcglLQhMRWCjuAE9U3vTj/F3GbhT"


def answers_keys(reply):
    host = reply.path.rsplit("/", 1)[1]
    if host != "198.18.1.10":
        reply.json({"error": "no host of the cluster that is in service is reached at that address"}, status=404)
        return
    body = f"198.18.1.10 {KEY}\n".encode()
    reply.head(200, {"Content-Type": "text/plain; charset=utf-8", "Content-Length": len(body)})
    reply.write(body)


def test_known_hosts_prints_the_lines_the_service_gives_for_the_host(tmp_path):
    with Service(answers_keys) as service:
        r = run_script(["--known-hosts", "198.18.1.10"], script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"198.18.1.10 {KEY}\n"
    assert service.requests[0]["path"] == "/v1/known_hosts/198.18.1.10"
    assert service.requests[0]["headers"]["Authorization"].startswith("Bearer ")


def test_an_unknown_host_gets_no_keys_and_a_reason(tmp_path):
    with Service(answers_keys) as service:
        r = run_script(["--known-hosts", "198.18.9.9"], script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path)))
    assert r.returncode == 1 and r.stdout == ""
    assert "HTTP 404" in r.stderr and "no host of the cluster that is in service" in r.stderr


@pytest.mark.parametrize("answer", [
    "198.18.1.10 ssh-ed25519 AAAA\n@cert-authority * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM\n",
    "198.18.1.10 ssh-dss AAAAB3NzaC1kc3MAAACBAP\n",
    "<html>oops</html>\n",
])
def test_an_answer_that_is_not_known_hosts_lines_is_refused(tmp_path, answer):
    def answers(reply):
        body = answer.encode()
        reply.head(200, {"Content-Type": "text/plain", "Content-Length": len(body)})
        reply.write(body)

    with Service(answers) as service:
        r = run_script(["--known-hosts", "198.18.1.10"], script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path)))
    assert r.returncode == 1 and r.stdout == ""
    assert "is not known_hosts lines" in r.stderr


@pytest.mark.parametrize("searched", ["-oProxyCommand=x", "a b", "{{ x }}", "", "[198.18.1.10]"])
def test_what_ssh_never_searches_for_is_refused_before_any_request(tmp_path, searched):
    with Service(answers_keys) as service:
        r = run_script(["--known-hosts", searched], script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path)))
    assert r.returncode == 1 and r.stdout == ""
    assert service.requests == []


def test_list_tells_ansibles_ssh_to_check_hosts_against_exactly_those_keys(tmp_path):
    with Service(lambda reply: reply.json(inventory())) as service:
        r = run_script(["--list"], script_env(URL=service.url, TOKEN_FILE=token_file(tmp_path)))
    assert r.returncode == 0, r.stderr
    args = json.loads(r.stdout)["all"]["vars"]["ansible_ssh_common_args"]["__ansible_unsafe"]
    # Ansible splits the value with shlex; ssh -G reads it as it would for a connection (no connection made).
    ssh = subprocess.run(["ssh", "-G", *shlex.split(args), "198.18.1.10"], capture_output=True, text=True, check=True)
    config = dict(line.split(" ", 1) for line in ssh.stdout.splitlines() if " " in line)
    assert config["stricthostkeychecking"] == "true"
    assert config["userknownhostsfile"] == "/dev/null"
    assert config["globalknownhostsfile"] == "/dev/null"
    command = shlex.split(config["knownhostscommand"])
    assert command[1:] == [SCRIPT, "--known-hosts", "%H"]
