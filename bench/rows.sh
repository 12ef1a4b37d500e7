#!/usr/bin/env bash
# rows.sh — what a master-data row costs on its way into the meta store: a statement per row
# against one INSERT ... SELECT from tb_rows (store/meta.h), 5M party keys in key order into a
# fresh store, alternating, RUNS=3 of each; prints each run and the medians.
#
#   bench/rows.sh [N]        (default 5000000; BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
n=${1:-5000000}
runs=${RUNS:-3}
make --no-print-directory "$BUILD/rowsbench" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
declare -A t
for i in $(seq "$runs"); do
  for way in stmt rows; do
    rm -rf "$work/d"
    out=$("$BUILD/rowsbench" "$work/d" "$way" "$n")
    echo "  run $i: $out"
    t[$way]+="$(node -e "console.log(JSON.parse(process.argv[1]).ns_per_row)" "$out") "
  done
done
for way in stmt rows; do
  echo "$way: median $(printf '%s\n' ${t[$way]} | sort -n | sed -n "$(((runs + 1) / 2))p") ns a row"
done
