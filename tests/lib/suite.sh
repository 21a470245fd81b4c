# Shell helpers shared by tests/suites/*.sh (source it):
#   pass MSG, fail MSG [DETAIL]  record a check (fail does not stop the suite)
#   die MSG                       stop the suite now
#   poll SECONDS CMD...           run CMD until it succeeds or the deadline passes
#   suite_end NAME                print the tally; non-zero when a check failed
# shellcheck shell=bash

SUITE_PASSED=0 SUITE_FAILED=0

pass() { SUITE_PASSED=$((SUITE_PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() {
  SUITE_FAILED=$((SUITE_FAILED + 1)); printf 'FAIL %s\n' "$1"
  local line
  if [[ -n ${2:-} ]]; then while IFS= read -r line; do printf '     %s\n' "$line"; done <<<"$2"; fi
}
die() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

poll() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2  # pause between polls, bounded by the deadline above
  done
}

suite_end() {
  echo "$1: $SUITE_PASSED passed, $SUITE_FAILED failed"
  ((SUITE_FAILED == 0))
}
