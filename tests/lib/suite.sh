# Shell helpers shared by tests/suites/*.sh: source it, then use pass/fail/poll.
#   . "$(dirname "$0")/../lib/suite.sh"
# shellcheck shell=bash

SUITE_PASSED=0

pass() { SUITE_PASSED=$((SUITE_PASSED + 1)); printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

# poll SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds or the deadline passes.
poll() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not reached within ${timeout}s"
    sleep 0.2  # pause between polls, bounded by the deadline above
  done
}

# expect_fail DESCRIPTION PATTERN COMMAND...: COMMAND must fail and print PATTERN (stdout+stderr).
expect_fail() {
  local what=$1 pattern=$2; shift 2
  local out
  if out=$("$@" 2>&1); then fail "$what: succeeded, expected a failure"; fi
  grep -qE -- "$pattern" <<<"$out" || fail "$what: failure without /$pattern/: ${out: -800}"
  pass "$what"
}
