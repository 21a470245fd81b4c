#!/usr/bin/env bash
# Builds (once) the Debian 12 root shared read-only by every sandbox host and
# prints its path. The cache key is the package list, so editing
# rootfs-packages.txt builds a new root; an unchanged list reuses the old one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SANDBOX_ROOTFS_CACHE:-/var/cache/teleport-ha-sandbox}
suite=bookworm
mapfile -t pkgs < <(grep -v -e '^#' -e '^[[:space:]]*$' "$here/rootfs-packages.txt")
key=$( (echo "$suite"; printf '%s\n' "${pkgs[@]}"; cat "$here/build-rootfs.sh") | sha256sum | cut -c1-16)
root=$cache/rootfs-$key
if [[ -f $root/.complete ]]; then echo "$root"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9   # two sandboxes starting at once build the root only once
if [[ -f $root/.complete ]]; then echo "$root"; exit 0; fi
rm -rf "$root.tmp"
include=$(IFS=,; echo "${pkgs[*]}")
echo "sandbox: building Debian $suite root in $root (once, ~2 min)" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$root.tmp" >"$cache/debootstrap-$key.log" 2>&1 || {
  echo "sandbox: debootstrap failed, see $cache/debootstrap-$key.log" >&2; exit 1; }
chroot "$root.tmp" systemctl enable systemd-networkd.service >/dev/null 2>&1
# No console getty inside a container; host keys are generated per host at first boot.
chroot "$root.tmp" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
rm -f "$root.tmp"/etc/ssh/ssh_host_*
chroot "$root.tmp" systemctl enable ssh.service >/dev/null 2>&1
mkdir -p "$root.tmp/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > "$root.tmp/etc/systemd/system/ssh.service.d/10-hostkeys.conf"
chroot "$root.tmp" apt-get clean
touch "$root.tmp/.complete"
mv "$root.tmp" "$root"
echo "$root"
