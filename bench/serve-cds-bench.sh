#!/usr/bin/env bash
# inventory-service serve with an application class-data-sharing archive beside the role's settings
# (a measurement, not a test): see bench/serve_cds_bench.py and bench/README.md, e.g.
#   bench/serve-cds-bench.sh --hosts 900 --rounds 2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[[ -f inventory-service/target/inventory-service.jar ]] || nice mvn -B -ntp -q -DskipTests package
export PATH=$PWD/.venv/bin:$PATH
exec python bench/serve_cds_bench.py "$@"
