#!/usr/bin/env bash
# inventory-service beside its floor and amazon.aws.aws_ec2 (a measurement, not a test): see
# bench/inventory_bench.py and bench/README.md. Extra arguments pass through, e.g.
#   bench/inventory-bench.sh --sizes 300,900,3000,10000 --runs 5
#   BENCH_SERVE_JAVA_OPTS="-Xmx96m ..." bench/inventory-bench.sh --sizes 900
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[[ -f inventory-service/target/inventory-service.jar ]] || nice mvn -B -ntp -q -DskipTests package
export PATH=$PWD/.venv/bin:$PATH
exec python bench/inventory_bench.py "$@"
