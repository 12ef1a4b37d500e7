#!/usr/bin/env bash
# run.sh — the main job behind `make run`: a data directory with the default data standards, demo
# data when there is none, every batch in the landing area loaded through the five-module pipeline
# (once), the default tag catalog published (the demo acts as two people: a tag developer who
# submits, a data steward who approves), the tags of every loaded batch built, and the pipeline's
# status; the demo app's events imported through the event collector; then the server (`tagbase serve`, the HTTP/JSON API on TAGBASE_LISTEN, default
# 127.0.0.1:8080) runs in the foreground until Ctrl-C (TAGBASE_SERVE=0 skips it). On its first
# start it creates the user admin and prints a one-time password once. The server also serves the
# web console (web/dist, built by `make web` before this script runs) at http://TAGBASE_LISTEN/.
#
# Encryption at rest (docs/security.md): the key file is TAGBASE_KEY_FILE, default the data
# directory's path + ".key" beside it (./tagbase-data.key), outside the directory; it is created
# when missing, and a data directory made before it existed is encrypted once by `key rotate`.
#
# Environment: TAGBASE_DATA (default ./tagbase-data), TAGBASE_DEMO_CUSTOMERS (default 1000000),
# TAGBASE_DEMO_SEED (42), TAGBASE_DEMO_DATE (20261121), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$PWD/$BUILD/tagbase"
data=${TAGBASE_DATA:-./tagbase-data}
customers=${TAGBASE_DEMO_CUSTOMERS:-1000000}
seed=${TAGBASE_DEMO_SEED:-42}
date=${TAGBASE_DEMO_DATE:-20261121}
landing="$data/landing/$date"

# The key file, outside the data directory; every tagbase command below reads TAGBASE_KEY_FILE.
export TAGBASE_KEY_FILE=${TAGBASE_KEY_FILE:-${data%/}.key}
if [[ ! -f $TAGBASE_KEY_FILE ]]; then
  "$bin" key init --data "$data"
fi
"$bin" init --data "$data"
if "$bin" status --json --data "$data" | grep -q '"pending": true'; then
  echo "run: '$data' keeps C2 fields in clear: encrypting them under $TAGBASE_KEY_FILE"
  "$bin" key rotate --data "$data"
fi
"$bin" standard load standards/default.json --data "$data"

if ! compgen -G "$data/landing/*/manifest.json" >/dev/null; then
  echo "run: no extracts in '$data/landing': generating a demo bank of $customers customers (seed $seed, batch $date)"
  rm -rf "$landing" # a half-written directory from an interrupted run (it has no manifest)
  start=$(date +%s)
  "$bin" gen --customers "$customers" --seed "$seed" --date "$date" --dirty 0.001 --out "$landing"
  echo "run: generated in $(( $(date +%s) - start )) s"
fi

for dir in "$data"/landing/*/; do
  [[ -f "$dir/manifest.json" ]] || continue
  batch=$(basename "$dir")
  if "$bin" pipeline status --batch "$batch" --data "$data" >/dev/null 2>&1; then
    echo "run: batch $batch is loaded already (tagbase load to load it again)"
    continue
  fi
  "$bin" scan --data "$data" "${dir%/}" >/dev/null # inventory: every file there, as the manifest says
  "$bin" load --data "$data" "${dir%/}" || echo "run: some files of batch $batch were rejected (see above)"
done

# The tag centre: the default catalog, submitted and approved by two different people (maker-checker).
"$bin" tag load catalog/default.json --data "$data" --user demo-developer
drafts=$("$bin" tag list --status draft --json --data "$data")
if [[ $drafts == *'"code"'* ]]; then
  "$bin" tag submit --all --data "$data" --user demo-developer >/dev/null
fi
reviews=$("$bin" tag list --status in_review --json --data "$data")
if [[ $reviews == *'"code"'* ]]; then
  "$bin" tag approve --all --data "$data" --user demo-steward --comment "demo catalog"
fi
for dir in "$data"/landing/*/; do
  batch=$(basename "$dir")
  "$bin" pipeline status --batch "$batch" --data "$data" >/dev/null 2>&1 || continue
  if "$bin" seg count "age >= 0 or age is null" --as-of "$batch" --data "$data" >/dev/null 2>&1; then
    echo "run: tags of batch $batch are built already (tagbase tag build --batch $batch to build again)"
    continue
  fi
  "$bin" tag build --batch "$batch" --data "$data"
done
"$bin" pipeline status --data "$data"

# Event tracking (docs/collector.md): the demo app as a source (its write key is printed once, for
# trying an SDK against the server), its tracking plan, the real-time tag rules, and the app events
# of each batch imported through the collector and compacted into day partitions (once per batch).
if ! "$bin" events source list --data "$data" | grep -q '"name": "mbank-app"'; then
  "$bin" events source add mbank-app --project default --data "$data"
  "$bin" events plan load mbank-app catalog/tracking_plan.json --data "$data" >/dev/null
  "$bin" events rules load catalog/realtime_rules.json --data "$data" >/dev/null
fi
for dir in "$data"/landing/*/; do
  batch=$(basename "$dir")
  [[ -f "${dir%/}/events.jsonl" && ! -f "$data/events/imported-$batch" ]] || continue
  "$bin" events import "${dir%/}/events.jsonl" --source mbank-app --data "$data"
  "$bin" events compact --data "$data" >/dev/null
  touch "$data/events/imported-$batch"
done

if [[ ${TAGBASE_SERVE:-1} == 1 ]]; then
  echo "run: starting the server (Ctrl-C stops it); console at http://${TAGBASE_LISTEN:-127.0.0.1:8080}/, API at /api/v1/"
  exec "$bin" serve --data "$data" --listen "${TAGBASE_LISTEN:-127.0.0.1:8080}" --web web/dist
fi
