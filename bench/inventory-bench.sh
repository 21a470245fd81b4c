#!/usr/bin/env bash
# Inventory benchmark (not a test): see bench/inventory_bench.py. Extra arguments pass through,
# e.g. bench/inventory-bench.sh --runs 5 --per-region 300 --noise-per-region 300
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[[ -f inventory-service/target/inventory-service.jar ]] || mvn -B -ntp -q -DskipTests package
export PATH=$PWD/.venv/bin:$PATH
exec python bench/inventory_bench.py "$@"
