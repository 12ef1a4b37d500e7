#!/usr/bin/env bash
# run.sh — runs the unit tests (cmocka, TAP output) and/or the black-box tests (node:test) and
# closes with one line a CI reader understands: "N passed, N failed". Exit status 1 on any failure.
#
#   tests/run.sh unit e2e      (BUILD=build by default; BUILD=build/san for sanitizer builds)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export TAGBASE_BIN="$PWD/$BUILD/tagbase"
passed=0
failed=0
failures=()

run_unit() {
  local t out rc ok notok
  for t in "$BUILD"/tests/test_*; do
    [[ -x "$t" ]] || continue
    out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" | sed "s|^|$(basename "$t"): |"
    ok=$(printf '%s\n' "$out" | grep -c '^ok ')
    notok=$(printf '%s\n' "$out" | grep -c '^not ok ')
    passed=$((passed + ok))
    failed=$((failed + notok))
    if [[ $rc -ne 0 && $notok -eq 0 ]]; then
      failed=$((failed + 1)) # crashed or exited before reporting
      failures+=("$(basename "$t") exited with status $rc")
    fi
    [[ $notok -gt 0 ]] && failures+=("$(basename "$t"): $notok failed")
  done
}

run_e2e() {
  local out rc p f
  shopt -s nullglob
  local files=(tests/e2e/*.test.mjs)
  [[ ${#files[@]} -eq 0 ]] && return
  out=$(node --test --test-reporter=tap "${files[@]}" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [[ $rc -ne 0 && ${f:-0} -eq 0 ]]; then
    failed=$((failed + 1))
    failures+=("node --test exited with status $rc")
  fi
  [[ ${f:-0} -gt 0 ]] && failures+=("e2e: $f failed")
}

for what in "$@"; do
  case "$what" in
    unit) run_unit ;;
    e2e) run_e2e ;;
    *) echo "run.sh: unknown suite '$what'" >&2; exit 2 ;;
  esac
done

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
