#!/usr/bin/env bash
# segments.sh — segment counts on deterministic customers, every engine in the same run and on the
# same data (the issue's benchmark; bench/seg_floor.c has the formula): the memory-bandwidth floor
# and the naive oracle (bench/seg_floor.c), tagbase (build/segbench), DuckDB (npm @duckdb/node-api,
# in-memory table), PostgreSQL 15 (private throwaway cluster, N <= 10M only) and chDB (npm chdb,
# stored groupBitmap rows) — the queries of bench/seg_queries.json. Every engine's counts, the
# profile and the export are checked against the oracle; a mismatch fails the script.
#
#   bench/segments.sh [N ...]      (default 10000000; 100000000 for the big run)
#   RUNS=15 BUILD=build SEG_TIMEOUT=3600 KEEP_DATA=0 FLOOR_CFLAGS="-O2 -march=x86-64-v2"
# Prints one Markdown table per N and writes it to bench/out/segments-N.md; raw JSON lines of each
# engine in bench/out/seg-N/. Talks only to 127.0.0.1; every engine runs under a time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-15}
BUILD=${BUILD:-build}
limit=${SEG_TIMEOUT:-3600}
queries=bench/seg_queries.json
[[ $# -gt 0 ]] || set -- 10000000
mkdir -p bench/out

# The floor's code generation decides what "floor" means: the default is scalar (x86-64-v2:
# popcnt, no AVX); FLOOR_CFLAGS="-O3 -march=native" gives a vectorized floor several times lower.
cflags="-std=c17 ${FLOOR_CFLAGS:--O2 -march=x86-64-v2} -pthread"
cc $cflags -o bench/out/seg_floor bench/seg_floor.c
echo "seg_floor: cc $cflags" >&2

if [[ ! -d bench/node_modules/@duckdb/node-api || ! -d bench/node_modules/chdb ]]; then
  # Both in one command: an install with --no-save drops packages it was not asked for.
  (cd bench && timeout 600 npm install --no-save --no-audit --no-fund @duckdb/node-api@1.5.6-r.1 \
    chdb@3.4.0 >/dev/null 2>bench/out/npm-install.log) ||
    echo "npm install of @duckdb/node-api / chdb failed: see bench/out/npm-install.log" >&2
fi

# run NAME CMD...: CMD's stdout into $d/NAME.jsonl under the time limit, max RSS into $d/NAME.rss;
# a failure is written to $d/NAME.note for the report (the run goes on with the other engines).
run() {
  local name=$1 rc=0
  shift
  echo "[$(date +%T)] $name ..." >&2
  timeout "$limit" /usr/bin/time -f '%M' -o "$d/$name.rss" "$@" >"$d/$name.jsonl" 2>"$d/$name.err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    local first
    first=$(grep -m1 -v '^{' "$d/$name.jsonl" || true)
    [[ -n $first ]] || first=$(grep -v -i 'command exited\|^[0-9]*$' "$d/$name.err" | tail -1 || true)
    [[ $rc -eq 124 ]] && first="timed out after ${limit} s"
    echo "failed (exit $rc): ${first:-see $d/$name.err}" >"$d/$name.note"
    echo "  $name: $(cat "$d/$name.note")" >&2
  fi
  return 0
}

status=0
for n in "$@"; do
  d=bench/out/seg-$n
  rm -rf "$d"
  mkdir -p "$d"

  echo "cc $cflags" >"$d/floor.flags"
  run floor bench/out/seg_floor "$n" "$runs"

  if [[ -x $BUILD/segbench ]]; then
    data=$d/tagbase-data
    run tagbase-gen "$BUILD/segbench" gen --customers "$n" --data "$data"
    run tagbase "$BUILD/segbench" query --data "$data" --runs "$runs" --queries "$queries"
    [[ ${KEEP_DATA:-0} == 1 ]] || rm -rf "$data"
  else
    echo "not run: $BUILD/segbench is not built yet" >"$d/tagbase.note"
    echo "tagbase: $BUILD/segbench is not built yet: skipped" >&2
  fi

  if [[ -d bench/node_modules/@duckdb/node-api ]]; then
    run duckdb node bench/seg_duckdb.mjs "$n" "$runs" "$queries" "$d"
  else
    echo "not installable here: npm install @duckdb/node-api failed" >"$d/duckdb.note"
  fi

  if [[ $n -le 10000000 ]]; then
    run pg bench/seg_pg.sh "$n" "$runs" "$queries"
  else
    echo "not run above 10M customers (the issue asks for PostgreSQL at 10M)" >"$d/pg.note"
  fi

  run chdb node bench/seg_chdb.mjs "$n" "$runs" "$queries" "$d"
  if grep -q '^chDB: not installable here' "$d/chdb.jsonl"; then
    grep -m1 '^chDB:' "$d/chdb.jsonl" | sed 's/^chDB: //' >"$d/chdb.note"
  fi

  rc=0
  node bench/seg_report.mjs "$n" "$d" "$queries" >"bench/out/segments-$n.md" || rc=$?
  cat "bench/out/segments-$n.md"
  echo
  if [[ $rc -ne 0 ]]; then
    echo "segments.sh: ANSWERS DISAGREE WITH THE ORACLE at N=$n (see above and $d/)" >&2
    status=1
  fi
done
exit $status
