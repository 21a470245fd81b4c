#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine:
# Debian packages (Packer among them) and a Python virtualenv with pinned tools,
# made with Python 3.12 (pyenv or TELEPORT_HA_PYTHON; Debian 12 has only 3.11).
# Safe to re-run: every step is a no-op when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '==> %s\n' "$*" >&2; }

mapfile -t APT_PKGS < <(grep -v -e '^#' -e '^[[:space:]]*$' scripts/apt-packages.txt)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The controller Python: ansible-core (requirements-dev.txt) runs on Python >= 3.12, which
# Debian 12 does not package (its python3 is 3.11). TELEPORT_HA_PYTHON names one; else
# python3.12 on PATH, else the newest pyenv 3.12 (this machine kind has 3.12.1).
PY_MINOR=3.12
PY_SUPPORTED='3.12 3.13 3.14' # ansible-core 2.21's controller Pythons
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
find_python() {
  local c v pyenv
  if [[ -n ${TELEPORT_HA_PYTHON:-} ]]; then
    v=$(py_version "$TELEPORT_HA_PYTHON") || v=
    [[ " $PY_SUPPORTED " == *" $v "* ]] || {
      echo "install-deps.sh: TELEPORT_HA_PYTHON=$TELEPORT_HA_PYTHON is Python ${v:-that does not run}; ansible-core needs one of $PY_SUPPORTED" >&2
      return 1
    }
    "$TELEPORT_HA_PYTHON" -c 'import sys; print(sys.executable)'
    return
  fi
  # A pyenv shim named python3.12 exists even when it cannot run, hence the version check. The interpreter a
  # venv was made from, never the venv's own: with this checkout's .venv/bin on PATH (a bench, a suite run alone),
  # the venv's python3.12 comes first, and naming it would change the stamp and rebuild the venv under the
  # processes running from it.
  mapfile -t pyenv < <(printf '%s\n' "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$PY_MINOR".*/bin/"python$PY_MINOR" | sort -rV)
  for c in "$(command -v "python$PY_MINOR" || true)" "${pyenv[@]}"; do
    [[ -n $c && $(py_version "$c") == "$PY_MINOR" ]] && {
      "$c" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))'
      return
    }
  done
  echo "install-deps.sh: no Python $PY_MINOR found (ansible-core needs >= 3.12 on the controller; Debian 12's python3 is 3.11)." >&2
  echo "  Install it (pyenv install $PY_MINOR, or python$PY_MINOR from your distribution) or set TELEPORT_HA_PYTHON=/path/to/python3.12." >&2
  return 1
}
PYTHON=$(find_python)

VENV=$ROOT/.venv
stamp=$VENV/.requirements.sha256
# The venv is rebuilt from scratch when the requirements, the interpreter or the harness change. The test
# harness (harness/, pyproject.toml) goes in editable mode, found from this checkout: the stamp covers the
# checkout's path too, so a moved checkout installs it again.
want=$( (sha256sum requirements-dev.txt pyproject.toml; echo "$ROOT"; echo "$PYTHON"; "$PYTHON" -VV) | sha256sum | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "python: creating $VENV with $PYTHON ($("$PYTHON" -V)) from requirements-dev.txt, and the harness (pip install -e .)"
  rm -f "$stamp"
  "$PYTHON" -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
  "$VENV/bin/pip" install -q --disable-pip-version-check -e .
  echo "$want" > "$stamp"
fi

# awx.awx for playbooks/awx.yml (docs/awx.md), pinned in collections/awx-requirements.yml: Galaxy is
# unreachable from CI, PyPI is, and the ansible 12.3.0 wheel bundles awx.awx 24.6.1 (the last release).
# Only ansible_collections/awx/awx/ is extracted, into build/collections (git-ignored), and its
# MANIFEST.json must name the pinned version.
AWX_BUNDLE=ansible==12.3.0
AWX_COLLECTIONS=$ROOT/build/collections
awx_pin=$(sed -n 's/^ *version: *"\(.*\)"$/\1/p' collections/awx-requirements.yml)
awx_have=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$AWX_COLLECTIONS/ansible_collections/awx/awx/MANIFEST.json" 2>/dev/null || true)
if [[ $awx_have != "$awx_pin" ]]; then
  WHEELS=${XDG_CACHE_HOME:-$HOME/.cache}/teleport-ha-aws/wheels
  log "awx.awx $awx_pin: from the $AWX_BUNDLE wheel (PyPI) into $AWX_COLLECTIONS"
  mkdir -p "$WHEELS"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "$AWX_BUNDLE" -d "$WHEELS"
  "$VENV/bin/python" - "$WHEELS/ansible-${AWX_BUNDLE#ansible==}-py3-none-any.whl" "$AWX_COLLECTIONS" "$awx_pin" <<'PY'
import json, os, shutil, sys, tempfile, zipfile
wheel, dest, pin = sys.argv[1:]
prefix = "ansible_collections/awx/awx/"
os.makedirs(dest, exist_ok=True)
tmp = tempfile.mkdtemp(dir=dest)
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith(prefix)]
    if not members:
        sys.exit(f"install-deps.sh: {wheel} holds no {prefix}")
    z.extractall(tmp, members)
version = json.load(open(os.path.join(tmp, prefix, "MANIFEST.json")))["collection_info"]["version"]
if version != pin:
    shutil.rmtree(tmp)
    sys.exit(f"install-deps.sh: {wheel} bundles awx.awx {version}, collections/awx-requirements.yml pins {pin}")
target = os.path.join(dest, prefix)
shutil.rmtree(target, ignore_errors=True)
os.makedirs(os.path.dirname(target.rstrip("/")), exist_ok=True)
os.rename(os.path.join(tmp, prefix), target)
shutil.rmtree(tmp)
PY
fi

# Pebble, Let's Encrypt's ACME test server, for tests/suites/57-tls.sh (harness/acme.py):
# built from the Go module proxy into the cache (never into the repository), once per version.
PEBBLE_VERSION=v2.10.3
PEBBLE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/teleport-ha-aws/pebble/$PEBBLE_VERSION
if [[ ! -x $PEBBLE_DIR/pebble ]]; then
  GO=$(command -v go || echo /usr/local/go/bin/go)
  [[ -x $GO ]] || { echo "install-deps.sh: Pebble needs Go >= 1.25 (this machine kind has it at /usr/local/go/bin)" >&2; exit 1; }
  log "pebble: go install github.com/letsencrypt/pebble/v2/cmd/...@$PEBBLE_VERSION into $PEBBLE_DIR"
  mkdir -p "$PEBBLE_DIR"
  GOBIN=$PEBBLE_DIR GOFLAGS=-buildvcs=false CGO_ENABLED=0 nice "$GO" install "github.com/letsencrypt/pebble/v2/cmd/...@$PEBBLE_VERSION"
fi
