#!/usr/bin/env bash
# The Teleport test double: unit tests of its strict teleport.yaml parser and
# its listeners, then the release-style tarballs the sandbox installs.
set -euo pipefail
cd "$(dirname "$0")/../teleport-double"
nice go vet ./...
nice go test -count=1 ./...
out=$(./build.sh)
version=$(cat "$out/VERSION")
for t in "teleport-v$version-linux-amd64-bin.tar.gz" "teleport-ent-v$version-linux-amd64-bin.tar.gz"; do
  (cd "$out" && sha256sum -c --quiet "$t.sha256")
  top=${t%%-v*}
  listing=$(tar -tzf "$out/$t")
  grep -qx "$top/teleport" <<<"$listing" || { echo "$t lacks $top/teleport" >&2; exit 1; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$out/teleport-v$version-linux-amd64-bin.tar.gz"
grep -q "Teleport v$version git:test-double .*(TEST DOUBLE)" <<<"$("$tmp/teleport/teleport" version)"
for tool in tctl tsh tbot; do grep -q "(TEST DOUBLE)" <<<"$("$tmp/teleport/$tool" version)"; done
printf 'version: v3\nproxy_service:\n  peer_public_adr: x:3021\n' > "$tmp/bad.yaml"
if "$tmp/teleport/teleport" configure --test "$tmp/bad.yaml" 2>"$tmp/err"; then
  echo "configure --test accepted an unknown key" >&2; exit 1
fi
grep -q 'proxy_service.peer_public_adr' "$tmp/err"
echo "teleport double v$version: tests pass, tarballs in $out"
