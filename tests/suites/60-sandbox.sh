#!/usr/bin/env bash
# End to end: the two-region sandbox on this machine, site.yml through
# the real inventory script, and the checks after converge (docs/sandbox.md).
# The sandbox is torn down at the end, also on failure.
# its own lane, beside the others (scripts/test.sh, "Lanes"): it is the longest suite and keeps about one core busy:
# lane: sandbox
set -euo pipefail
cd "$(dirname "$0")/../.."
# The maven suite builds the jars before this one; build them when run alone.
if [[ ! -f inventory-service/target/inventory-service.jar || ! -f node-agent/target/node-agent.jar ]]; then
  nice mvn -B -ntp -q package -DskipTests
fi
# The lock keeps a second sandbox (make sandbox, another checkout) from starting beside this one.
exec flock /tmp/teleport-sandbox.lock sandbox/sandbox test
