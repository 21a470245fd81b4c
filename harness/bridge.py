"""Linux bridges for test worlds: a region of the sandbox, a lab."""
import hashlib

from .util import run


def add(name, gateway, prefixlen):
    """A bridge with the gateway address; a stale one of the same name is replaced."""
    delete(name)
    # A fixed MAC: a Linux bridge without one takes the lowest MAC of its ports, so it
    # changes whenever a host powers off or on, and every neighbour's ARP entry for the
    # gateway (the region's resolver, its route out) goes stale for up to ~30 s. A VPC's
    # router and resolver never change address like that.
    run(["ip", "link", "add", name, "address", mac(name), "type", "bridge"])
    run(["ip", "addr", "add", f"{gateway}/{prefixlen}", "dev", name])
    run(["ip", "link", "set", name, "up"])


def mac(name):
    """A locally administered unicast MAC derived from the bridge's name."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def delete(name):
    if f" {name}:" in run(["ip", "-o", "link", "show"], check=False).stdout:
        run(["ip", "link", "del", name], check=False)
