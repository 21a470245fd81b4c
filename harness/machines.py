"""The machines of every test world: systemd-nspawn hosts booted from an overlay over a shared
Debian 12 root, at a given address on a bridge, with cloud-init's NoCloud seed as their instance
data (docs/sandbox.md, "Hosts"). The sandbox boots one per ASG instance, a lab N on its bridge;
harness.host.Host then reaches, probes and powers each."""
import ipaddress
import os
import re
import shutil
import uuid

from . import hostkeys
from .host import Host, nspawn
from .util import REPO, HarnessError, log, run, tcp_open, wait_until

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


def ssh_key(path):
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


def console_file(h):
    """The host's console as the hypervisor has it (a lab's: there is no EC2 to ask)."""
    try:
        with open(os.path.join(h["dir"], "console.log"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def learn_host_keys(booted, read_console, timeout=120):
    """Waits until each host's console shows cloud-init's host key block, then writes those keys
    as the host's entry in its known_hosts file (h["known_hosts"]): what the harness's ssh then
    verifies the host against. Called whenever a host boots. read_console(h): the host's console
    (as EC2's GetConsoleOutput gives it in the sandbox, console_file in a lab)."""
    for h in booted:
        last = {}

        def keys(h=h, last=last):
            if not Host(h).running():
                raise HarnessError(f"{h['machine']}: systemd-nspawn exited during boot; console:\n{console_file(h)[-1500:]}")
            try:
                return hostkeys.parse(read_console(h))
            except hostkeys.HostKeyError as e:
                last["problem"] = str(e)
                return None
        try:
            found = wait_until(f"{h['machine']}'s console to show its SSH host keys", keys, timeout, 0.5)
        except HarnessError as e:
            raise HarnessError(f"{e}; the console's last reading: {last.get('problem')}") from None
        hostkeys.write_known_hosts(h["known_hosts"], {h["private_ip"]: found})


def wait_ssh(booted, read_console, timeout=120):
    learn_host_keys(booted, read_console, timeout)
    for h in booted:
        wait_until(f"sshd on {h['machine']} ({h['private_ip']})", lambda h=h: _ssh_ready(h), timeout, 0.5)


def _seed(merged, instance_id, hostname, user_data=None):
    """cloud-init's NoCloud seed (what EC2's IMDS gives cloud-init on an instance) and its settings:
    user_data is the instance's user data as EC2 hands it to cloud-init (its launch template's,
    base64-decoded), None for none."""
    if not _INSTANCE_ID.fullmatch(instance_id) and not _HOSTNAME.fullmatch(instance_id):
        raise HarnessError(f"instance id {instance_id!r}: not an EC2 instance id (i-<hex>) nor a lab host name")
    if not _HOSTNAME.fullmatch(hostname):
        raise HarnessError(f"host name {hostname!r}: not a DNS label (lower-case letters, digits, dashes)")
    _write(merged, "/var/lib/cloud/seed/nocloud/meta-data", f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n")
    _write(merged, "/var/lib/cloud/seed/nocloud/user-data",
           user_data if user_data is not None else "#cloud-config\n# Written by the harness: no user data.\n{}\n", 0o600)
    # 99: read after the package's 90_dpkg.cfg (its datasource_list from debconf), so ours wins.
    _write(merged, "/etc/cloud/cloud.cfg.d/99-sandbox.cfg", CLOUD_CFG)


def boot(machine, ip, cidr, gateway, bridge, hostname, base, key, hosts_dir, known_hosts, nameserver=None,
         instance_id=None, consoles=None, image=None, user_data=None, files=None):
    """Boots one systemd-nspawn host from an overlay over base, at ip on bridge, authorising the
    SSH key at key (ssh_key()), resolving through nameserver (the region's CoreDNS, as an instance
    uses its VPC's resolver), as instance_id (cloud-init's; a lab host is its machine name) with its
    console linked into consoles for the ec2-double; returns its record {machine, private_ip, pid,
    dir, merged, console, bridge, ssh_key, known_hosts}. The caller waits for SSH (wait_ssh).

    image: a baked image's layer (the upper directory of a host packer/bake.yml ran on, saved by
    save_image), laid over base as an AMI's volume is the base OS plus what the bake wrote;
    user_data: the instance's user data for cloud-init; files: {path: (content, mode)} the hypervisor
    adds (the emulator's endpoints, which a real instance does not need)."""
    pubkey = ssh_key(key)
    d = os.path.join(hosts_dir, machine)
    upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
    for x in (upper, work, merged):
        os.makedirs(x, exist_ok=True)
    lower = f"{image}:{base}" if image else base
    run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}", merged])
    prefix = ipaddress.ip_network(cidr).prefixlen
    _write(merged, "/etc/hostname", hostname + "\n")
    _write(merged, "/etc/hosts", _hosts_file(hostname))
    if nameserver:
        _write(merged, "/etc/resolv.conf", f"# Written by sandbox/sandbox: the region's resolver (CoreDNS).\n"
               f"nameserver {nameserver}\noptions timeout:1 attempts:2\n")
    _write(merged, "/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    _seed(merged, instance_id or machine, hostname, user_data)
    for path, (content, mode) in (files or {}).items():
        _write(merged, path, content, mode)
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
    pid = nspawn(machine, merged, bridge, d)
    log(f"booting {machine} at {ip} on {bridge} (nspawn pid {pid})")
    return {"machine": machine, "private_ip": ip, "pid": pid, "dir": d, "merged": merged, "console": console,
            "bridge": bridge, "ssh_key": key, "known_hosts": known_hosts}


def save_image(h, dest):
    """A powered-off host's own layer (what was written on it over the shared root: a bake's work)
    copied to dest as an image for boot(image=): overlayfs's whiteouts and opaque directories are
    kept (cp -a: device nodes, xattrs), so what the bake deleted stays deleted."""
    if Host(h).running():
        raise HarnessError(f"{h['machine']}: power it off before saving its image")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    run(["cp", "-a", os.path.join(h["dir"], "upper"), dest], timeout=600)
    return dest


def _ssh_ready(h):
    host = Host(h)
    if not host.running():
        raise HarnessError(f"{h['machine']}: systemd-nspawn exited during boot; console:\n{console_file(h)[-1500:]}")
    tcp_open(h["private_ip"], 22)
    p = host.run("true", check=False, timeout=10)
    if "Host key verification failed" in p.stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in p.stderr:
        raise HarnessError(f"{h['machine']} ({h['private_ip']}): sshd serves a host key its console did not print "
                           f"({h['known_hosts']}): {p.stderr.strip()[-500:]}")
    return p.returncode == 0


def _mounts_under(prefix):
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mp = line.split()[1].replace("\\040", " ")
            if mp.startswith(prefix + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def down(records, hosts_dir):
    """Powers every host off (systemd-nspawn's SIGTERM: in order), unmounts their overlays under
    hosts_dir and removes it."""
    for h in records:
        if h.get("pid"):
            Host(h).power_off()
    for mp in _mounts_under(hosts_dir):
        if run(["umount", mp], check=False).returncode != 0:
            run(["umount", "-l", mp], check=False)
    if os.path.isdir(hosts_dir):
        shutil.rmtree(hosts_dir, ignore_errors=True)
