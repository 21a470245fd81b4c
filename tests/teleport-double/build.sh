#!/usr/bin/env bash
# Builds the Teleport TEST DOUBLE (teleport, tctl, tsh, tbot) as static binaries
# and packs them like Teleport's release tarballs, each with a .sha256 file:
#   build/teleport-double/teleport-v<version>-linux-amd64-bin.tar.gz      (teleport/...)
#   build/teleport-double/teleport-ent-v<version>-linux-amd64-bin.tar.gz  (teleport-ent/...)
# Usage: tests/teleport-double/build.sh [VERSION]   (default: $TELEPORT_DOUBLE_VERSION or 17.7.1)
# Prints the output directory. Rebuilds only when a source file changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${1:-${TELEPORT_DOUBLE_VERSION:-17.7.1}}
out=$root/build/teleport-double
mkdir -p "$out"

src_sum=$( (cd "$here" && find . -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh | sort | xargs sha256sum; echo "$version") | sha256sum | cut -d' ' -f1)
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$src_sum" ]]; then
  echo "$out"; exit 0
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS="-trimpath -buildvcs=false"
(
  cd "$here"
  nice go build -ldflags "-s -w -X main.version=$version" -o "$bin/teleport" ./cmd/teleport
  for tool in tctl tsh tbot; do
    nice go build -ldflags "-s -w -X main.name=$tool -X main.version=$version" -o "$bin/$tool" ./cmd/stub
  done
)

pack() { # dir-name tarball
  local stage; stage=$(mktemp -d)
  mkdir -p "$stage/$1"
  cp "$bin"/{teleport,tctl,tsh,tbot} "$stage/$1/"
  printf 'Teleport TEST DOUBLE v%s: not Teleport. Built by tests/teleport-double/build.sh for the sandbox and CI.\n' "$version" > "$stage/$1/README-TEST-DOUBLE"
  # Fixed owner and mtime so the same sources give the same tarball bytes.
  tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00Z' --sort=name -czf "$out/$2" "$1"
  (cd "$out" && sha256sum "$2" > "$2.sha256")
  rm -rf "$stage"
}
rm -f "$out"/teleport-*.tar.gz "$out"/teleport-*.sha256
pack teleport "teleport-v$version-linux-amd64-bin.tar.gz"
pack teleport-ent "teleport-ent-v$version-linux-amd64-bin.tar.gz"
echo "$version" > "$out/VERSION"
echo "$src_sum" > "$out/.stamp"
echo "$out"
