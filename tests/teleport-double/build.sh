#!/usr/bin/env bash
# Builds the Teleport TEST DOUBLE (teleport, tctl, tsh, tbot) as static binaries
# for every version asked for, in both editions from the same source (the
# edition is an ldflag), and packs them like Teleport's release tarballs, each
# with a .sha256 file:
#   build/teleport-double/teleport-v<version>-linux-amd64-bin.tar.gz      (teleport/...,     edition community)
#   build/teleport-double/teleport-ent-v<version>-linux-amd64-bin.tar.gz  (teleport-ent/..., edition ent)
#   build/teleport-double/VERSIONS   every version built, one a line
#   build/teleport-double/VERSION    the default version (the first one)
# Usage: tests/teleport-double/build.sh [VERSION...]
#   (default: $TELEPORT_DOUBLE_VERSIONS or "18.11.1 18.11.2 19.0.0")
# Prints the output directory. Rebuilds only when a source file or the version
# list changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if (($# > 0)); then
  versions=("$@")
else
  read -r -a versions <<<"${TELEPORT_DOUBLE_VERSIONS:-18.11.1 18.11.2 19.0.0}"
fi
for v in "${versions[@]}"; do
  if [[ ! $v =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
    echo "build.sh: '$v' is not a Teleport version (expected MAJOR.MINOR.PATCH, e.g. 18.11.1)" >&2
    exit 2
  fi
done
out=$root/build/teleport-double
mkdir -p "$out"

src_sum=$( (cd "$here" && find . -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh | sort | xargs sha256sum; echo "${versions[*]}") | sha256sum | cut -d' ' -f1)
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$src_sum" ]]; then
  echo "$out"; exit 0
fi

bin=$(mktemp -d)
stage=$(mktemp -d)
trap 'rm -rf "$bin" "$stage"' EXIT
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS="-trimpath -buildvcs=false"
pkg=teleportha.ops/teleport-double/internal/build

rm -f "$out"/teleport-*.tar.gz "$out"/teleport-*.sha256 "$out"/.stamp
for version in "${versions[@]}"; do
  for edition in community ent; do
    dir=teleport
    [[ $edition == ent ]] && dir=teleport-ent
    rm -rf "${bin:?}"/* "${stage:?}"/*
    flags="-s -w -X $pkg.Version=$version -X $pkg.Edition=$edition"
    (
      cd "$here"
      nice go build -ldflags "$flags" -o "$bin/teleport" ./cmd/teleport
      for tool in tctl tsh tbot; do
        nice go build -ldflags "$flags -X main.name=$tool" -o "$bin/$tool" ./cmd/stub
      done
    )
    mkdir -p "$stage/$dir"
    cp "$bin"/{teleport,tctl,tsh,tbot} "$stage/$dir/"
    printf 'Teleport TEST DOUBLE v%s (%s edition): not Teleport. Built by tests/teleport-double/build.sh for the sandbox and CI.\n' "$version" "$edition" > "$stage/$dir/README-TEST-DOUBLE"
    tarball="$dir-v$version-linux-amd64-bin.tar.gz"
    # Fixed owner and mtime so the same sources give the same tarball bytes.
    tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00Z' --sort=name -czf "$out/$tarball" "$dir"
    (cd "$out" && sha256sum "$tarball" > "$tarball.sha256")
  done
done
printf '%s\n' "${versions[@]}" > "$out/VERSIONS"
echo "${versions[0]}" > "$out/VERSION"
echo "$src_sum" > "$out/.stamp"
echo "$out"
