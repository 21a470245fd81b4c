#!/usr/bin/env bash
# Editions and the Proxy Peering migration on a three-host lab (tests/cluster):
# a fresh OSS agent-mesh cluster, the move to Enterprise, then
# migrate-proxy-peering.yml, on real systemd hosts with the Teleport double.
# beside the main lane and the sandbox (scripts/test.sh, "Lanes"), before 57-tls:
# lane: labs
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ! -f node-agent/target/node-agent.jar ]]; then nice mvn -B -ntp -q package -DskipTests; fi
# Its own base temp, so the playbook logs of a failed run survive other pytest runs.
exec .venv/bin/python -m pytest -q -p no:cacheprovider --basetemp=build/cluster-lab tests/cluster
