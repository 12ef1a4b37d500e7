#!/usr/bin/env bash
# scan.sh — how fast `tagbase scan` reads a batch: every row of every extract of a generated bank
# through the extract reader (Hive text), field counts checked, recorded in the meta store.
#
#   bench/scan.sh [CUSTOMERS]     (default 1000000; BUILD=build)
# Prints the batch size and the median wall time of 5 runs (hyperfine when installed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$PWD/$BUILD/tagbase"
n=${1:-1000000}
out=bench/out/scan-$n
if [[ ! -f "$out/batch/manifest.json" ]]; then
  rm -rf "$out"
  mkdir -p "$out"
  "$bin" gen --customers "$n" --seed 7 --date 20261121 --out "$out/batch" >/dev/null
fi
bytes=$(du -sb "$out/batch" | cut -f1)
echo "batch: $n customers, $((bytes / 1000000)) MB in $(ls "$out/batch" | wc -l) files"
"$bin" scan --data "$out/data" "$out/batch" >/dev/null # warm the page cache
if command -v hyperfine >/dev/null; then
  hyperfine --runs 5 --export-json "$out/hyperfine.json" \
    "'$bin' scan --data '$out/data' '$out/batch'"
  median=$(node -e "const r=require('./$out/hyperfine.json').results[0];console.log(r.median.toFixed(3))")
else
  times=()
  for _ in 1 2 3 4 5; do
    s=$(date +%s.%N)
    "$bin" scan --data "$out/data" "$out/batch" >/dev/null
    times+=("$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN{printf "%.3f", e - s}')")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
fi
echo "scan median: ${median} s, $(awk -v b="$bytes" -v t="$median" 'BEGIN{printf "%.0f", b / 1e6 / t}') MB/s"
