"""roles/tls_issuer's propagation check (tls_issuer_dns_propagation) against DNS servers on loopback: through a
resolver, which answers with recursion and without authority (the VPC's, the only DNS many VPCs and AWX clusters
allow); falling back to the authoritative name servers when the resolver gives no answer; and the failures, each
naming the variable to change. The module runs as Ansible runs it: a process given its arguments as JSON."""
import json
import socket
import struct
import subprocess
import sys
import threading

import pytest
from argspec_doc import ROOT
from conftest import HERE, failures_by_host, local_host_vars, play

MODULE = ROOT / "roles/tls_issuer/library/tls_issuer_dns_propagation.py"
NAME = "_acme-challenge.teleport.example.com"
VALUE = "a-token-digest"


class DnsServer:
    """One UDP DNS server: answers TXT questions from `records`, with the AA bit when `authoritative`; records whether
    each question asked for recursion (RD)."""

    def __init__(self, records, authoritative):
        self.records, self.authoritative = records, authoritative
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.recursion_desired = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            qid, flags = struct.unpack(">HH", data[:4])
            pos, labels = 12, []
            while data[pos]:
                labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
                pos += 1 + data[pos]
            question = data[12:pos + 5]
            self.recursion_desired.append(bool(flags & 0x0100))
            values = self.records.get(".".join(labels).lower(), [])
            answers = b"".join(struct.pack(">HHHIH", 0xC00C, 16, 1, 60, len(v) + 1) + bytes([len(v)]) + v.encode()
                               for v in values)
            reply_flags = 0x8000 | (0x0400 if self.authoritative else 0) | (flags & 0x0100) | (0 if values else 3)
            self.sock.sendto(struct.pack(">HHHHHH", qid, reply_flags, 1, len(values), 0, 0) + question + answers, peer)

    def close(self):
        self.sock.close()


def closed_port():
    """A loopback UDP port nobody listens on: a query there is refused at once (ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


def propagation(tmp_path, **args):
    """Runs the module with its arguments; returns its JSON result."""
    params = {"records": {NAME: [VALUE]}, "nameservers": ["ns-1.awsdns-01.org", "ns-2.awsdns-02.net"],
              "timeout": 3, "interval": 0.2, "query_timeout": 1, **args}
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    out = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


@pytest.fixture
def servers():
    made = {}

    def make(name, records, authoritative):
        made[name] = DnsServer(records, authoritative)
        return made[name]
    yield make
    for s in made.values():
        s.close()


def test_the_resolver_serving_every_value_is_enough_without_authority(tmp_path, servers):
    resolver = servers("resolver", {NAME: [VALUE]}, authoritative=False)
    result = propagation(tmp_path, resolver=resolver.addr)
    assert not result.get("failed"), result
    assert result["via"] == "resolver" and result["fallback_reason"] is None
    assert list(result["nameservers"]) == [f"resolver {resolver.addr}"]
    # A resolver is asked to recurse; an authoritative server never is.
    assert resolver.recursion_desired and all(resolver.recursion_desired)


def test_a_resolver_that_never_serves_the_record_fails_naming_it_and_the_way_out(tmp_path, servers):
    resolver = servers("resolver", {}, authoritative=False)
    result = propagation(tmp_path, resolver=resolver.addr, timeout=1)
    assert result["failed"] and result["via"] == "resolver"
    assert f"the resolver {resolver.addr} (tls_issuer_dns_resolver) still does not serve every challenge record" in result["msg"]
    assert "NXDOMAIN" in result["msg"] and "set tls_issuer_dns_resolver to empty" in result["msg"]
    assert "The CA was not asked to validate" in result["msg"]


def test_a_resolver_that_gives_no_answer_falls_back_to_every_authoritative_name_server(tmp_path, servers):
    authoritative = servers("ns", {NAME: [VALUE]}, authoritative=True)
    silent = closed_port()
    result = propagation(tmp_path, resolver=silent, addresses={"*": authoritative.addr})
    assert not result.get("failed"), result
    assert result["via"] == "authoritative"
    assert result["fallback_reason"].startswith(f"the resolver {silent} gave no answer")
    assert sorted(result["nameservers"]) == ["ns-1.awsdns-01.org", "ns-2.awsdns-02.net"]
    assert not any(authoritative.recursion_desired)


def test_the_fallback_still_requires_authority_and_says_why_it_asked_the_name_servers(tmp_path, servers):
    not_authoritative = servers("ns", {NAME: [VALUE]}, authoritative=False)
    silent = closed_port()
    result = propagation(tmp_path, resolver=silent, addresses={"*": not_authoritative.addr}, timeout=1)
    assert result["failed"] and result["via"] == "authoritative"
    assert "2 of 2 authoritative name servers still do not serve" in result["msg"]
    assert "without the AA bit" in result["msg"]
    assert f"Asked them because the resolver {silent} gave no answer" in result["msg"]


def test_without_the_fallback_a_silent_resolver_fails_at_once_naming_both_variables(tmp_path):
    result = propagation(tmp_path, resolver=closed_port(), resolver_fallback=False, addresses={"*": closed_port()})
    assert result["failed"] and result["nameservers"] == {}
    assert "(tls_issuer_dns_resolver) gave no answer" in result["msg"]
    assert "tls_issuer_dns_resolver_fallback" in result["msg"]


def test_no_resolver_asks_every_authoritative_name_server_as_before(tmp_path, servers):
    authoritative = servers("ns", {NAME: [VALUE]}, authoritative=True)
    result = propagation(tmp_path, addresses={"*": authoritative.addr})
    assert not result.get("failed"), result
    assert result["via"] == "authoritative" and result["fallback_reason"] is None
    assert len(authoritative.recursion_desired) == 2 and not any(authoritative.recursion_desired)


def test_the_preflight_refuses_a_resolver_that_is_not_an_address(tmp_path):
    acme = {"tls_issuer_domain": "teleport.example.com", "tls_issuer_acme_terms_agreed": True,
            "tls_issuer_route53_zone": "example.com", "tls_issuer_lock_table": "lock"}
    hosts = {"vpc_default": {}, "base_plus_two": {"tls_issuer_dns_resolver": "10.0.0.2"},
             "ipv6_port": {"tls_issuer_dns_resolver": "[fd00:ec2::253]:53"}, "none": {"tls_issuer_dns_resolver": ""},
             "a_name": {"tls_issuer_dns_resolver": "dns.internal"}, "bad_octet": {"tls_issuer_dns_resolver": "10.0.0.256"}}
    inventory = {"all": {"vars": local_host_vars(**acme), "hosts": hosts}}
    failures = failures_by_host(play(HERE / "tls_issuer_preflight.yml", inventory, tmp_path,
                                     env={"ANSIBLE_STDOUT_CALLBACK": "json"}))
    assert sorted(failures) == ["a_name", "bad_octet"]
    assert all("tls_issuer_dns_resolver is" in m for m in failures["a_name"] + failures["bad_octet"])
