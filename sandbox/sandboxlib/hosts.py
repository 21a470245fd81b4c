"""The VMs: one systemd-nspawn container per ASG instance, booted from an
overlay over a shared Debian 12 root, at the private IP moto assigned, with
cloud-init's NoCloud seed as its instance data (docs/sandbox.md, "Hosts")."""
import ipaddress
import os
import re
import shutil
import time
import uuid

from . import hostkeys, world
from .util import REPO, STATE_DIR, SandboxError, alive, log, run, spawn, stop_pid, tcp_open, wait_until

HOSTS_DIR = os.path.join(STATE_DIR, "hosts")
# The hypervisor's side of EC2's console output: <CONSOLES>/<instance id> links to the console
# log of the host that runs the instance (the ec2-double answers GetConsoleOutput from it).
CONSOLES = os.path.join(STATE_DIR, "consoles")
SSH_KEY = os.path.join(STATE_DIR, "ssh", "id_ed25519")
# The hosts' keys as their consoles printed them (learn_host_keys), keyed by private IP.
KNOWN_HOSTS = os.path.join(STATE_DIR, "ssh", "known_hosts")
SSH_OPTS = ["-i", SSH_KEY, "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR"]
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")

# cloud-init as on an EC2 instance, minus what the sandbox's hosts cannot or need not do. The
# modules lists replace cloud.cfg's: kept are the ones user data can use, the host keys and their
# print to the console, and the final message; left out are package installs and apt sources (no
# mirror is reachable), locale and keyboard, NTP, growpart/resizefs/disk_setup/mounts (a
# container has no disk of its own), set-passwords (it may restart sshd), hostname (the sandbox
# writes it), rsyslog, ca-certs, snap, lxd, puppet, chef, salt, landscape, phone-home,
# power-state-change and the hotplug hook.
CLOUD_CFG = """\
# Written by sandbox/sandbox: cloud-init as on an EC2 instance, from the NoCloud seed the sandbox writes.
datasource_list: [ NoCloud, None ]
# The sandbox configures host0 itself (/etc/systemd/network/10-host0.network).
network: {config: disabled}
# The harness logs in as root with its key; no default user. (cloud-init's documentation gives
# `users: []` for that, which 22.4's schema refuses as too short: root, as it is, is the one listed.)
disable_root: false
users: [{name: root, lock_passwd: false}]
preserve_hostname: true
# Every instance its own host keys, made at first boot and printed to the console, as on EC2.
ssh_deletekeys: true
ssh_genkeytypes: [ed25519, ecdsa, rsa]
# cloud-init's defaults, written out: every key type but ssh-dss printed in the KEYS block,
# every fingerprint in the FINGERPRINTS block.
ssh_key_console_blacklist: [ssh-dss]
ssh_fp_console_blacklist: []
cloud_init_modules: [bootcmd, write-files, users-groups, ssh]
cloud_config_modules: [runcmd]
cloud_final_modules: [write-files-deferred, scripts-vendor, scripts-per-once, scripts-per-boot, scripts-per-instance,
                      scripts-user, keys-to-console, final-message]
"""


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


def boot_all(state, instances, base, read_console):
    """Boots a host per instance, then waits for each to print its host keys and answer SSH with
    them. read_console(h): the host's console as EC2's GetConsoleOutput gives it."""
    pubkey = ssh_key()
    state["hosts"] = []
    t0 = time.monotonic()
    for inst in instances:
        r = world.region(inst["region"])
        state["hosts"].append(dict(inst, **boot(
            inst["machine"], inst["private_ip"], r["cidr"], r["gateway"], r["bridge"],
            inst["private_dns"].split(".")[0], base, pubkey, HOSTS_DIR, nameserver=r["gateway"],
            instance_id=inst["instance_id"], consoles=CONSOLES)))
    wait_ssh(state["hosts"], read_console)
    state.setdefault("timings", {})["boot_to_ssh_seconds"] = round(time.monotonic() - t0, 1)
    log(f"{len(state['hosts'])} hosts booted, their host keys read from their consoles, reachable over SSH "
        f"in {time.monotonic() - t0:.1f} s")


