#!/usr/bin/env bash
# Packer templates: canonical formatting, the bake playbook's syntax, full
# `packer validate` with representative values, and proof that every
# validation block rejects a bad value (validate must FAIL and name the
# variable). No AWS call is made: validate only prepares the builders.
#
# CI's Packer is Debian's 1.6.6 (scripts/apt-packages.txt; docs/packer.md says
# why). The constructs it predates (tests/packer/lib.sh names them) are
# asserted here as text, then left out of the copy that 1.6.6 validates; with
# Packer >= 1.9 and its plugins installed, packer/ is validated as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
[[ -d $ROOT/.venv/bin ]] && export PATH=$ROOT/.venv/bin:$PATH
export CHECKPOINT_DISABLE=1

if ! command -v packer >/dev/null; then
  echo "packer not found: run scripts/install-deps.sh (installs Debian's packer from scripts/apt-packages.txt)" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=tests/lib/suite.sh
source tests/lib/suite.sh

# shellcheck source=tests/packer/lib.sh
source tests/packer/lib.sh
modern=false
packer_is_plugin_aware && modern=true
echo "$(packer version | head -n1) (plugin-aware: $modern)"

# --- formatting --------------------------------------------------------------
fmt_args=(-check -diff)
packer fmt -h 2>&1 | grep -q -- '-recursive' && fmt_args+=(-recursive)
if out=$(packer fmt "${fmt_args[@]}" packer/ 2>&1); then
  pass "packer fmt ${fmt_args[*]} packer/"
else
  fail "packer fmt: run 'packer fmt packer/'" "$out"
fi

# --- bake playbook -------------------------------------------------------------
if out=$(ansible-playbook --syntax-check -i localhost, packer/bake.yml 2>&1); then
  pass "ansible-playbook --syntax-check packer/bake.yml"
else
  fail "bake.yml syntax" "$out"
fi
if out=$(yamllint -s packer/bake.yml 2>&1 && ANSIBLE_ROLES_PATH=$ROOT/roles ansible-lint --offline -q packer/bake.yml 2>&1); then
  pass "yamllint and ansible-lint (production profile) on packer/bake.yml"
else
  fail "lint packer/bake.yml" "$out"
fi
if out=$(python3 - packer/bake.yml <<'PY' 2>&1
import sys, yaml
plays = yaml.safe_load(open(sys.argv[1]))
found = {(t["ansible.builtin.include_role"]["name"], t["ansible.builtin.include_role"].get("tasks_from"))
         for p in plays for t in p.get("tasks", []) if "ansible.builtin.include_role" in t}
missing = {("teleport", "install"), ("node_agent", "install"), ("boot_kit", None)} - found
extra = {f for f in found if f[1] != "install" and f != ("boot_kit", None)}
if missing or extra:
    sys.exit(f"bake.yml must include only the install tasks of teleport and node_agent, and the boot kit; missing {sorted(missing, key=str)}, other {sorted(extra, key=str)}")
PY
); then
  pass "bake.yml runs exactly the install tasks of teleport and node_agent, and the boot kit"
else
  fail "bake.yml roles" "$out"
fi

# --- settings only Packer >= 1.9 can check, asserted as text -------------------
# block NAME FILE: the lines inside the two-space-indented block NAME { ... }.
block() { awk -v b="$2" '$0 ~ "^  " b " \\{" {on=1; next} on && /^  \}/ {on=0} on' "$1"; }
has() { grep -Eq "^[[:space:]]*$1[[:space:]]*=[[:space:]]*$2[[:space:]]*(#.*)?\$"; }
tmpl=packer/teleport.pkr.hcl
check_setting() {  # description, text, key, value
  if has "$3" "$4" <<<"$2"; then pass "$1"; else fail "$1: expected $3 = $4 in $tmpl"; fi
}
check_setting "IMDSv2 on the build instance" "$(block "$tmpl" metadata_options)" http_tokens '"required"'
check_setting "IMDSv2 on the AMI" "$(cat "$tmpl")" imds_support '"v2\.0"'
check_setting "encrypted AMI" "$(cat "$tmpl")" encrypt_boot true
check_setting "gp3 root volume" "$(block "$tmpl" launch_block_device_mappings)" volume_type '"gp3"'
check_setting "encrypted root volume" "$(block "$tmpl" launch_block_device_mappings)" encrypted true
for p in amazon ansible; do
  if grep -Eq "source[[:space:]]*=[[:space:]]*\"github.com/hashicorp/$p\"" packer/plugins.pkr.hcl; then
    pass "required_plugins pins $p"
  else
    fail "packer/plugins.pkr.hcl must require github.com/hashicorp/$p"
  fi
done
undocumented=$(awk '/^variable "/ {name=$2; d=0; v=0} /^  description *=/ {d=1} /^  validation \{/ {v=1} /^\}/ && name {if (!d || !v) print name; name=""}' packer/variables.pkr.hcl)
if [[ -z $undocumented ]]; then
  pass "every variable has a description and a validation block"
else
  fail "variables without description or validation: $undocumented"
fi

# --- the tree to validate ------------------------------------------------------
tree=$(packer_tree "$ROOT/packer" "$WORK/packer")
if ! $modern; then
  removed=$(diff "$tmpl" "$tree/teleport.pkr.hcl" | grep -c '^<' || true)
  if [[ $removed -eq 6 ]]; then
    pass "Packer 1.6.6 copy leaves out exactly metadata_options and imds_support"
  else
    fail "Packer 1.6.6 copy removed $removed lines (expected 6): update tests/packer/lib.sh with the template"
  fi
fi

validate() { (cd "$(dirname "$tree")" && packer validate "$@" "$(basename "$tree")" 2>&1); }

