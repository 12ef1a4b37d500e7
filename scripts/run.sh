#!/usr/bin/env bash
# run.sh — the main job behind `make run`: a data directory with the default data standards, demo
# data when there is none, every batch in the landing area loaded through the five-module pipeline
# (once), the default tag catalog published (the demo acts as two people: a tag developer who
# submits, a data steward who approves), the tags of every loaded batch built, and the pipeline's
# status; then the server (`tagbase serve`, the HTTP/JSON API on TAGBASE_LISTEN, default
# 127.0.0.1:8080) runs in the foreground until Ctrl-C (TAGBASE_SERVE=0 skips it). On its first
# start it creates the user admin and prints a one-time password once. (The web console joins it
# when it exists.)
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

"$bin" init --data "$data"
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

if [[ ${TAGBASE_SERVE:-1} == 1 ]]; then
  echo "run: starting the server (Ctrl-C stops it); API at http://${TAGBASE_LISTEN:-127.0.0.1:8080}/api/v1/"
  exec "$bin" serve --data "$data" --listen "${TAGBASE_LISTEN:-127.0.0.1:8080}"
fi
