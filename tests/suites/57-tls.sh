#!/usr/bin/env bash
# playbooks/tls.yml (docs/tls.md): Pebble v2.10.3 as the ACME CA, validating dns-01 through
# CoreDNS serving moto's Route 53 zone, the DynamoDB lock in moto, and a lab of real systemd
# hosts (one auth, a proxy in each of two regions on 198.18.242.0/24) converged by site.yml.
# before 60-sandbox in its lane, beside the main lane and the labs (scripts/test.sh, "Lanes"): the labs lane
# grew with 45-packer-bake's NLB drills, and this suite's lab, Pebble and CoreDNS are its own:
# lane: sandbox
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/.venv/bin:$PATH
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi
command -v dig >/dev/null || { echo "57-tls: dig not found: run scripts/install-deps.sh (scripts/apt-packages.txt)" >&2; exit 1; }
pebble=${XDG_CACHE_HOME:-$HOME/.cache}/teleport-ha-aws/pebble/v2.10.3/pebble
[[ -x $pebble ]] || { echo "57-tls: $pebble not found: run scripts/install-deps.sh" >&2; exit 1; }
if [[ ! -f node-agent/target/node-agent.jar ]]; then nice mvn -B -ntp -q package -DskipTests; fi
sandbox/edge/coredns/build.sh >/dev/null
# Its own base temp, so the playbook logs of a failed run survive other pytest runs.
rc=0
python -m pytest -q -p no:cacheprovider --basetemp=build/tls-lab tests/tls || rc=$?
if [[ -f build/tls-lab/timings.json ]]; then echo "57-tls: seconds per run:"; cat build/tls-lab/timings.json; echo; fi
exit "$rc"
