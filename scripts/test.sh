#!/usr/bin/env bash
# The one test command: installs what the tests need, builds, and runs every
# suite. Called by `make test` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/install-deps.sh
export PATH=$ROOT/.venv/bin:$PATH
# The machine's Go toolchain builds the Teleport test double; a non-login shell may lack its PATH.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi
for tool in java mvn go; do
  command -v "$tool" >/dev/null || { echo "scripts/test.sh: $tool not found on PATH; this machine kind provides it (see README, Testing)" >&2; exit 1; }
done

passed=0 failed=0 failed_names=()
run_suite() {
  local name=$1; shift
  printf '\n======== suite: %s ========\n' "$name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); printf -- '\n-------- %s: ok (%ss)\n' "$name" $((SECONDS - start))
  else
    failed=$((failed + 1)); failed_names+=("$name"); printf -- '\n-------- %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
  fi
}

# Java: unit and integration tests of every module, and the runnable jars.
# --fail-at-end: a failing test in one module still builds the others (their jars are what every later suite runs)
run_suite maven mvn -B -ntp --fail-at-end verify
for s in tests/suites/*.sh; do
  [[ -e $s ]] || continue
  run_suite "$(basename "$s" .sh)" bash "$s"
done

echo
if ((failed)); then echo "failed suites: ${failed_names[*]}"; fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
