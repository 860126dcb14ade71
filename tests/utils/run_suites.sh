#!/usr/bin/env bash
# Run suites (make targets), each even when an earlier one fails, then print a summary and exit
# non-zero if any failed.  Used by `make test`.
#
#   run_suites.sh SUITE...                       one after another, output as it comes
#   run_suites.sh --build DIR --logs DIR --lane "SUITE..." --lane "SUITE..."
#                                                the lanes side by side, each lane's suites in order;
#                                                lane N > 1 builds in DIR-laneN (its own collection tree,
#                                                ansible-test output and sandboxes), so that no suite
#                                                removes a tree another one is using.  Each suite writes to
#                                                LOGS/SUITE.log; its whole log is printed when it ends.
set -uo pipefail
build=""; logs=""; lanes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    --lane) lanes+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
started=$(date +%s)

if [ ${#lanes[@]} -eq 0 ]; then
  passed=0; failed=0; failed_names=(); summary=()
  for suite in "$@"; do
    echo
    echo "=================== make $suite ==================="
    start=$(date +%s)
    if make --no-print-directory "$suite"; then
      passed=$((passed + 1)); status=passed
    else
      failed=$((failed + 1)); status=FAILED; failed_names+=("$suite")
    fi
    summary+=("$(printf '%-14s %-7s %4ss' "$suite" "$status" "$(( $(date +%s) - start ))")")
  done
  echo
  echo "=================== summary ==================="
  printf '%s\n' "${summary[@]}"
  [ "$failed" -eq 0 ] || echo "failed: ${failed_names[*]}"
  echo "suites: $passed passed, $failed failed in $(( $(date +%s) - started ))s"
  [ "$failed" -eq 0 ]
  exit
fi

[ -n "$build" ] && [ -n "$logs" ] || { echo "run_suites.sh: --lane needs --build and --logs" >&2; exit 2; }
all=$(printf '%s\n' ${lanes[*]})
[ -z "$(sort <<< "$all" | uniq -d)" ] || { echo "run_suites.sh: a suite in two lanes: $(sort <<< "$all" | uniq -d)" >&2; exit 2; }
rm -rf "$logs" && mkdir -p "$logs"
lock=$logs/.print-lock

run_lane() {  # run_lane N "SUITE..."
  local n=$1 suite start status code
  local -a overrides=()
  [ "$n" -gt 1 ] && overrides=("BUILD=$build-lane$n")
  for suite in $2; do
    start=$(date +%s)
    echo "make $suite: started in lane $n (its output as it comes: $logs/$suite.log)"
    make --no-print-directory "${overrides[@]}" "$suite" > "$logs/$suite.log" 2>&1
    code=$?
    if [ "$code" -eq 0 ]; then status=passed; else status=FAILED; fi
    printf '%-14s %-7s %4ss  lane %s\n' "$suite" "$status" "$(( $(date +%s) - start ))" "$n" > "$logs/$suite.result"
    # one suite's log at a time, whole
    {
      flock 9
      echo
      echo "=================== make $suite ($status, lane $n) ==================="
      cat "$logs/$suite.log"
    } 9> "$lock"
  done
}

pids=()
for i in "${!lanes[@]}"; do
  run_lane $((i + 1)) "${lanes[$i]}" &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait; exit 130' INT TERM
wait "${pids[@]}"

passed=0; failed=0; failed_names=()
echo
echo "=================== summary ==================="
for lane in "${lanes[@]}"; do
  for suite in $lane; do
    if [ -f "$logs/$suite.result" ]; then
      cat "$logs/$suite.result"
      if grep -q " passed " "$logs/$suite.result"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$suite"); fi
    else
      printf '%-14s %-7s\n' "$suite" "not run"; failed=$((failed + 1)); failed_names+=("$suite")
    fi
  done
done
[ "$failed" -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed in $(( $(date +%s) - started ))s (${#lanes[@]} lanes side by side)"
[ "$failed" -eq 0 ]
