#!/usr/bin/env bash
# Run each suite given (make targets) even when an earlier one fails, then print a summary
# and exit non-zero if any failed.  Used by `make test`.
set -uo pipefail
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
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
