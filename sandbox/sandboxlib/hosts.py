"""The VMs: one systemd-nspawn container per ASG instance, booted from an
overlay over a shared Debian 12 root, at the private IP moto assigned."""
import ipaddress
import os
import shutil
import uuid

from . import world
from .util import REPO, STATE_DIR, SandboxError, alive, log, run, spawn, stop_pid, tcp_open, wait_until

HOSTS_DIR = os.path.join(STATE_DIR, "hosts")
SSH_KEY = os.path.join(STATE_DIR, "ssh", "id_ed25519")
SSH_OPTS = ["-i", SSH_KEY, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR"]


def rootfs():
    """The shared read-only root, built once and cached outside the repository."""
    p = run(["bash", os.path.join(REPO, "sandbox", "build-rootfs.sh")], timeout=900)
    return p.stdout.strip().splitlines()[-1]


def ssh_key(path=SSH_KEY):
    """The SSH key the hosts authorise (created once); returns the public key."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "teleport-ha-sandbox", "-f", path])
    with open(path + ".pub") as f:
        return f.read()


def _write(root, rel, content, mode=0o644):
    path = os.path.join(root, rel.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.islink(path):
        os.unlink(path)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)


def _hosts_file(hostname):
    # Only the host itself: the other hosts are found through DNS (or not at all),
    # so a name that would not resolve in a VPC does not resolve here either.
    return ("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
            f"127.0.1.1 {hostname}\n")


def boot_all(state, instances, base):
    pubkey = ssh_key()
    state["hosts"] = []
    for inst in instances:
        r = world.region(inst["region"])
        state["hosts"].append(dict(inst, **boot(
            inst["machine"], inst["private_ip"], r["cidr"], r["gateway"], r["bridge"],
            inst["private_dns"].split(".")[0], base, pubkey, HOSTS_DIR, nameserver=r["gateway"])))
    wait_ssh(state["hosts"])
    log(f"{len(state['hosts'])} hosts booted and reachable over SSH")


def wait_ssh(booted, timeout=120):
    for h in booted:
        wait_until(f"sshd on {h['machine']} ({h['private_ip']})", lambda h=h: _ssh_ready(h), timeout, 0.5)


def boot(machine, ip, cidr, gateway, bridge, hostname, base, pubkey, hosts_dir, nameserver=None):
    """Boots one systemd-nspawn host from an overlay over base, at ip on bridge, resolving
    through nameserver (the region's CoreDNS, as an instance uses its VPC's resolver);
    returns {pid, dir, merged}. The caller waits for SSH (wait_ssh)."""
    d = os.path.join(hosts_dir, machine)
    upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
    for x in (upper, work, merged):
        os.makedirs(x, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={upper},workdir={work}", merged])
    prefix = ipaddress.ip_network(cidr).prefixlen
    _write(merged, "/etc/hostname", hostname + "\n")
    _write(merged, "/etc/hosts", _hosts_file(hostname))
    if nameserver:
        _write(merged, "/etc/resolv.conf", f"# Written by sandbox/sandbox: the region's resolver (CoreDNS).\n"
               f"nameserver {nameserver}\noptions timeout:1 attempts:2\n")
    _write(merged, "/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    _write(merged, "/root/.ssh/authorized_keys", pubkey, 0o600)
    os.chmod(os.path.join(merged, "root", ".ssh"), 0o700)
    # Sorts before systemd's 80-container-host0.network, which would otherwise win.
    _write(merged, "/etc/systemd/network/10-host0.network",
           f"[Match]\nName=host0\n\n[Network]\nAddress={ip}/{prefix}\nGateway={gateway}\n"
           "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    pid = _nspawn(machine, merged, bridge, d)
    log(f"booting {machine} at {ip} on {bridge} (nspawn pid {pid})")
    return {"machine": machine, "private_ip": ip, "pid": pid, "dir": d, "merged": merged}


def _nspawn(machine, merged, bridge, d):
    return spawn(["systemd-nspawn", "-D", merged, "--register=no", "--keep-unit", "-b",
                  f"--network-bridge={bridge}", f"--machine={machine}",
                  "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only"],
                 os.path.join(d, "console.log"))


def power_off(h):
    """Powers the host off as a lost region would (systemd-nspawn's SIGTERM: an orderly
    poweroff); its overlay stays, so power_on boots the same disk again."""
    stop_pid(h["pid"], f"host {h['machine']}", grace=30)


def power_on(h):
    """Boots a powered-off host again from its overlay; the caller waits for SSH."""
    if alive(h["pid"]):
        raise SandboxError(f"{h['machine']} is still running (pid {h['pid']})")
    h["pid"] = _nspawn(h["machine"], h["merged"], world.region(h["region"])["bridge"], h["dir"])
    log(f"booting {h['machine']} again from its overlay (nspawn pid {h['pid']})")
    return h


def _ssh_ready(h):
    if not alive(h["pid"]):
        with open(os.path.join(h["dir"], "console.log"), errors="replace") as f:
            tail = f.read()[-1500:]
        raise SandboxError(f"{h['machine']}: systemd-nspawn exited during boot; console:\n{tail}")
    tcp_open(h["private_ip"], 22)
    return ssh(h, "true", check=False, timeout=10).returncode == 0


def ssh_opts(h):
    key = h.get("ssh_key", SSH_KEY)
    return ["-i", key] + SSH_OPTS[2:]


def ssh(h, command, check=True, timeout=60, input=None):
    return run(["ssh", *ssh_opts(h), f"root@{h['private_ip']}", command], check=check, timeout=timeout, input=input)


def _mounts_under(prefix):
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mp = line.split()[1].replace("\\040", " ")
            if mp.startswith(prefix + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def down(state, hosts_dir=HOSTS_DIR):
    # SIGTERM makes systemd-nspawn power the container off in order.
    for h in (state or {}).get("hosts", []):
        stop_pid(h.get("pid"), f"host {h['machine']}", grace=30)
    for mp in _mounts_under(hosts_dir):
        if run(["umount", mp], check=False).returncode != 0:
            run(["umount", "-l", mp], check=False)
    if os.path.isdir(hosts_dir):
        shutil.rmtree(hosts_dir, ignore_errors=True)
