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
# the maven suite. Addresses: 198.18.250.0/24 on a bridge the lab makes (sandbox/sandbox lab).
#
# Then the image (the bake host's own layer) is launched as an Auto Scaling group's instance: cloud-init runs
# the launch template's user data, teleport-ha-boot configures the instance and completes the launch hook, and
# site.yml finds nothing to change on it; users through the proxy NLB see no failure while the proxy group
# scales out, loses a serving proxy and scales in (tests/boot/launch_image.py).
# lane: labs
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

WORK=$(mktemp -d /var/tmp/packer-bake.XXXXXX)
LAB=pkbake
cleanup() {
  sandbox/sandbox lab down "$LAB" >/dev/null 2>&1 || true
  # A launched instance's machine and overlay, should the launch script have been killed before its own clean-up.
  pkill -f "^systemd-nspawn -D $WORK/" 2>/dev/null || true
  findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=tests/lib/suite.sh
source tests/lib/suite.sh

# --- inputs: the double's tarball, and the extra vars Packer would pass --------
DOUBLE_DIR=$(bash tests/teleport-double/build.sh | tail -n1)
VERSION=$(cat "$DOUBLE_DIR/VERSION")
TARBALL=$DOUBLE_DIR/teleport-v$VERSION-linux-amd64-bin.tar.gz
SHA=$(cut -d' ' -f1 "$TARBALL.sha256")
INVENTORY_JAR=$ROOT/inventory-service/target/inventory-service.jar
[[ -f $INVENTORY_JAR ]] || { echo "45-packer-bake: $INVENTORY_JAR missing: run 'mvn -B -ntp -DskipTests package'" >&2; exit 1; }
# The boot kit's venv from wheels (the sandbox's hosts reach no package index).
boot_kit_wheelhouse "$WORK/wheels" || die "could not download the boot kit's wheels"
tree=$(packer_tree "$ROOT/packer" "$WORK/packer")
bake_vars=$(echo 'jsonencode(local.bake_vars)' | packer console \
  -var teleport_version="$VERSION" -var teleport_tarball_sha256="$SHA" -var teleport_tarball_src="$TARBALL" \
  -var "bake_extra_vars={\"node_agent_jar_src\"=\"$JAR\",\"boot_kit_wheelhouse_src\"=\"$WORK/wheels\",\"boot_kit_inventory_service_jar_src\"=\"$INVENTORY_JAR\"}" "$tree")
echo "bake vars from the template: $bake_vars"
# The kit's ansible-core needs Python >= 3.12 to run its controller; the sandbox's root has Debian 12's 3.11 and
# no mirror to install another from, so the host gets the controller's own 3.12, which the wheels are for (copied
# once the host is up). No package installs it: a venv without pip, which a wheelhouse needs, is all it takes. A
# list, which Packer's map(string) cannot carry.
read -r KIT_PY_PREFIX KIT_PY_SRC < <(boot_kit_python_interpreter) || die "no Python 3.12 of its own prefix for the bake host"
# Relocated to a system path: pyenv's prefix is under /root, which the kit's units cannot see (ProtectHome=true),
# so the copy lives where an image's own Python would, with its RUNPATH made relative to the interpreter.
KIT_PY_DIR=/opt/teleport-ha-python${KIT_PY_SRC##*/python}
KIT_PY=$KIT_PY_DIR/bin/${KIT_PY_SRC##*/}
kit_vars=$(jq -cn --arg py "$KIT_PY" '{boot_kit_python_packages: [], boot_kit_python: $py}')

# --- one host from the sandbox root, booted by the sandbox's own code -------------
lab=$(sandbox/sandbox lab up "$LAB" --hosts 1 --cidr 198.18.250.0/24) || die "could not boot the bake host"
HOST_IP=$(jq -r '.hosts[0].ip' <<<"$lab")
KEY=$(jq -r '.ssh_key' <<<"$lab")
SSH=(ssh -i "$KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
  -o ConnectTimeout=3 -o LogLevel=ERROR "root@$HOST_IP")
on_host() { "${SSH[@]}" "$@"; }
pass "sandbox host booted (systemd, sshd) at $HOST_IP"
# The premise: were the root's python3 new enough, the copy would be needless (the bake's default takes python3).
stdlib=lib/python${KIT_PY_SRC##*/python} out=
mkdir -p "$WORK/kit-python"
# shellcheck disable=SC2016 # $ORIGIN is the dynamic loader's, not the shell's
if on_host "python3 -c 'import sys; sys.exit(sys.version_info >= (3, 12))'" \
  && tar -C "$KIT_PY_PREFIX" --exclude="$stdlib/test" --exclude="$stdlib/idlelib" --exclude="$stdlib/config-*" -cf - . \
    | tar -C "$WORK/kit-python" -xf - \
  && patchelf --set-rpath '$ORIGIN/../lib' "$WORK/kit-python/bin/${KIT_PY_SRC##*/}" \
  && tar -C "$WORK/kit-python" -czf - . | on_host "mkdir -p $KIT_PY_DIR && tar -C $KIT_PY_DIR -xzf -" \
  && out=$(on_host "$KIT_PY -c 'import ssl, ctypes, venv; print(ssl.OPENSSL_VERSION)'" 2>&1); then
  pass "the host's python3 is older than 3.12; the controller's Python copied: $KIT_PY ($out)"
else
  fail "copy the controller's Python $KIT_PY_PREFIX to the bake host" "${out:-python3 on the host is 3.12 or later, or the copy failed}"
fi

# --- the bake, twice ------------------------------------------------------------
bake() {
  ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_ROLES_PATH=$ROOT/roles ansible-playbook \
    -i "$HOST_IP," -u root --private-key "$KEY" \
    --ssh-common-args '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' \
    --extra-vars "$bake_vars" --extra-vars "$kit_vars" packer/bake.yml
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
# tasks, since configuring needs the whole sandbox world. The inventory-wide
# validation runs with every --tags selection, so the inventory names its cluster.
cat >"$WORK/inventory.yml" <<EOF
all:
  vars:
    teleport_inventory_cluster: bake.example.com
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
    -i "$WORK/inventory.yml" -u root --private-key "$KEY" \
    --ssh-common-args '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' \
    --tags teleport_install,node_agent_install --extra-vars "$bake_vars" playbooks/site.yml 2>&1) \
  && grep -q 'TASK \[teleport : Link the release binaries into teleport_install_dir and install the systemd unit\]' <<<"$out" \
  && grep -q 'TASK \[jvm_service : Copy the jar\]' <<<"$out" \
  && grep -Eq '^baked-auth +:.* changed=0 .*failed=0' <<<"$out"; then
  pass "site.yml (install tags) on the baked host changes nothing ($((SECONDS - start)) s)"
else
  fail "site.yml must find everything installed on the baked host" \
    "$(grep -E -B3 -A6 "changed:|FAILED|fatal|ERROR" <<<"$out" | head -n 40; grep -E "^baked-auth +:" <<<"$out")"
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

# --- the boot kit (docs/boot.md) ----------------------------------------------------
check "the kit's venv runs the controller's ansible-core" \
  "/opt/teleport-ha/venv/bin/ansible-playbook --version | grep -F 'core $(sed -n 's/^boot_kit_ansible_core_version: "\(.*\)"$/\1/p' roles/boot_kit/defaults/main.yml)]'"
check "the kit's venv has boto3" "/opt/teleport-ha/venv/bin/python3 -c 'import boto3'"
check "the kit's ansible-core starts with nothing on stderr (cryptography pinned)" \
  "test -z \"\$(/opt/teleport-ha/venv/bin/ansible-playbook --version 2>&1 >/dev/null)\""
check "teleport-ha-boot installed" "/opt/teleport-ha/bin/teleport-ha-boot --help | grep -q watch-termination"
check "the collections the controller runs" "test -f /opt/teleport-ha/collections/ansible_collections/community/general/MANIFEST.json"
check "the inventory service's jar, same bytes" "test \"\$(sha256sum /opt/teleport-ha/inventory-service.jar | cut -d' ' -f1)\" = $(sha256sum "$INVENTORY_JAR" | cut -d' ' -f1)"
check "the drain unit enabled, waiting for boot.json" "systemctl is-enabled --quiet teleport-ha-lifecycle.service && ! systemctl is-active --quiet teleport-ha-lifecycle.service"
check "the teleport unit reports a failure past its start limit" "systemctl show -p OnFailure teleport.service | grep -q teleport-ha-unhealthy.service"

# --- an instance launched from the image configures itself (docs/boot.md, "Proven here") ----
start=$SECONDS
if python tests/boot/launch_image.py --lab "$LAB" --work "$WORK/launch"; then
  pass "instances launched from the image configured themselves, site.yml agreed, the auth cut off for 5 minutes replaced nothing, bad publications were ABANDONed, users through the proxy NLB saw no failure through a scale-out, a terminated proxy and a scale-in ($((SECONDS - start)) s)"
else
  fail "launch from the image (tests/boot/launch_image.py, above)"
fi

suite_end packer-bake
