#!/usr/bin/env bash
# events_funnel.sh — the issue's event benchmark: a 4-step funnel (launch → view → click → apply)
# with a 1-day window over N events of U users, 6 event types, 7 days, in tagbase, DuckDB (npm
# @duckdb/node-api, in-memory table, ASOF-join SQL) and chDB (npm chdb, MergeTree, windowFunnel),
# all on the same events (bench/evbench.c writes the day partitions and the CSV the peers load),
# in the same run. The per-step user counts of the three must be identical, else the script fails.
#
#   bench/events_funnel.sh [N:U ...]      (default 10000000:500000; 100000000:5000000 for the big run)
#   RUNS=7 BUILD=build EV_TIMEOUT=3600 KEEP_DATA=0
# Prints one Markdown table per size and writes it to bench/out/events-N.md; raw JSON lines of
# each engine in bench/out/ev-N/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-7}
BUILD=${BUILD:-build}
limit=${EV_TIMEOUT:-3600}
[[ $# -gt 0 ]] || set -- 10000000:500000
mkdir -p bench/out

[[ -f $BUILD/libtagbase.a ]] || { echo "events_funnel.sh: build $BUILD/libtagbase.a first (make BUILD=$BUILD)" >&2; exit 1; }
cc -Iinclude -Isrc -D_GNU_SOURCE -std=c17 -O2 -pthread -o bench/out/evbench bench/evbench.c \
  "$BUILD/libtagbase.a" -lsqlite3 -ljansson -lxxhash -lsodium -lmicrohttpd -lzstd -lz -lm -pthread

if [[ ! -d bench/node_modules/@duckdb/node-api || ! -d bench/node_modules/chdb ]]; then
  (cd bench && timeout 600 npm install --no-save --no-audit --no-fund @duckdb/node-api@1.5.6-r.1 \
    chdb@3.4.0 >/dev/null 2>bench/out/npm-install.log) ||
    echo "npm install of @duckdb/node-api / chdb failed: see bench/out/npm-install.log" >&2
fi

# 2026-11-15 00:00 in Asia/Shanghai, the generator's first day; the range is 7 days; window 1 day
from=1794672000000
to=$((from + 7 * 86400000))
win=86400000

run() {
  local name=$1 rc=0
  shift
  echo "[$(date +%T)] $name ..." >&2
  timeout "$limit" /usr/bin/time -f '%M' -o "$d/$name.rss" "$@" >"$d/$name.jsonl" 2>"$d/$name.err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "failed (exit $rc): $(tail -1 "$d/$name.err")" >"$d/$name.note"
    echo "  $name: $(cat "$d/$name.note")" >&2
  fi
  return 0
}

status=0
for spec in "$@"; do
  n=${spec%%:*}
  u=${spec##*:}
  d=bench/out/ev-$n
  rm -rf "$d"
  mkdir -p "$d"
  run gen bench/out/evbench gen --events "$n" --users "$u" --data "$d/data" --csv "$d/events.csv"
  run tagbase bench/out/evbench funnel --data "$d/data" --runs "$runs" --threads 2
  if [[ -d bench/node_modules/@duckdb/node-api ]]; then
    run duckdb node bench/events_duckdb.mjs "$d/events.csv" "$runs" "$from" "$to" "$win"
  else
    echo "not installable here" >"$d/duckdb.note"
  fi
  run chdb node bench/events_chdb.mjs "$d/events.csv" "$runs" "$from" "$to" "$win" "$d"
  [[ ${KEEP_DATA:-0} == 1 ]] || rm -rf "$d/data" "$d/events.csv"

  rc=0
  node - "$n" "$u" "$d" >"bench/out/events-$n.md" <<'EOF' || rc=$?
const [n, u, d] = process.argv.slice(2);
const fs = require('node:fs');
const os = require('node:os');
const last = (name) => {
  try {
    const ls = fs.readFileSync(`${d}/${name}.jsonl`, 'utf8').split('\n').filter((l) => l.startsWith('{'));
    return ls.map((l) => JSON.parse(l));
  } catch { return []; }
};
const rss = (name) => { try { return Math.round(Number(fs.readFileSync(`${d}/${name}.rss`, 'utf8').trim()) / 1024); } catch { return '?'; } };
const note = (name) => { try { return fs.readFileSync(`${d}/${name}.note`, 'utf8').trim(); } catch { return ''; } };
const tb = last('tagbase').find((x) => x.users);
const dk = last('duckdb');
const ch = last('chdb');
const dkr = dk.find((x) => x.users); const dkl = dk.find((x) => x.load_ms !== undefined && !x.users);
const chr = ch.find((x) => x.users); const chl = ch.find((x) => x.load_ms !== undefined && !x.users);
const users = (x) => (x ? x.users.join(' / ') : '—');
console.log(`### Funnel of 4 steps, window 1 day: ${Number(n).toLocaleString('en')} events, ${Number(u).toLocaleString('en')} users, 7 days, 6 event types\n`);
console.log(`Machine: ${os.cpus()[0].model}, ${os.cpus().length} cores (shared), ${Math.round(os.totalmem() / 2 ** 30)} GiB; median of ${tb ? tb.runs : '?'} runs after a warm-up.\n`);
console.log('| engine | funnel (median) | min | load / prepare | users per step | peak RSS |');
console.log('|---|---:|---:|---:|---|---:|');
if (tb) console.log(`| tagbase (2 threads, columns in memory) | **${tb.median_ms.toFixed(1)} ms** | ${tb.min_ms.toFixed(1)} ms | ${tb.load_ms.toFixed(0)} ms (decode 7 partitions + person index) | ${users(tb)} | ${rss('tagbase')} MB |`);
if (tb) console.log(`| tagbase cold (load + funnel) | ${tb.cold_ms.toFixed(1)} ms | | | ${users(tb)} | |`);
console.log(dkr ? `| DuckDB ${dkl?.version ?? ''} (${dkl?.threads} threads, in-memory table, ASOF SQL) | ${dkr.median_ms.toFixed(1)} ms | ${dkr.min_ms.toFixed(1)} ms | ${dkl?.load_ms} ms (CSV → table) | ${users(dkr)} | ${rss('duckdb')} MB |` : `| DuckDB | ${note('duckdb') || 'no result'} | | | | |`);
console.log(chr ? `| chDB ${chl?.version ?? ''} (MergeTree, windowFunnel) | ${chr.median_ms.toFixed(1)} ms | ${chr.min_ms.toFixed(1)} ms | ${chl?.load_ms} ms (CSV → MergeTree) | ${users(chr)} | ${rss('chdb')} MB |` : `| chDB | ${note('chdb') || 'no result'} | | | | |`);
let ok = !!tb;
for (const x of [dkr, chr]) if (x && tb && x.users.join() !== tb.users.join()) ok = false;
if (tb && dkr) console.log(`\ntagbase vs DuckDB: ${(dkr.median_ms / tb.median_ms).toFixed(1)}× (cold: ${(dkr.median_ms / tb.cold_ms).toFixed(1)}×)` + (chr ? `; vs chDB: ${(chr.median_ms / tb.median_ms).toFixed(1)}× (cold: ${(chr.median_ms / tb.cold_ms).toFixed(1)}×)` : ''));
console.log(ok ? '\nCounts: identical in every engine that ran.' : '\nCOUNTS DISAGREE (or tagbase did not run).');
process.exit(ok ? 0 : 1);
EOF
  cat "bench/out/events-$n.md"
  echo
  if [[ $rc -ne 0 ]]; then
    echo "events_funnel.sh: engines disagree at N=$n (see $d/)" >&2
    status=1
  fi
done
exit $status
