#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine:
# Debian packages (Packer among them) and a Python virtualenv with pinned tools.
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

VENV=$ROOT/.venv
stamp=$VENV/.requirements.sha256
# The test harness (harness/, pyproject.toml) goes in editable mode, found from this checkout: the
# stamp covers both files and the checkout's path, so a moved checkout installs it again.
want=$( (sha256sum requirements-dev.txt pyproject.toml; echo "$ROOT") | sha256sum | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "python: creating $VENV from requirements-dev.txt, and the harness (pip install -e .)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
  "$VENV/bin/pip" install -q --disable-pip-version-check -e .
  echo "$want" > "$stamp"
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
