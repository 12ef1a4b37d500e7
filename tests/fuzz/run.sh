#!/usr/bin/env bash
# run.sh — runs libFuzzer targets built by `make fuzz` for FUZZ_SECONDS each and prints one summary
# line per target; exits 1 if any target crashed (or is missing), 0 otherwise.
#
#   FUZZ_BUILD=build/fuzz FUZZ_SECONDS=30 tests/fuzz/run.sh fuzz_reader fuzz_mask ...
#
# The seed corpus tests/fuzz/corpus/NAME is copied to FUZZ_BUILD/corpus-NAME, which is the working
# corpus (it grows between runs); nothing is written into the repository. Crash reproducers land
# in FUZZ_BUILD/crashes-NAME/ and logs in FUZZ_BUILD/NAME.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
[[ $# -gt 0 ]] || { echo "usage: tests/fuzz/run.sh NAME..." >&2; exit 2; }

failed=0
summary=()
for name in "$@"; do
  bin="$FUZZ_BUILD/$name"
  corpus="$FUZZ_BUILD/corpus-$name"
  crashes="$FUZZ_BUILD/crashes-$name"
  log="$FUZZ_BUILD/$name.log"
  if [[ ! -x "$bin" ]]; then
    summary+=("$name: MISSING ($bin not built)")
    failed=1
    continue
  fi
  mkdir -p "$corpus" "$crashes"
  if [[ -d "tests/fuzz/corpus/$name" ]]; then
    cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  fi
  echo "fuzz: running $name for ${FUZZ_SECONDS}s (corpus $corpus)"
  "$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  if [[ $rc -ne 0 ]]; then
    failed=1
    summary+=("$name: CRASHED (exit $rc) after ${execs:-?} execs; see $log and $crashes/")
    grep -m1 -E 'ERROR: |runtime error|deadly signal' "$log" | sed 's/^/    /'
  else
    summary+=("$name: ok, ${execs:-?} execs in ${FUZZ_SECONDS}s, ${cov:-cov: ?}, $files corpus files")
  fi
done

echo "fuzz summary:"
for s in "${summary[@]}"; do echo "  $s"; done
exit $failed
