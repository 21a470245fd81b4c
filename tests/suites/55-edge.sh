#!/usr/bin/env bash
# The sandbox's edge (docs/edge.md): CoreDNS built from the Go module proxy, the Route 53
# routing-policy double and the NLB double (HAProxy) against a real moto server, asserted
# with real DNS queries and real TCP/HTTPS through HAProxy on 127.55.0.0/16; and the
# Prometheus alert rules with promtool.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/.venv/bin:$PATH
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi
for tool in haproxy dig promtool; do
  command -v "$tool" >/dev/null || { echo "55-edge: $tool not found: run scripts/install-deps.sh (scripts/apt-packages.txt)" >&2; exit 1; }
done
sandbox/edge/coredns/build.sh >/dev/null
exec python -m pytest -q -p no:cacheprovider tests/edge
