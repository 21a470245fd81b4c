#!/usr/bin/env bash
# The bake playbook on a real systemd host: one systemd-nspawn container booted
# from the sandbox's Debian 12 root (sandbox/build-rootfs.sh), provisioned with
# packer/bake.yml and the exact extra vars the Packer template computes
# (local.bake_vars), using the Teleport test double's release tarball and the
# node-agent jar. It then checks what an image must hold (binaries, JRE, jar,
# users, unit files) and must not (configuration, enabled or running
# services), that a second run changes nothing, and that site.yml's install
# tasks find nothing left to install on the baked host.
#
# Needs root, systemd-nspawn, debootstrap and Go (the double), and the jar from
# the maven suite. Addresses: 198.18.250.0/24 on a bridge this script makes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
[[ -d $ROOT/.venv/bin ]] && export PATH=$ROOT/.venv/bin:$PATH
export CHECKPOINT_DISABLE=1
# shellcheck source=tests/packer/lib.sh
source tests/packer/lib.sh

JAR=$ROOT/node-agent/target/node-agent.jar
[[ $EUID -eq 0 ]] || { echo "45-packer-bake: needs root for systemd-nspawn" >&2; exit 1; }
[[ -f $JAR ]] || { echo "45-packer-bake: $JAR missing: run 'mvn -B -ntp -DskipTests package' (make test builds it first)" >&2; exit 1; }

BRIDGE=pkbake0 GATEWAY=198.18.250.1 HOST_IP=198.18.250.10
WORK=$(mktemp -d /var/tmp/packer-bake.XXXXXX)
MERGED=$WORK/merged
NSPAWN_PID=

