#!/usr/bin/env bash
# node-agent beside blackbox_exporter (a measurement, not a test): see bench/node_agent_bench.py and
# bench/README.md. Extra arguments pass through, e.g.
#   bench/node-agent-bench.sh --peers 100 --seconds 120
#   NODE_AGENT_JAVA_OPTS="-XX:+UseSerialGC ..." bench/node-agent-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
{ command -v prometheus-blackbox-exporter && [[ -x .venv/bin/python ]]; } >/dev/null || scripts/install-deps.sh
[[ -f node-agent/target/node-agent.jar ]] || nice mvn -B -ntp -q -pl node-agent -am package -DskipTests
exec .venv/bin/python bench/node_agent_bench.py "$@"
