"""The harness's reading of cloud-init's SSH host key block from a console, and the known_hosts
file it writes from it (sandboxlib/hostkeys.py)."""
import base64
import os
import subprocess

import pytest
from conftest import ROOT
from sandboxlib import hostkeys

DATA = os.path.join(ROOT, "tests", "edge", "data")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Three fresh host keys as ssh-keygen writes them: {type: "type base64 comment"}."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for t in ("ed25519", "ecdsa", "rsa"):
        subprocess.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", "root@ip-198-18-1-5", "-f", str(d / t)], check=True)
        out[t] = (d / f"{t}.pub").read_text().strip()
    return out


def console(*blocks, noise="[  OK  ] Started \x1b[0;1;39mssh.service\x1b[0m - OpenBSD Secure Shell server.\r\n"):
    """A console as systemd-nspawn records it: CRLF line ends (the pty), colour codes, and
    cloud-init's blocks (write-ssh-key-fingerprints' output through multi_log)."""
    text = noise
    for lines in blocks:
        text += "-----BEGIN SSH HOST KEY KEYS-----\r\n" + "".join(f"{x}\r\n" for x in lines)
        text += "-----END SSH HOST KEY KEYS-----\r\n" + noise
    return text


def test_the_keys_of_cloud_inits_block_are_read_whatever_the_terminal_added(keys):
    got = hostkeys.parse(console(list(keys.values())))
    assert got == sorted(" ".join(k.split()[:2]) for k in keys.values())
    assert [k.split()[0] for k in got] == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]


def test_a_real_sandbox_hosts_console(keys):
    """A sandbox host's console.log (systemd-nspawn --console=read-only) from its first boot."""
    with open(os.path.join(DATA, "cloud-init-console.log"), errors="replace") as f:
        text = f.read()
    got = hostkeys.parse(text)
    assert [k.split()[0] for k in got] == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    assert "-----BEGIN SSH HOST KEY FINGERPRINTS-----" in text  # the other block is not taken for keys


def test_the_same_block_twice_is_one_set_but_two_different_ones_are_refused(keys):
    block = list(keys.values())
    assert hostkeys.parse(console(block, block)) == hostkeys.parse(console(block))
    with pytest.raises(hostkeys.HostKeyError, match="different host key sets"):
        hostkeys.parse(console(block, block[:1]))


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("Cloud-init v. 22.4.2 finished\r\n", "no -----BEGIN SSH HOST KEY KEYS----- block"),
    (console([]), "block is empty"),
])
def test_no_keys_is_an_error_saying_why(text, why):
    with pytest.raises(hostkeys.HostKeyError, match=why):
        hostkeys.parse(text)


def test_a_malformed_line_refuses_the_whole_console(keys):
    ed = keys["ed25519"].split()
    for line, why in ((f"ssh-dss {ed[1]}", "unknown key type"),
                      (f"ssh-rsa {ed[1]}", "names one type and holds another"),
                      ("ssh-ed25519 not!base64!at!all!!!!!!!!!!", "not base64"),
                      ("ssh-ed25519", "is not '<type> <base64>'"),
                      ("ssh-ed25519 " + base64.b64encode(b"\xff\xff\xff\xffssh-ed25519" + bytes(32)).decode(),
                       "not an SSH public key")):
        with pytest.raises(hostkeys.HostKeyError, match=why):
            hostkeys.parse(console([keys["ecdsa"], line]))


def test_known_hosts_holds_each_address_once_and_ssh_reads_it(keys, tmp_path):
    path = str(tmp_path / "known_hosts")
    first = hostkeys.parse(console(list(keys.values())))
    hostkeys.write_known_hosts(path, {"198.18.1.5": first, "198.18.2.4": first[:1]})
    hostkeys.write_known_hosts(path, {"198.18.2.4": first[1:]})  # that host booted again
    assert hostkeys.read_known_hosts(path) == {"198.18.1.5": first, "198.18.2.4": first[1:]}
    for ip, n in (("198.18.1.5", 3), ("198.18.2.4", 2), ("198.18.1.6", 0)):
        found = subprocess.run(["ssh-keygen", "-F", ip, "-f", path], capture_output=True, text=True)
        assert len([x for x in found.stdout.splitlines() if x and not x.startswith("#")]) == n, ip
