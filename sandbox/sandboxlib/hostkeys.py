"""SSH host keys from what cloud-init printed on an instance's console: how the harness (and
anything else on the controller) learns a host's keys without trusting the network.

cloud-init's keys-to-console step (cc_keys_to_console, /usr/lib/cloud-init/write-ssh-key-fingerprints)
prints, once per instance at first boot, every host public key whose type is not in
ssh_key_console_blacklist (cloud-init's default: ssh-dss; the sandbox's hosts print ed25519,
ECDSA and RSA) between

    -----BEGIN SSH HOST KEY KEYS-----
    ecdsa-sha2-nistp256 AAAA... root@host
    ...
    -----END SSH HOST KEY KEYS-----

EC2's GetConsoleOutput returns that console (the ec2-double answers it from the host's console in
the sandbox). The parse follows inventory-service hostkeys/ConsoleHostKeys.java: every line of a
block must be a known key type with a base64 SSH public key blob of that same type; two blocks
with different keys (something else printed a block after boot) are refused, not guessed at.

  text = console_output(endpoint, region, instance_id)     # through the ec2-double, decoded
  keys = parse(text)                                       # ["ssh-ed25519 AAAA...", ...]
  write_known_hosts(path, {ip: keys})                      # one file keyed by IP
"""
import base64
import binascii
import os
import re
import struct
import tempfile

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
TYPES = ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519", "ssh-rsa")
_BLOB = re.compile(r"[A-Za-z0-9+/]{20,8192}={0,2}")
# What a terminal adds around the text (colours, cursor moves) and the pty's \r.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


class HostKeyError(ValueError):
    """The console holds no usable host keys; the message says why."""


def check_key(key_type, blob):
    """None when `key_type blob` is a well-formed public key of a type we accept, else why not."""
    if key_type not in TYPES:
        return f"has an unknown key type {key_type[:40]!r} (want one of {', '.join(TYPES)})"
    if not _BLOB.fullmatch(blob):
        return "is not base64"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "is not base64"
    # The SSH wire format starts with the key type as a length-prefixed string (RFC 4253, 6.6).
    if len(raw) < 4:
        return "is too short to be a key"
    (n,) = struct.unpack(">I", raw[:4])
    if n <= 0 or n > len(raw) - 4:
        return "is not an SSH public key"
    if raw[4:4 + n] != key_type.encode("ascii"):
        return "names one type and holds another"
    return None


def parse(console):
    """The host keys ("type base64", sorted, deduplicated) of cloud-init's block in a console's
    text; HostKeyError when there is none, or it is malformed, or two blocks disagree."""
    if not console:
        raise HostKeyError("the console output is empty (the instance has not booted, or EC2 has not posted its "
                           "output yet)")
    blocks, current = [], None
    for raw in _ANSI.sub("", console).split("\n"):
        line = raw.strip()
        if line == BEGIN:
            current = set()
        elif line == END:
            if current is not None:
                blocks.append(current)
            current = None
        elif current is not None and line:
            fields = line.split()
            problem = "is not '<type> <base64>'" if len(fields) < 2 else check_key(fields[0], fields[1])
            if problem:
                raise HostKeyError(f"a host key line in the console {problem}")
            current.add(f"{fields[0]} {fields[1]}")
    if not blocks:
        raise HostKeyError(f"the console output has no {BEGIN} block (cloud-init prints it at the end of the "
                           "first boot; is its keys-to-console step disabled?)")
    if any(b != blocks[0] for b in blocks):
        raise HostKeyError("the console output shows different host key sets; refusing to choose")
    if not blocks[0]:
        raise HostKeyError("the console's host key block is empty")
    return sorted(blocks[0])


def console_output(endpoint, region, instance_id):
    """The instance's console as EC2's GetConsoleOutput gives it (the most recent 64 KB),
    decoded; "" while there is none. endpoint: the ec2-double's API."""
    from .edge.common import client
    out = client("ec2", region, endpoint).get_console_output(InstanceId=instance_id, Latest=True)
    # boto3 decodes the base64 Output itself.
    return out.get("Output") or ""


def known_hosts_lines(address, keys):
    return [f"{address} {key}" for key in keys]


def read_known_hosts(path):
    """{address: [keys]} of a known_hosts file written by write_known_hosts."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and not line.startswith("#"):
                    out.setdefault(fields[0], []).append(f"{fields[1]} {fields[2]}")
    except FileNotFoundError:
        pass
    return out


def write_known_hosts(path, keys_by_address):
    """Sets the keys of each given address in the known_hosts file at path (the other addresses'
    lines stay), atomically: ssh reads the old file or the new one."""
    have = read_known_hosts(path)
    have.update({a: list(k) for a, k in keys_by_address.items()})
    text = "# Written by sandbox/sandbox from each host's console (cloud-init's SSH HOST KEY KEYS block).\n"
    text += "".join(line + "\n" for a in sorted(have) for line in known_hosts_lines(a, have[a]))
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".known_hosts.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
