"""A small ad-hoc world for suites that need real systemd hosts without the
whole sandbox: one bridge and N hosts from the sandbox's Debian root, with a
static Ansible inventory. `sandbox/sandbox lab up NAME --hosts N` prints it as
JSON; `sandbox/sandbox lab down NAME` removes it (idempotent)."""
import ipaddress
import json
import os
import shutil

from . import hosts, network
from .util import REPO, SandboxError, load_json, log, save_json

LAB_ROOT = os.environ.get("SANDBOX_LAB_DIR", os.path.join(REPO, "sandbox", "lab-state"))


def _dir(name):
    if not name.replace("-", "").isalnum() or len(name) > 12:
        raise SandboxError(f"lab name {name!r}: use up to 12 letters, digits and dashes")
    return os.path.join(LAB_ROOT, name)


def up(name, count, cidr):
    d = _dir(name)
    if load_json(os.path.join(d, "lab.json")):
        raise SandboxError(f"lab {name} is already up ({d}); run `sandbox/sandbox lab down {name}` first")
    net = ipaddress.ip_network(cidr)
    if not net.subnet_of(ipaddress.ip_network("198.18.0.0/15")):
        raise SandboxError(f"--cidr {cidr}: labs use addresses in 198.18.0.0/15 only")
    addrs = list(net.hosts())
    gateway, bridge = str(addrs[0]), f"lab-{name}"[:15]
    lab = {"name": name, "bridge": bridge, "cidr": cidr, "gateway": gateway,
           "ssh_key": os.path.join(d, "ssh", "id_ed25519"), "known_hosts": os.path.join(d, "ssh", "known_hosts"),
           "hosts": []}
    os.makedirs(d, exist_ok=True)
    save_json(os.path.join(d, "lab.json"), lab)
    try:
        network.add_bridge(bridge, gateway, net.prefixlen)
        base = hosts.rootfs()
        pubkey = hosts.ssh_key(lab["ssh_key"])
        for n in range(count):
            machine = f"{name}-{n}"
            booted = hosts.boot(machine, str(addrs[9 + n]), cidr, gateway, bridge, machine, base, pubkey,
                                os.path.join(d, "hosts"))
            lab["hosts"].append(dict(booted, ssh_key=lab["ssh_key"], known_hosts=lab["known_hosts"]))
            save_json(os.path.join(d, "lab.json"), lab)
        # No EC2 here: the host keys are read from the console the hypervisor keeps.
        hosts.wait_ssh(lab["hosts"], hosts.console_file)
    except BaseException:
        down(name)
        raise
    log(f"lab {name}: {count} host(s) on {bridge} ({cidr})")
    return lab


def load(name):
    """The state of a lab that is up, else None."""
    return load_json(os.path.join(_dir(name), "lab.json"))


def down(name):
    d = _dir(name)
    lab = load_json(os.path.join(d, "lab.json")) or {}
    hosts.down(lab, os.path.join(d, "hosts"))
    if lab.get("bridge"):
        network.del_bridge(lab["bridge"])
    shutil.rmtree(d, ignore_errors=True)


def main(args):
    if args.lab_cmd == "up":
        lab = up(args.name, args.hosts, args.cidr)
        print(json.dumps({k: lab[k] for k in ("name", "bridge", "gateway", "ssh_key", "known_hosts")}
                         | {"hosts": [{"name": h["machine"], "ip": h["private_ip"]} for h in lab["hosts"]]}))
    else:
        down(args.name)
    return 0
