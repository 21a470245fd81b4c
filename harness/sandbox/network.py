"""Region bridges on this machine, routing between them, cross-region latency."""
import ipaddress
import os

from .. import bridge
from ..util import log, run
from . import world

FORWARD = "/proc/sys/net/ipv4/ip_forward"
# Bridged frames through the inet family's hooks, where the security-group double filters them.
BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def _prefix(cidr):
    return ipaddress.ip_network(cidr).prefixlen


def up(state):
    with open(FORWARD) as f:
        state["ip_forward_before"] = f.read().strip()
    state["bridges"] = []
    for r in world.REGIONS:
        bridge.add(r["bridge"], r["gateway"], _prefix(r["cidr"]))
        state["bridges"].append(r["bridge"])
    state["cross_region_delay_ms"] = _add_delay() if _netem_available() else 0
    # The machine routes between the region bridges (its connected routes).
    with open(FORWARD, "w") as f:
        f.write("1")
    if not os.path.exists(BRIDGE_NF):
        run(["modprobe", "br_netfilter"], check=False)
    if os.path.exists(BRIDGE_NF):
        with open(BRIDGE_NF) as f:
            state["bridge_nf_before"] = f.read().strip()
        with open(BRIDGE_NF, "w") as f:
            f.write("1")
    delay = state["cross_region_delay_ms"]
    log("bridges " + ", ".join(f"{r['bridge']}={r['gateway']}" for r in world.REGIONS)
        + (f"; cross-region delay {delay} ms each way" if delay else
           "; NO cross-region delay: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM)"))


def _netem_available():
    """netem and prio are kernel options; some CI kernels build without them."""
    br = world.REGIONS[0]["bridge"]
    p = run(["tc", "qdisc", "add", "dev", br, "root", "handle", "1:", "prio", "bands", "4"], check=False)
    if p.returncode != 0:
        return False
    q = run(["tc", "qdisc", "add", "dev", br, "parent", "1:4", "handle", "40:", "netem", "delay", "1ms"], check=False)
    run(["tc", "qdisc", "del", "dev", br, "root"], check=False)
    return q.returncode == 0


def _add_delay():
    for r in world.REGIONS:
        br = r["bridge"]
        # Traffic leaving this bridge towards its hosts that came from another
        # region goes through netem (band 4, reached only by the filter);
        # same-region and machine-local traffic does not.
        run(["tc", "qdisc", "add", "dev", br, "root", "handle", "1:", "prio", "bands", "4"])
        run(["tc", "qdisc", "add", "dev", br, "parent", "1:4", "handle", "40:", "netem", "delay", f"{world.CROSS_REGION_DELAY_MS}ms"])
        for other in world.REGIONS:
            if other is not r:
                run(["tc", "filter", "add", "dev", br, "parent", "1:0", "protocol", "ip", "prio", "1",
                     "u32", "match", "ip", "src", other["cidr"], "flowid", "1:4"])
    return world.CROSS_REGION_DELAY_MS


def down(state):
    for br in sorted(set((state or {}).get("bridges", [])) | {r["bridge"] for r in world.REGIONS}):
        bridge.delete(br)
    nf_before = (state or {}).get("bridge_nf_before")
    if nf_before is not None and os.path.exists(BRIDGE_NF):
        with open(BRIDGE_NF, "w") as f:
            f.write(nf_before)
    before = (state or {}).get("ip_forward_before")
    if before is not None:
        with open(FORWARD, "w") as f:
            f.write(before)
