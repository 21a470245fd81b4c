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
# An interrupted debootstrap leaves proc/sys mounted inside its target: unmount
# those (mount points under $root.tmp only) before deleting it.
umount_under() {
  awk -v p="$1/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}
cleanup() { umount_under "$root.tmp"; rm -rf "$root.tmp"; }
cleanup
trap 'cleanup' ERR INT TERM
echo "sandbox: building Debian $suite root in $root (once, ~4 min)" >&2
# debootstrap gets a bootable minimal system; apt inside the new root then adds
# the rest (debootstrap's own resolver fails on some packages' dependencies).
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates "$suite" "$root.tmp" \
  >"$cache/debootstrap-$key.log" 2>&1 || {
  cp "$root.tmp/debootstrap/debootstrap.log" "$cache/debootstrap-$key.detail.log" 2>/dev/null || true
  echo "sandbox: debootstrap failed, see $cache/debootstrap-$key.log" >&2; exit 1; }
mount -t proc proc "$root.tmp/proc"
DEBIAN_FRONTEND=noninteractive chroot "$root.tmp" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
  --no-install-recommends "${pkgs[@]}" >>"$cache/debootstrap-$key.log" 2>&1 || {
  echo "sandbox: installing ${pkgs[*]} into the root failed, see $cache/debootstrap-$key.log" >&2; exit 1; }
umount "$root.tmp/proc"
chroot "$root.tmp" systemctl enable systemd-networkd.service >/dev/null 2>&1
# No console getty inside a container. No host keys in the root: cloud-init makes each host's
# own at its first boot (ssh_deletekeys, ssh_genkeytypes in its NoCloud settings, written per host
# by sandboxlib/hosts.py) and prints them to the console; sshd starts after it (cloud-init.service
# is Before=sshd.service) and serves exactly those.
chroot "$root.tmp" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
rm -f "$root.tmp"/etc/ssh/ssh_host_*
chroot "$root.tmp" systemctl enable ssh.service >/dev/null 2>&1
chroot "$root.tmp" apt-get clean
umount_under "$root.tmp"
touch "$root.tmp/.complete"
mv "$root.tmp" "$root"
trap - ERR INT TERM
echo "$root"
