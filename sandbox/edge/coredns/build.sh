#!/usr/bin/env bash
# Builds CoreDNS v1.15.0 with only the plugins the edge DNS uses (main.go says which and
# why) from the Go module proxy, into build/coredns/coredns. Debian 12 has no CoreDNS.
#
#   sandbox/edge/coredns/build.sh          # prints the binary's path
#
# The build is cached by a hash of its inputs (this script, main.go, go.mod.in, go.sum.in
# and the Go version) in ~/.cache/teleport-ha-aws/coredns/<hash>/, so a fresh clone on the
# same machine (CI) reuses it: ~3 minutes the first time with downloads, then a copy.
# go.sum.in pins every module's hash; GOFLAGS=-mod=readonly refuses a build that would
# need anything else. Nothing fetched or built is ever committed: build/ is ignored.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=$ROOT/build/coredns
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi
command -v go >/dev/null || { echo "build.sh: go not found on PATH (this machine kind has it at /usr/local/go/bin)" >&2; exit 1; }

hash=$( (cat "$HERE/build.sh" "$HERE/main.go" "$HERE/go.mod.in" "$HERE/go.sum.in"; go version) | sha256sum | cut -c1-16)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/teleport-ha-aws/coredns/$hash
mkdir -p "$OUT"
if [[ -x $CACHE/coredns && -x $OUT/coredns && $(cat "$OUT/inputs.sha256" 2>/dev/null) == "$hash" ]]; then
  echo "$OUT/coredns"; exit 0
fi
if [[ ! -x $CACHE/coredns ]]; then
  src=$OUT/src
  rm -rf "$src"; mkdir -p "$src"
  cp "$HERE/main.go" "$src/main.go"
  cp "$HERE/go.mod.in" "$src/go.mod"
  cp "$HERE/go.sum.in" "$src/go.sum"
  echo "build.sh: building CoreDNS (first time on this machine: about 3 minutes)" >&2
  (cd "$src" && GOFLAGS=-mod=mod nice go mod download && GOFLAGS=-mod=readonly CGO_ENABLED=0 nice go build -trimpath -o "$src/coredns" .)
  "$src/coredns" -plugins | grep -qx 'route53' || { echo "build.sh: the built CoreDNS lacks the route53 plugin" >&2; exit 1; }
  mkdir -p "$CACHE"
  mv "$src/coredns" "$CACHE/coredns.tmp" && mv "$CACHE/coredns.tmp" "$CACHE/coredns"
  rm -rf "$src"
fi
cp "$CACHE/coredns" "$OUT/coredns.tmp" && mv "$OUT/coredns.tmp" "$OUT/coredns"
echo "$hash" > "$OUT/inputs.sha256"
echo "$OUT/coredns"