# Polls "$@" every 0.2 s until it succeeds or $1 seconds pass.
poll() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.2; done
}
alive() { [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; }
not_alive() { ! alive; }
cleanup() {
  if alive; then
    kill -TERM "$NSPAWN_PID"   # systemd-nspawn powers the container off in order
    poll 30 not_alive || kill -KILL "$NSPAWN_PID"
  fi
  if mountpoint -q "$MERGED"; then umount "$MERGED" || umount -l "$MERGED"; fi
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; [[ -z ${2:-} ]] || sed 's/^/     /' <<<"$2"; }

# --- inputs: the double's tarball, and the extra vars Packer would pass --------
DOUBLE_DIR=$(bash tests/teleport-double/build.sh | tail -n1)
VERSION=$(cat "$DOUBLE_DIR/VERSION")
TARBALL=$DOUBLE_DIR/teleport-v$VERSION-linux-amd64-bin.tar.gz
SHA=$(cut -d' ' -f1 "$TARBALL.sha256")
tree=$(packer_tree "$ROOT/packer" "$WORK/packer")
bake_vars=$(echo 'jsonencode(local.bake_vars)' | packer console \
  -var teleport_version="$VERSION" -var teleport_tarball_sha256="$SHA" -var teleport_tarball_src="$TARBALL" \
  -var "bake_extra_vars={\"node_agent_jar_src\"=\"$JAR\"}" "$tree")
echo "bake vars from the template: $bake_vars"

# --- one host from the sandbox root ---------------------------------------------
base=$(bash sandbox/build-rootfs.sh | tail -n1)
ip link del "$BRIDGE" 2>/dev/null || true
ip link add "$BRIDGE" type bridge
ip addr add "$GATEWAY/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
mkdir -p "$WORK"/{upper,work,merged,ssh}
mount -t overlay overlay -o "lowerdir=$base,upperdir=$WORK/upper,workdir=$WORK/work" "$MERGED"
ssh-keygen -q -t ed25519 -N '' -C packer-bake-test -f "$WORK/ssh/id"
install -d -m 0700 "$MERGED/root/.ssh"
install -m 0600 "$WORK/ssh/id.pub" "$MERGED/root/.ssh/authorized_keys"
echo packer-bake >"$MERGED/etc/hostname"
printf '127.0.0.1 localhost\n%s packer-bake\n' "$HOST_IP" >"$MERGED/etc/hosts"
rm -f "$MERGED/etc/machine-id"
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$MERGED/etc/machine-id"
echo >>"$MERGED/etc/machine-id"
# Sorts before systemd's 80-container-host0.network, which would otherwise win.
printf '[Match]\nName=host0\n\n[Network]\nAddress=%s/24\nGateway=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
  "$HOST_IP" "$GATEWAY" >"$MERGED/etc/systemd/network/10-host0.network"
setsid systemd-nspawn -D "$MERGED" --register=no --keep-unit -b --network-bridge="$BRIDGE" \
  --machine="packer-bake-$$" --resolv-conf=off --timezone=off --link-journal=no --console=read-only \
  </dev/null >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!

SSH=(ssh -i "$WORK/ssh/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
  -o ConnectTimeout=3 -o LogLevel=ERROR "root@$HOST_IP")
on_host() { "${SSH[@]}" "$@"; }
ssh_ready() { alive && on_host true 2>/dev/null; }
if ! poll 120 ssh_ready; then
  echo "45-packer-bake: host did not answer SSH within 120 s; console:" >&2
  tail -n 40 "$WORK/console.log" >&2
  exit 1
fi
pass "sandbox host booted (systemd, sshd) at $HOST_IP"

# --- the bake, twice ------------------------------------------------------------
bake() {
  ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_ROLES_PATH=$ROOT/roles ansible-playbook \
    -i "$HOST_IP," -u root --private-key "$WORK/ssh/id" \
    --ssh-common-args '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' \
    --extra-vars "$bake_vars" packer/bake.yml
}
recap() { grep -E "^$HOST_IP +:" <<<"$1" | tail -n1; }
start=$SECONDS
if out=$(bake 2>&1); then
  pass "first bake ($((SECONDS - start)) s): $(recap "$out" | tr -s ' ')"
else
  fail "first bake" "$(tail -n 40 <<<"$out")"
fi
start=$SECONDS
if out=$(bake 2>&1) && recap "$out" | grep -q 'changed=0 .*failed=0'; then
  pass "second bake changes nothing ($((SECONDS - start)) s)"
else
  fail "second bake must report changed=0" "$(grep -E 'changed:|FAILED|fatal' <<<"$out" | head -n 20; recap "$out")"
fi

# --- site.yml on the baked host installs nothing new ------------------------------
# The baked host as an auth instance; site.yml with the same release settings
# (in production: the inventory's group_vars), limited to the roles' install
# tasks, since configuring needs the whole sandbox world.
cat >"$WORK/inventory.yml" <<EOF
all:
  children:
    teleport:
      children:
        teleport_auth:
          hosts:
            baked-auth:
              ansible_host: $HOST_IP
              teleport_role: auth
EOF
start=$SECONDS
if out=$(ANSIBLE_CONFIG=$ROOT/ansible.cfg ANSIBLE_HOST_KEY_CHECKING=False ansible-playbook \
    -i "$WORK/inventory.yml" -u root --private-key "$WORK/ssh/id" \
    --ssh-common-args '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' \
    --tags teleport_install,node_agent_install --extra-vars "$bake_vars" playbooks/site.yml 2>&1) \
  && grep -q 'TASK \[teleport : Install the systemd unit\]' <<<"$out" \
  && grep -q 'TASK \[node_agent : Copy the node-agent jar\]' <<<"$out" \
  && grep -Eq '^baked-auth +:.* changed=0 .*failed=0' <<<"$out"; then
  pass "site.yml (install tags) on the baked host changes nothing ($((SECONDS - start)) s)"
else
  fail "site.yml must find everything installed on the baked host" \
    "$(grep -E 'changed:|FAILED|fatal|ERROR' <<<"$out" | head -n 20; grep -E '^baked-auth +:' <<<"$out")"
fi

# --- what the image holds -------------------------------------------------------
check() {  # description, remote shell command that must succeed
  local out
  if out=$(on_host "$2" 2>&1); then pass "$1"; else fail "$1" "$out"; fi
}
check "teleport binary is the baked release" "/usr/local/bin/teleport version | grep -F 'Teleport v$VERSION'"
for b in tctl tsh tbot; do check "$b installed" "test -x /usr/local/bin/$b"; done
check "JRE installed" "java -version 2>&1 | grep -q 'version \"17'"
check "node-agent jar installed, same bytes" "test \"\$(sha256sum /opt/node-agent/node-agent.jar | cut -d' ' -f1)\" = $(sha256sum "$JAR" | cut -d' ' -f1)"
check "system users teleport and node-agent exist" "id teleport && id node-agent"
for unit in teleport node-agent; do
  check "$unit.service installed" "systemctl cat $unit.service >/dev/null"
  check "$unit.service not enabled" "! systemctl is-enabled --quiet $unit.service"
  check "$unit.service not running" "! systemctl is-active --quiet $unit.service"
done
check "no Teleport configuration baked" "test ! -e /etc/teleport.yaml"
check "no node-agent configuration baked" "test ! -e /etc/node-agent/node-agent.yaml"

echo "packer-bake: $passed passed, $failed failed"
((failed == 0))