def console_file(h):
    """The host's console as the hypervisor has it (for hosts outside the EC2 double: labs)."""
    try:
        with open(os.path.join(h["dir"], "console.log"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def learn_host_keys(booted, read_console, timeout=120):
    """Waits until each host's console shows cloud-init's host key block, then writes those keys
    as the host's entry in its known_hosts file (KNOWN_HOSTS, or h["known_hosts"]): what the
    harness's ssh then verifies the host against. Called whenever a host boots."""
    for h in booted:
        last = {}

        def keys(h=h, last=last):
            if not alive(h["pid"]):
                raise SandboxError(f"{h['machine']}: systemd-nspawn exited during boot; console:\n{console_file(h)[-1500:]}")
            try:
                return hostkeys.parse(read_console(h))
            except hostkeys.HostKeyError as e:
                last["problem"] = str(e)
                return None
        try:
            found = wait_until(f"{h['machine']}'s console to show its SSH host keys", keys, timeout, 0.5)
        except SandboxError as e:
            raise SandboxError(f"{e}; the console's last reading: {last.get('problem')}") from None
        hostkeys.write_known_hosts(h.get("known_hosts", KNOWN_HOSTS), {h["private_ip"]: found})


def wait_ssh(booted, read_console, timeout=120):
    learn_host_keys(booted, read_console, timeout)
    for h in booted:
        wait_until(f"sshd on {h['machine']} ({h['private_ip']})", lambda h=h: _ssh_ready(h), timeout, 0.5)


def _seed(merged, instance_id, hostname):
    """cloud-init's NoCloud seed (what EC2's IMDS gives cloud-init on an instance) and its settings."""
    if not _INSTANCE_ID.fullmatch(instance_id) and not _HOSTNAME.fullmatch(instance_id):
        raise SandboxError(f"instance id {instance_id!r}: not an EC2 instance id (i-<hex>) nor a lab host name")
    if not _HOSTNAME.fullmatch(hostname):
        raise SandboxError(f"host name {hostname!r}: not a DNS label (lower-case letters, digits, dashes)")
    _write(merged, "/var/lib/cloud/seed/nocloud/meta-data", f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n")
    _write(merged, "/var/lib/cloud/seed/nocloud/user-data",
           "#cloud-config\n# Written by sandbox/sandbox: the launch templates give no user data.\n{}\n")
    # 99: read after the package's 90_dpkg.cfg (its datasource_list from debconf), so ours wins.
    _write(merged, "/etc/cloud/cloud.cfg.d/99-sandbox.cfg", CLOUD_CFG)


def boot(machine, ip, cidr, gateway, bridge, hostname, base, pubkey, hosts_dir, nameserver=None, instance_id=None,
         consoles=None):
    """Boots one systemd-nspawn host from an overlay over base, at ip on bridge, resolving
    through nameserver (the region's CoreDNS, as an instance uses its VPC's resolver), as
    instance_id (cloud-init's; a lab host is its machine name) with its console linked into
    consoles for the ec2-double; returns {pid, dir, merged, console}. The caller waits for SSH
    (wait_ssh)."""
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
    _seed(merged, instance_id or machine, hostname)
    _write(merged, "/root/.ssh/authorized_keys", pubkey, 0o600)
    os.chmod(os.path.join(merged, "root", ".ssh"), 0o700)
    # Sorts before systemd's 80-container-host0.network, which would otherwise win.
    _write(merged, "/etc/systemd/network/10-host0.network",
           f"[Match]\nName=host0\n\n[Network]\nAddress={ip}/{prefix}\nGateway={gateway}\n"
           "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    console = os.path.join(d, "console.log")
    if consoles and instance_id:
        os.makedirs(consoles, exist_ok=True)
        link = os.path.join(consoles, instance_id)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(console, link)
    pid = _nspawn(machine, merged, bridge, d)
    log(f"booting {machine} at {ip} on {bridge} (nspawn pid {pid})")
    return {"machine": machine, "private_ip": ip, "pid": pid, "dir": d, "merged": merged, "console": console}


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
        raise SandboxError(f"{h['machine']}: systemd-nspawn exited during boot; console:\n{console_file(h)[-1500:]}")
    tcp_open(h["private_ip"], 22)
    p = ssh(h, "true", check=False, timeout=10)
    if "Host key verification failed" in p.stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in p.stderr:
        raise SandboxError(f"{h['machine']} ({h['private_ip']}): sshd serves a host key its console did not print "
                           f"({h.get('known_hosts', KNOWN_HOSTS)}): {p.stderr.strip()[-500:]}")
    return p.returncode == 0


def ssh_opts(h):
    """The harness's ssh options for h: its key, and only the host keys its console printed."""
    return ["-i", h.get("ssh_key", SSH_KEY), "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={h.get('known_hosts', KNOWN_HOSTS)}"] + SSH_OPTS[6:]


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
