#!/usr/bin/python
"""Waits until the given TXT records are served: through a resolver, or by every
authoritative name server of the zone.

Why a module: an ACME CA validates dns-01 by asking one of the zone's name servers,
whichever it reaches, at a moment of its choosing; Route 53 reporting a change INSYNC
says nothing about what a given name server answers yet (certbot's Route 53 plugin
trusts INSYNC and fails against a CA that validates at once). So the records are asked
for over the DNS protocol until every value is served, or the deadline passes.

Where: many VPCs and AWX clusters let a controller reach only the VPC's resolver on
port 53, never Route 53's name servers. With `resolver` set (the VPC resolver by
default in the role) the records are asked of it, with recursion; when it does not
answer at all (a controller outside a VPC), the check falls back to asking each
authoritative name server directly, unless `resolver_fallback` is false.

Only the Python standard library is used: the controller (or an AWX execution
environment) need not have dnspython or dig.
"""
import random
import socket
import struct
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: tls_issuer_dns_propagation
short_description: Wait until every authoritative name server serves TXT records
options:
  records:
    description: TXT values per record name (absolute or relative to the root); every value must be served.
    type: dict
    required: true
  nameservers:
    description: The zone's authoritative name servers (Route 53's delegation set), by name.
    type: list
    elements: str
    required: true
  resolver:
    description:
      - A recursive resolver (ip or ip:port) to ask instead of the name servers, with recursion desired; its answer
        need not be authoritative. Empty asks every authoritative name server.
    type: str
    default: ""
  resolver_fallback:
    description: When the resolver gives no answer at all to the first query, ask the authoritative name servers.
    type: bool
    default: true
  addresses:
    description:
      - Address (ip or ip:port) to ask instead of resolving a name server's name; key C(*) applies to every
        name server not listed. For test environments whose name servers are not in public DNS.
    type: dict
    default: {}
  timeout: {description: Seconds to wait for every name server., type: int, default: 300}
  interval: {description: Seconds between two rounds of queries., type: float, default: 2}
  query_timeout: {description: Seconds to wait for one answer., type: float, default: 3}
"""

RETURN = r"""
via:
  description: C(resolver) or C(authoritative), what the check asked.
  type: str
  returned: always
fallback_reason: {description: Why the resolver was not used (it gave no answer)., type: str, returned: on fallback}
nameservers:
  description: Per name server asked (or the resolver), the address asked and the seconds until it served every record.
  type: dict
  returned: always
