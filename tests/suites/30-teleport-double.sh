#!/usr/bin/env bash
# The Teleport test double: lint, unit and integration tests (real sockets on
# 127.0.0.1), then the release-style tarballs the sandbox installs: every
# version in VERSIONS, both editions, and an auth + proxy cluster formed from
# the default tarball.
set -euo pipefail
cd "$(dirname "$0")/../teleport-double"
unformatted=$(gofmt -l .)
[[ -z $unformatted ]] || { echo "gofmt: not formatted: $unformatted" >&2; exit 1; }
nice go vet ./...
nice go test -count=1 ./...
out=$(./build.sh)
default=$(cat "$out/VERSION")
mapfile -t versions < "$out/VERSIONS"
[[ $default == 18.11.1 && ${versions[*]} == "18.11.1 18.11.2 19.0.0" ]] || {
  echo "VERSION=$default VERSIONS=${versions[*]}, want 18.11.1 and 18.11.1 18.11.2 19.0.0" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

for v in "${versions[@]}"; do
  for top in teleport teleport-ent; do
    t="$top-v$v-linux-amd64-bin.tar.gz"
    (cd "$out" && sha256sum -c --quiet "$t.sha256")
    listing=$(tar -tzf "$out/$t")
    for f in teleport tctl tsh tbot README-TEST-DOUBLE; do
      grep -qx "$top/$f" <<<"$listing" || { echo "$t lacks $top/$f" >&2; exit 1; }
    done
    mkdir -p "$tmp/$v"
    tar -C "$tmp/$v" -xzf "$out/$t"
    product="Teleport"
    [[ $top == teleport-ent ]] && product="Teleport Enterprise"
    line=$("$tmp/$v/$top/teleport" version)
    [[ $line =~ ^"$product v$v git:test-double go1."[^\ ]+" (TEST DOUBLE)"$ ]] || {
      echo "$t: teleport version printed '$line'" >&2; exit 1; }
    for tool in tctl tsh tbot; do
      grep -q "^$tool: $product v$v .*(TEST DOUBLE)$" <<<"$("$tmp/$v/$top/$tool" version)" || {
        echo "$t: $tool version is wrong" >&2; exit 1; }
    done
  done
done

bin="$tmp/$default/teleport"
printf 'version: v3\nproxy_service:\n  peer_public_adr: x:3021\n' > "$tmp/bad.yaml"
if "$bin/teleport" configure --test "$tmp/bad.yaml" 2>"$tmp/err"; then
  echo "configure --test accepted an unknown key" >&2; exit 1
fi
grep -q 'proxy_service.peer_public_adr' "$tmp/err"

# A cluster from the default tarball: an auth, a proxy joining it with a
# token, the CA pin that tctl status prints, and a proxy whose pin is wrong.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
auth_port=$(port); auth_diag=$(port); proxy_diag=$(port); bad_diag=$(port)
mkdir -p "$tmp/auth" "$tmp/proxy" "$tmp/bad"
cat > "$tmp/auth/teleport.yaml" <<YAML
version: v3
teleport: {nodename: auth-1, data_dir: $tmp/auth/data, diag_addr: "127.0.0.1:$auth_diag"}
auth_service: {enabled: true, cluster_name: suite.example.com, listen_addr: "127.0.0.1:$auth_port", tokens: ["proxy:suite-token-not-a-secret"]}
proxy_service: {enabled: false}
ssh_service: {enabled: false}
YAML
proxy_yaml() { # dir diag-port ca-pin
  cat <<YAML
version: v3
teleport:
  nodename: proxy-$1
  data_dir: $tmp/$1/data
  diag_addr: "127.0.0.1:$2"
  auth_server: "127.0.0.1:$auth_port"
  join_params: {method: token, token_name: suite-token-not-a-secret}
  ca_pin: "$3"
auth_service: {enabled: false}
ssh_service: {enabled: false}
proxy_service: {enabled: true, web_listen_addr: "127.0.0.1:0", public_addr: "suite.example.com:443"}
YAML
}
"$bin/teleport" start -c "$tmp/auth/teleport.yaml" 2>"$tmp/auth/log" & pids+=($!)
ready() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz"; }
wait_ready() { # diag-port what
  for _ in $(seq 1 150); do ready "$1" && return 0; sleep 0.1; done # poll, bounded to 15 s
  echo "$2 not ready within 15 s" >&2; cat "$tmp"/*/log >&2; exit 1
}
wait_ready "$auth_diag" "the auth double"
pin=$("$bin/tctl" status -c "$tmp/auth/teleport.yaml" | awk '$1 == "CA" && $2 == "pin" {print $3}')
[[ $pin == sha256:* ]] || { echo "tctl status printed no CA pin" >&2; exit 1; }
proxy_yaml proxy "$proxy_diag" "$pin" > "$tmp/proxy/teleport.yaml"
proxy_yaml bad "$bad_diag" "sha256:0000000000000000000000000000000000000000000000000000000000000000" > "$tmp/bad/teleport.yaml"
"$bin/teleport" start -c "$tmp/proxy/teleport.yaml" 2>"$tmp/proxy/log" & pids+=($!)
"$bin/teleport" start -c "$tmp/bad/teleport.yaml" 2>"$tmp/bad/log" & pids+=($!)
wait_ready "$proxy_diag" "the proxy double (token join with the CA pin from tctl status)"
for _ in $(seq 1 150); do grep -q "cluster pin does not match" "$tmp/bad/log" && break; sleep 0.1; done # poll, bounded
grep -q "cluster pin does not match" "$tmp/bad/log" || { echo "a wrong ca_pin was not refused" >&2; exit 1; }
if ready "$bad_diag"; then echo "a proxy with a wrong ca_pin became ready" >&2; exit 1; fi
# Teleport's metric names the alert rules read (monitoring/alerts.yml, group teleport), from the
# tarball's binaries: process_state as /readyz says it (0 joined, 3 still starting), the auth's
# backend families with component="backend"; a proxy has none.
metrics() { curl -fs "http://127.0.0.1:$1/metrics"; }
metrics "$proxy_diag" | grep -qx 'process_state 0' || { echo "a ready proxy's process_state is not 0" >&2; exit 1; }
metrics "$bad_diag" | grep -qx 'process_state 3' || { echo "a proxy that never joined has no process_state 3" >&2; exit 1; }
auth_metrics=$(metrics "$auth_diag")
for m in backend_read_requests_failed_total backend_write_requests_failed_total teleport_backend_write_requests_failed_precondition_total; do
  grep -qx "$m{component=\"backend\"} 0" <<<"$auth_metrics" || { echo "the auth double lacks $m{component=\"backend\"}" >&2; exit 1; }
done
grep -qx '# TYPE backend_write_seconds histogram' <<<"$auth_metrics" || { echo "the auth double lacks backend_write_seconds" >&2; exit 1; }
if metrics "$proxy_diag" | grep -q '^backend_'; then echo "a proxy double exposes the auth backend's metrics" >&2; exit 1; fi
echo "teleport double ${versions[*]} (community and ent): tests pass, cluster formed, tarballs in $out"
