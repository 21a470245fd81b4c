#!/usr/bin/env bash
# This checkout's ansible-core beside another checkout's (a measurement, not a test): see
# bench/ansible_core_bench.py and bench/README.md. The anchor is a git worktree with its own .venv,
# for example the commit before an ansible-core upgrade:
#   git worktree add --detach ../anchor <commit> && (cd ../anchor && scripts/install-deps.sh)
#   bench/ansible-core-bench.sh --anchor ../anchor                     # every case, 3 runs
#   bench/ansible-core-bench.sh --anchor ../anchor --cases syntax,render --runs 5
# The aws case needs inventory-service/target/inventory-service.jar in both trees.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec .venv/bin/python bench/ansible_core_bench.py "$@"
