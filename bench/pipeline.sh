#!/usr/bin/env bash
# pipeline.sh — end-to-end throughput of `tagbase load`: a generated bank's extracts through the
# five modules (validation against the data standards, quarantine, flagged segments, identity
# resolution, collection) to the profile snapshot; and, in the same run and on the same files,
# DuckDB's read_csv (npm @duckdb/node-api, installed here into bench/node_modules; skipped with a
# note when it cannot be installed).
#
#   bench/pipeline.sh [CUSTOMERS]     (default 1000000; BUILD=build; the issue's size is 10000000)
# Prints MB/s and rows/s of the load (median of RUNS=3 fresh loads), its peak memory, and DuckDB's
# MB/s reading every file into a table.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$PWD/$BUILD/tagbase"
n=${1:-1000000}
runs=${RUNS:-3}
out=bench/out/pipeline-$n
mkdir -p "$out"
if [[ ! -f "$out/batch/manifest.json" ]]; then
  rm -rf "$out/batch"
  "$bin" gen --customers "$n" --seed 7 --date 20261121 --dirty 0.001 --out "$out/batch" 2>/dev/null
fi
# The load reads every extract but the events and the generator's truth.
files=$(node -e "const m=require('./$out/batch/manifest.json');console.log(m.files.filter(f=>!['truth','events'].includes(f.data_kind)).map(f=>f.name).join(' '))")
bytes=0
for f in $files; do bytes=$((bytes + $(stat -c %s "$out/batch/$f"))); done
echo "batch: $n customers, $((bytes / 1000000)) MB in $(echo $files | wc -w) extract files"
# The extracts are read into the page cache before every run of either engine, so that each
# starts from the same cache state whatever the run before it pushed out (at 10M customers the
# extracts and a load's memory together exceed the machine's).
warm() { cat "$out"/batch/*.txt >/dev/null; }

times=()
for i in $(seq "$runs"); do
  rm -rf "$out/data"
  warm
  "$bin" init --data "$out/data" >/dev/null
  "$bin" standard load standards/default.json --data "$out/data" >/dev/null
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$bin" load --data "$out/data" --json "$out/batch" >"$out/load.json"
  read -r secs kb <"$out/time.txt"
  times+=("$secs")
  echo "  load run $i: $secs s, peak RSS $((kb / 1024)) MB"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
rows=$(node -e "console.log(require('./$out/load.json').rows)")
echo "tagbase load median: ${median} s, $(awk -v b="$bytes" -v t="$median" 'BEGIN{printf "%.0f", b/1e6/t}') MB/s, $(awk -v r="$rows" -v t="$median" 'BEGIN{printf "%.0f", r/t}') rows/s"

# DuckDB, same files, same machine, same run.
if [[ ! -d bench/node_modules/@duckdb/node-api ]]; then
  (cd bench && npm install --no-save --no-audit --no-fund @duckdb/node-api@1.5.6-r.1 >/dev/null 2>&1) ||
    { echo "duckdb: @duckdb/node-api could not be installed from npm: skipped"; exit 0; }
fi
warm
node bench/duckdb_read.mjs "$out/batch" $files