waited: {description: Seconds until the last name server served every record., type: float, returned: success}
"""

TYPE_TXT, CLASS_IN, TYPE_OPT = 16, 1, 41
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise ValueError(f"{name!r}: not a DNS name (empty label or a label over 63 bytes)")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def query_message(qid, name, recursion=False):
    # RD clear for an authoritative server: it answers from its zone, never by recursion. Set for a resolver.
    header = struct.pack(">HHHHHH", qid, 0x0100 if recursion else 0, 1, 0, 0, 1)
    question = encode_name(name) + struct.pack(">HH", TYPE_TXT, CLASS_IN)
    opt = b"\x00" + struct.pack(">HHIH", TYPE_OPT, 1232, 0, 0)  # EDNS(0), 1232-byte UDP payload
    return header + question + opt


def read_name(msg, pos):
    labels, jumped, end, hops = [], False, pos, 0
    while True:
        if pos >= len(msg):
            raise ValueError("truncated name")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg) or hops > 32:
                raise ValueError("bad compression pointer")
            if not jumped:
                end = pos + 2
            pos, jumped, hops = ((length & 0x3F) << 8) | msg[pos + 1], True, hops + 1
            continue
        if length == 0:
            return ".".join(labels).lower() + ".", (end if jumped else pos + 1)
        labels.append(msg[pos + 1:pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length


def parse_answer(msg, qid, name):
    """(rcode name, authoritative, truncated, [TXT values for name])."""
    if len(msg) < 12:
        raise ValueError("short answer")
    rid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid:
        raise ValueError("answer to another query")
    pos = 12
    for _ in range(qd):
        _, pos = read_name(msg, pos)
        pos += 4
    wanted = name.rstrip(".").lower() + "."
    values = []
    for _ in range(an):
        rname, pos = read_name(msg, pos)
        rtype, _rclass, _ttl, rdlength = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlength]
        pos += rdlength
        if rtype == TYPE_TXT and rname == wanted:
            parts, i = [], 0
            while i < len(rdata):
                n = rdata[i]
                parts.append(rdata[i + 1:i + 1 + n].decode("utf-8", "replace"))
                i += 1 + n
            values.append("".join(parts))
    return RCODES.get(flags & 0xF, str(flags & 0xF)), bool(flags & 0x0400), bool(flags & 0x0200), values


def ask(address, name, timeout, recursion=False):
    host, port = address
    qid = random.randrange(1 << 16)
    msg = query_message(qid, name, recursion)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        # Connected: only that address's answers are read, and a closed port fails at once (ICMP unreachable).
        s.connect((host, port))
        s.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            data = s.recv(65535)
            try:
                answer = parse_answer(data, qid, name)
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
    if not answer[2]:
        return answer
    # Truncated: the same question over TCP (RFC 7766).
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack(">H", len(msg)) + msg)
        head = s.recv(2)
        length = struct.unpack(">H", head)[0]
        data = b""
        while len(data) < length:
            chunk = s.recv(length - len(data))
            if not chunk:
                raise ValueError("connection closed mid-answer")
            data += chunk
    return parse_answer(data, qid, name)


def split_address(text, where):
    text = str(text).strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, "53"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{where}: {text!r} is not ip or ip:port")
    return host, int(port)


def resolve(ns, addresses):
    given = addresses.get(ns.rstrip(".").lower()) or addresses.get(ns) or addresses.get("*")
    if given:
        return split_address(given, f"addresses[{ns}]")
    infos = socket.getaddrinfo(ns.rstrip("."), 53, proto=socket.IPPROTO_UDP)
    return infos[0][4][0], 53


def main():
    module = AnsibleModule(argument_spec={
        "records": {"type": "dict", "required": True},
        "nameservers": {"type": "list", "elements": "str", "required": True},
        "addresses": {"type": "dict", "default": {}},
        "resolver": {"type": "str", "default": ""},
        "resolver_fallback": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 300},
        "interval": {"type": "float", "default": 2},
        "query_timeout": {"type": "float", "default": 3},
    }, supports_check_mode=True)
    p = module.params
    records = {str(k).rstrip(".").lower(): sorted({str(v) for v in (vals if isinstance(vals, list) else [vals])})
               for k, vals in p["records"].items()}
    if not p["nameservers"]:
        module.fail_json(msg="nameservers: empty; the zone's delegation set lists its name servers")
    addresses = {str(k).rstrip(".").lower() if k != "*" else "*": v for k, v in p["addresses"].items()}
    start = time.monotonic()
    deadline = start + p["timeout"]
    via, fallback_reason, state = "authoritative", None, {}
    if p["resolver"]:
        try:
            addr = split_address(p["resolver"], "resolver")
        except ValueError as e:
            module.fail_json(msg=f"{e}; set tls_issuer_dns_resolver to the VPC resolver's ip or ip:port, or empty")
        resolver = f"resolver {addr[0]}:{addr[1]}"
        state[resolver] = {"address": f"{addr[0]}:{addr[1]}", "_addr": addr, "pending": dict(records), "last": {}}
        # One question first: a resolver that does not answer at all is not there (a controller outside a VPC).
        try:
            ask(addr, next(iter(records)), p["query_timeout"], recursion=True)
            via = "resolver"
        except (OSError, ValueError) as e:
            if not p["resolver_fallback"]:
                module.fail_json(msg=f"the resolver {addr[0]}:{addr[1]} (tls_issuer_dns_resolver) gave no answer ({e}); "
                                     "set it to a resolver this controller reaches, or set "
                                     "tls_issuer_dns_resolver_fallback to true to ask the authoritative name servers",
                                 via="resolver", nameservers={})
            fallback_reason = f"the resolver {addr[0]}:{addr[1]} gave no answer ({e})"
            state = {}
    for ns in p["nameservers"] if via == "authoritative" else []:
        try:
            addr = resolve(ns, addresses)
        except (OSError, ValueError) as e:
            module.fail_json(msg=f"name server {ns}: cannot find its address ({e}); give it in "
                                 "tls_issuer_dns_nameserver_addresses")
        state[ns] = {"address": f"{addr[0]}:{addr[1]}", "_addr": addr, "pending": dict(records), "last": {}}
    while True:
        for st in state.values():
            for name in list(st["pending"]):
                try:
                    rcode, aa, _tc, values = ask(st["_addr"], name, p["query_timeout"], recursion=via == "resolver")
                except (OSError, ValueError) as e:
                    st["last"][name] = f"no answer ({e})"
                    continue
                missing = [v for v in records[name] if v not in values]
                # A resolver answers from its recursion (and its cache), never authoritatively.
                if rcode == "NOERROR" and (aa or via == "resolver") and not missing:
                    del st["pending"][name]
                else:
                    st["last"][name] = (f"{rcode}{'' if aa or via == 'resolver' else ' without the AA bit (not authoritative)'}, "
                                        f"values {sorted(values)}")
            if not st["pending"] and "seconds" not in st:
                st["seconds"] = round(time.monotonic() - start, 2)
        if all(not st["pending"] for st in state.values()):
            break
        if time.monotonic() + p["interval"] > deadline:
            late = [f"{ns} ({st['address']}): " + "; ".join(f"{n}: {st['last'].get(n, 'not asked')}" for n in st["pending"])
                    for ns, st in state.items() if st["pending"]]
            if via == "resolver":
                what = (f"the resolver {next(iter(state.values()))['address']} (tls_issuer_dns_resolver) still does not "
                        f"serve every challenge record (wanted {records}): ")
                fix = ("Check that the zone is public and delegated, raise tls_issuer_dns_propagation_timeout (a resolver "
                       "that cached the name's absence keeps it for the zone's negative TTL), or set "
                       "tls_issuer_dns_resolver to empty to ask the authoritative name servers.")
            else:
                what = (f"{len(late)} of {len(state)} authoritative name servers still do not serve every challenge "
                        f"record (wanted {records}): ")
                fix = (("Asked them because " + fallback_reason + ". " if fallback_reason else "")
                       + "Check the zone's delegation and tls_issuer_dns_nameserver_addresses, "
                         "or raise tls_issuer_dns_propagation_timeout.")
            module.fail_json(
                msg=f"after {p['timeout']} s, {what}" + " | ".join(late) + ". The CA was not asked to validate. " + fix,
                via=via, fallback_reason=fallback_reason,
                nameservers={ns: {k: v for k, v in st.items() if not k.startswith("_")} for ns, st in state.items()})
        time.sleep(p["interval"])  # pacing the next round of queries against external servers
    module.exit_json(changed=False, waited=round(time.monotonic() - start, 2), via=via, fallback_reason=fallback_reason,
                     nameservers={ns: {"address": st["address"], "seconds": st["seconds"]} for ns, st in state.items()})


if __name__ == "__main__":
    main()
