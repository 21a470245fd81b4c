"""A small ad-hoc world for suites that need real systemd hosts without the
whole sandbox: one bridge and N hosts from the sandbox's Debian root, with a
static Ansible inventory. `sandbox/sandbox lab up NAME --hosts N` prints it as
JSON; `sandbox/sandbox lab down NAME` removes it (idempotent).

  with lab.session("editions", 3, "198.18.240.0/24") as state:   # a pytest session's lab
      auth, *proxies = lab.hosts(state)
      inv = lab.inventory("lab.teleport.test", state, auth, [(p, "lab-1", {}) for p in proxies])
"""
import contextlib
import ipaddress
import os
import shutil

from . import bridge, machines
from .host import Host
from .util import REPO, HarnessError, load_json, log, save_json

LAB_ROOT = os.environ.get("SANDBOX_LAB_DIR", os.path.join(REPO, "sandbox", "lab-state"))


def _dir(name):
    if not name.replace("-", "").isalnum() or len(name) > 12:
        raise HarnessError(f"lab name {name!r}: use up to 12 letters, digits and dashes")
    return os.path.join(LAB_ROOT, name)


def up(name, count, cidr):
    d = _dir(name)
    if load_json(os.path.join(d, "lab.json")):
        raise HarnessError(f"lab {name} is already up ({d}); run `sandbox/sandbox lab down {name}` first")
    net = ipaddress.ip_network(cidr)
    if not net.subnet_of(ipaddress.ip_network("198.18.0.0/15")):
        raise HarnessError(f"--cidr {cidr}: labs use addresses in 198.18.0.0/15 only")
    addrs = list(net.hosts())
    gateway, name_of_bridge = str(addrs[0]), f"lab-{name}"[:15]
    lab = {"name": name, "bridge": name_of_bridge, "cidr": cidr, "gateway": gateway,
           "ssh_key": os.path.join(d, "ssh", "id_ed25519"), "known_hosts": os.path.join(d, "ssh", "known_hosts"),
           "hosts": []}
    os.makedirs(d, exist_ok=True)
    save_json(os.path.join(d, "lab.json"), lab)
    try:
        bridge.add(name_of_bridge, gateway, net.prefixlen)
        base = machines.rootfs()
        for n in range(count):
            machine = f"{name}-{n}"
            lab["hosts"].append(machines.boot(machine, str(addrs[9 + n]), cidr, gateway, name_of_bridge, machine, base,
                                              lab["ssh_key"], os.path.join(d, "hosts"), lab["known_hosts"]))
            save_json(os.path.join(d, "lab.json"), lab)
        # No EC2 here: the host keys are read from the console the hypervisor keeps.
        machines.wait_ssh(lab["hosts"], machines.console_file)
    except BaseException:
        down(name)
        raise
    log(f"lab {name}: {count} host(s) on {name_of_bridge} ({cidr})")
    return lab


def load(name):
    """The state of a lab that is up, else None."""
    return load_json(os.path.join(_dir(name), "lab.json"))


def hosts(lab):
    """The lab's machines, in boot order."""
    return [Host(h) for h in lab["hosts"]]


def down(name):
    d = _dir(name)
    lab = load_json(os.path.join(d, "lab.json")) or {}
    machines.down(lab.get("hosts", []), os.path.join(d, "hosts"))
    if lab.get("bridge"):
        bridge.delete(lab["bridge"])
    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def session(name, count, cidr):
    """A lab for one test session: up (after taking down a stale one of the same name), and down
    at the end. LAB_KEEP=1, while developing a test, keeps it afterwards and reuses a kept one."""
    if os.geteuid() != 0:
        raise HarnessError("a lab needs root (systemd-nspawn, bridges)")
    keep = os.environ.get("LAB_KEEP") == "1"
    state = load(name) if keep else None
    if not state:
        down(name)
        state = up(name, count, cidr)
    try:
        yield state
    finally:
        if not keep:
            down(name)


def inventory(cluster, state, auth, proxies, auth_region="lab-1"):
    """A static inventory of the lab in the inventory service's shape: auth (a Host) the auth pool,
    proxies [(Host, region, extra host vars)] the proxy pool, each peering on its address:3021."""
    def host(h, role, region, **extra):
        return {"ansible_host": h.ip, "teleport_role": role, "aws_region": region, "aws_private_ip": h.ip, **extra}
    return {"all": {
        "vars": {"teleport_inventory_cluster": cluster, "teleport_inventory_stale_regions": [],
                 "ansible_user": "root", "ansible_ssh_private_key_file": state["ssh_key"]},
        "children": {"teleport": {"children": {
            "teleport_auth": {"hosts": {"auth-0": host(auth, "auth", auth_region)}},
            "teleport_proxy": {"hosts": {f"proxy-{n}": host(p, "proxy", region, teleport_peer_public_addr=f"{p.ip}:3021",
                                                             **extra)
                                         for n, (p, region, extra) in enumerate(proxies)}},
        }}},
    }}
