#!/usr/bin/env bash
# site.yml's second run on a lab of real hosts, this checkout's Ansible beside variants (a
# measurement, not a test): see bench/site_second_run_lab.py and bench/README.md. Needs root.
#   bench/site-second-run-lab.sh                                  # this vs ansible-core 2.18.19
#   bench/site-second-run-lab.sh --variants this,core-2.18.19,facts --rounds 3 --proxies 4
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi
[[ -f node-agent/target/node-agent.jar ]] || mvn -B -ntp -q -pl node-agent -am package -DskipTests
tests/teleport-double/build.sh >/dev/null
exec .venv/bin/python bench/site_second_run_lab.py "$@"