# --- representative values must validate --------------------------------------
expect_valid() {
  local name=$1; shift
  if out=$(validate "$@"); then pass "valid: $name"; else fail "valid: $name" "$out"; fi
}
SHA=$(printf '%064d' 0)
expect_valid "defaults (oss, ubuntu-24.04, x86_64, one region)" -var teleport_version=17.4.8 -var teleport_tarball_sha256="$SHA"
expect_valid "enterprise, al2023, arm64, three regions, customer KMS keys" \
  -var teleport_edition=enterprise -var teleport_version=16.5.12 \
  -var base_os=al2023 -var arch=arm64 -var instance_type=c7g.large \
  -var build_region=eu-west-1 -var 'deployment_regions=["eu-west-1","us-east-1","ap-southeast-2"]' \
  -var kms_key_id=alias/teleport-ami \
  -var 'region_kms_key_ids={"us-east-1"="alias/teleport-ami","ap-southeast-2"="alias/teleport-ami"}' \
  -var teleport_tarball_src=https://artifacts.example.com/teleport-ent-v16.5.12-linux-arm64-bin.tar.gz \
  -var teleport_tarball_sha256="$SHA" \
  -var 'bake_extra_vars={"node_agent_jar_src"="/srv/artifacts/node-agent.jar"}' \
  -var build_sha=0123456789abcdef0123456789abcdef01234567 -var 'extra_tags={"CostCenter"="sre"}' \
  -var root_volume_size_gb=32 -var subnet_id=subnet-0123456789abcdef0 \
  -var ssh_interface=private_ip -var 'ssh_source_cidrs=["10.20.0.0/16","203.0.113.10/32"]'
expect_valid "packer/example.pkrvars.hcl" -var-file="$ROOT/packer/example.pkrvars.hcl"

# --- bad values must be rejected, naming the variable --------------------------
expect_invalid() {
  local name=$1 want=$2; shift 2
  if out=$(validate -var teleport_version=17.4.8 -var teleport_tarball_sha256="$SHA" "$@"); then
    fail "rejected: $name (packer validate accepted it)"
  elif grep -q -- "$want" <<<"$out"; then
    pass "rejected: $name"
  else
    fail "rejected: $name (error does not mention '$want')" "$out"
  fi
}
expect_invalid "edition community" "teleport_edition variable" -var teleport_edition=community
expect_invalid "version with leading v" "teleport_version variable" -var teleport_version=v17.4.8
expect_invalid "version 17.4" "teleport_version variable" -var teleport_version=17.4
expect_invalid "empty version" "teleport_version variable" -var teleport_version=
expect_invalid "arch aarch64" "arch variable" -var arch=aarch64
expect_invalid "base_os debian-12" "base_os variable" -var base_os=debian-12
expect_invalid "instance type without family" "instance_type variable" -var instance_type=large
expect_invalid "build region US-EAST-1" "build_region variable" -var build_region=US-EAST-1
expect_invalid "no deployment region" "deployment_regions variable" -var 'deployment_regions=[]'
expect_invalid "deployment region mars-1" "deployment_regions variable" -var 'deployment_regions=["us-east-1","mars-1"]'
expect_invalid "http tarball URL" "teleport_tarball_src variable" -var teleport_tarball_src=http://example.com/t.tar.gz
expect_invalid "short sha256" "teleport_tarball_sha256 variable" -var teleport_tarball_sha256=abc123
expect_invalid "empty sha256" "teleport_tarball_sha256 variable" -var teleport_tarball_sha256=
expect_invalid "bake var outside the roles" "bake_extra_vars keys" -var 'bake_extra_vars={"ansible_user"="root"}'
expect_invalid "KMS key name" "kms_key_id variable" -var kms_key_id=my-key
expect_invalid "empty copy-region KMS key" "region_kms_key_ids variable" -var 'region_kms_key_ids={"eu-west-1"=""}'
expect_invalid "4 GiB root volume" "root_volume_size_gb variable" -var root_volume_size_gb=4
expect_invalid "security group as subnet" "subnet_id variable" -var subnet_id=sg-0123456789abcdef0
expect_invalid "SSH over session manager" "ssh_interface variable" -var ssh_interface=session_manager
expect_invalid "SSH source without prefix" "ssh_source_cidrs variable" -var 'ssh_source_cidrs=["203.0.113.10"]'
expect_invalid "branch name as build_sha" "build_sha variable" -var build_sha=main
expect_invalid "AMI name prefix with a space" "ami_name_prefix variable" -var 'ami_name_prefix=my teleport'
expect_invalid "aws: tag" "extra_tags keys" -var 'extra_tags={"aws:createdBy"="me"}'
declare -A required_values=([teleport_version]=17.4.8 [teleport_tarball_sha256]=$SHA)
for required in "${!required_values[@]}"; do
  others=()
  for v in "${!required_values[@]}"; do [[ $v == "$required" ]] || others+=(-var "$v=${required_values[$v]}"); done
  if out=$(validate "${others[@]}"); then
    fail "rejected: unset $required (packer validate accepted it)"
  elif grep -q "Unset variable \"$required\"" <<<"$out"; then
    pass "rejected: unset $required"
  else
    fail "rejected: unset $required (error does not name it)" "$out"
  fi
done

# --- AMI ids to launch templates: manifest -> SSM parameters (moto server) -----
if out=$(python3 -m pytest -q -p no:cacheprovider tests/packer 2>&1); then
  pass "publish_ami_ids.py: $(tail -n1 <<<"$out")"
else
  fail "publish_ami_ids.py (tests/packer)" "$out"
fi

suite_end packer
