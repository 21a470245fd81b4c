# shellcheck shell=bash
# Shared by the Packer suites (source it). CI's Packer is Debian's 1.6.6 (see
# docs/packer.md); it predates three things the templates use for Packer >= 1.9:
# the required_plugins block (plugins.pkr.hcl), and the amazon plugin's
# metadata_options and imds_support. 40-packer.sh asserts those as text.

# packer_is_plugin_aware: true when the installed Packer is >= 1.9.
packer_is_plugin_aware() {
  local v
  v=$(packer version | sed -n 's/^Packer v\([0-9.]*\).*/\1/p' | head -n1)
  [[ $(printf '%s\n' 1.9.0 "$v" | sort -V | head -n1) == 1.9.0 ]]
}

# packer_tree SRC OUT: prints the directory to hand to packer: SRC itself for
# Packer >= 1.9, else a copy in OUT without the three constructs above.
packer_tree() {
  local src=$1 out=$2 f
  if packer_is_plugin_aware; then echo "$src"; return; fi
  mkdir -p "$out"
  cp "$src/bake.yml" "$out/"
  for f in "$src"/*.pkr.hcl; do
    [[ $(basename "$f") == plugins.pkr.hcl ]] && continue
    awk '/^  metadata_options \{/ {skip=1} skip {if ($0 ~ /^  \}/) skip=0; next} /^  imds_support[[:space:]]*=/ {next} {print}' \
      "$f" >"$out/$(basename "$f")"
  done
  echo "$out"
}

# boot_kit_wheelhouse DIR: the wheels of the boot kit's venv at roles/boot_kit's pins (pip itself among
# them, which installs the others), downloaded here from the package registry for hosts that reach none.
# They are for the controller's Python (3.12, the venv's), which is the one the bake host's kit must run:
# boot_kit_python_interpreter copies it there.
boot_kit_wheelhouse() {
  local dir=$1 core boto crypto
  core=$(sed -n 's/^boot_kit_ansible_core_version: "\(.*\)"$/\1/p' roles/boot_kit/defaults/main.yml)
  boto=$(sed -n 's/^boot_kit_boto3_version: "\(.*\)"$/\1/p' roles/boot_kit/defaults/main.yml)
  crypto=$(sed -n 's/^boot_kit_cryptography_version: "\(.*\)"$/\1/p' roles/boot_kit/defaults/main.yml)
  python -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$dir" \
    pip "ansible-core==$core" "boto3==$boto" "botocore==$boto" "cryptography==$crypto"
}

# boot_kit_python_interpreter: the interpreter the controller's venv is made with (scripts/install-deps.sh: a
# Python 3.12 build of its own prefix, pyenv's on the build machines), as prefix and executable. The sandbox's
# Debian 12 root has only Python 3.11, on which the kit's ansible-core cannot run its controller (docs/boot.md,
# "The kit's Python"); the bake suite copies this prefix to the same path on its host, where the
# interpreter's rpath finds its libpython. A distribution's own Python (prefix /usr) is not copied so.
boot_kit_python_interpreter() {
  python - <<'PY'
import sys
prefix = sys.base_prefix
if prefix in ("/usr", "/usr/local", "/"):
    sys.exit(f"the controller's Python is the system's ({prefix}): name a self-contained 3.12 build "
             "(pyenv install 3.12; TELEPORT_HA_PYTHON, scripts/install-deps.sh) for the bake host")
print(prefix, f"{prefix}/bin/python{sys.version_info[0]}.{sys.version_info[1]}")
PY
}
