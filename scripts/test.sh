#!/usr/bin/env bash
# The one test command: installs what the tests need, builds, and runs every
# suite. Called by `make test` and by .ci/run.
#
# Lanes. A suite file may name a lane on a line of its own: `# lane: sandbox`. Suites
# of one lane run one after another, in file order; each lane other than the main one
# (suites that name none) starts as soon as the Java build and the shared artifacts are
# there, and runs beside the main lane. Why: the labs and the sandbox roll one host at a
# time, so a suite keeps one of the machine's two cores busy and the other mostly idle
# (measured: bench/README.md, "make test"). Suites that run side by side share nothing:
# each lab and the sandbox have their own bridge, addresses, machine names and state, and
# what they all read (the jars, the Teleport double, CoreDNS, the hosts' Debian root) is
# built here once, before any lane starts. A side lane's output is kept in
# build/test-logs/<suite>.log and printed, whole, after the main lane ends.
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

LOGS=$ROOT/build/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
RESULTS=$LOGS/results      # one line per suite: name rc seconds lane
T0=$SECONDS

run_suite() {
  local name=$1; shift
  printf '\n======== suite: %s ========\n' "$name"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  if ((rc == 0)); then
    printf -- '\n-------- %s: ok (%ss)\n' "$name" $((SECONDS - start))
  else
    printf -- '\n-------- %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
  fi
  echo "$name $rc $((SECONDS - start)) ${LANE:-main}" >>"$RESULTS"
}

lane_of() { sed -n 's/^# lane: *\([a-z0-9-]*\) *$/\1/p' "$1" | head -n1; }

# Java: unit and integration tests of every module, and the runnable jars.
# --fail-at-end: a failing test in one module still builds the others (their jars are what every later suite runs)
run_suite maven mvn -B -ntp --fail-at-end verify

# What suites in different lanes share, built once before they start side by side (each
# build is a no-op when its inputs did not change).
shared() {
  tests/teleport-double/build.sh >/dev/null &&
    sandbox/edge/coredns/build.sh >/dev/null &&
    bash sandbox/build-rootfs.sh >/dev/null
}
run_suite shared-artifacts shared

main_suites=() side_lanes=()
declare -A lane_suites=()
for s in tests/suites/*.sh; do
  [[ -e $s ]] || continue
  lane=$(lane_of "$s")
  if [[ -z $lane || $lane == main ]]; then
    main_suites+=("$s")
  else
    [[ -n ${lane_suites[$lane]:-} ]] || side_lanes+=("$lane")
    lane_suites[$lane]+="$s "
  fi
done

# A side lane: its suites in order, each one's output in its own log.
run_lane() {
  local s name
  for s in $1; do
    name=$(basename "$s" .sh)
    run_suite "$name" bash "$s" >"$LOGS/$name.log" 2>&1
  done
}

lane_pids=()
stop_lanes() {
  local pid
  for pid in "${lane_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
trap stop_lanes EXIT
for lane in "${side_lanes[@]}"; do
  echo "lane $lane (beside the main lane): ${lane_suites[$lane]}"
  # setsid: the lane is its own process group, so stop_lanes ends all of it if this script is stopped.
  LANE=$lane setsid -w bash -c "$(declare -f run_suite run_lane); RESULTS='$RESULTS' LOGS='$LOGS' LANE='$lane' run_lane '${lane_suites[$lane]}'" &
  lane_pids+=("$!")
done

for s in "${main_suites[@]}"; do
  run_suite "$(basename "$s" .sh)" bash "$s"
done

for i in "${!lane_pids[@]}"; do
  wait "${lane_pids[$i]}" || true
  lane=${side_lanes[$i]}
  for s in ${lane_suites[$lane]}; do
    name=$(basename "$s" .sh)
    printf '\n######## lane %s: the output of %s (build/test-logs/%s.log) ########\n' "$lane" "$name" "$name"
    cat "$LOGS/$name.log" 2>/dev/null || echo "(no output: the lane stopped before $name)"
  done
done
lane_pids=()

echo
echo "seconds per suite (lane):"
failed_names=() passed=0 failed=0
while read -r name rc secs lane; do
  printf '  %-20s %5ss  %-8s %s\n' "$name" "$secs" "$lane" "$( ((rc == 0)) && echo ok || echo FAILED)"
  if ((rc == 0)); then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$name"); fi
done <"$RESULTS"
# A suite of a side lane that never reported (its lane was stopped) counts as failed.
for lane in "${side_lanes[@]}"; do
  for s in ${lane_suites[$lane]}; do
    name=$(basename "$s" .sh)
    grep -q "^$name " "$RESULTS" || { failed=$((failed + 1)); failed_names+=("$name"); echo "  $name: no result (its lane stopped)"; }
  done
done
echo "wall: $((SECONDS - T0)) s after install-deps"
if ((failed)); then echo "failed suites: ${failed_names[*]}"; fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
