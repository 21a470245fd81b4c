#!/usr/bin/env bash
# What one remote module run costs the host, this checkout's ansible-core beside an anchor release
# (a measurement, not a test): see bench/module_cost_bench.py and bench/README.md.
#   bench/module-cost-bench.sh                  # anchor ansible-core 2.18.19
#   bench/module-cost-bench.sh --anchor 2.20.3 --rounds 30
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec .venv/bin/python bench/module_cost_bench.py "$@"
