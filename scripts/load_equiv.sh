#!/usr/bin/env bash
# load_equiv.sh — checks that two tagbase binaries load a batch to the same result: the
# master-data tables, the quarantine and the per-file and per-rule counts, the load summary
# (timings aside), every domain segment and every snapshot column file. For performance work on
# the pipeline: a faster load must not load differently.
#
#   scripts/load_equiv.sh OLD_BIN NEW_BIN [CUSTOMERS]   (default 1000000; the batch is the one
#                                                      bench/pipeline.sh generates, made if missing)
# Exits 1 and names what differs.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 n=${3:-1000000}
batch=bench/out/pipeline-$n/batch
if [[ ! -f $batch/manifest.json ]]; then
  mkdir -p "$(dirname "$batch")"
  "$b" gen --customers "$n" --seed 7 --date 20261121 --dirty 0.001 --out "$batch" 2>/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
queries=(
  "SELECT * FROM party ORDER BY gid"
  "SELECT * FROM party_key ORDER BY system, key"
  "SELECT gid, batch_date, load_id, field, old_value, new_value, source FROM party_history ORDER BY id"
  "SELECT gid, batch_date, load_id, field, value_a, source_a, value_b, source_b, chosen FROM party_conflict ORDER BY id"
  "SELECT * FROM party_relation ORDER BY gid, rel_type, target"
  "SELECT batch_date, file, line, field, value, rule FROM quarantine ORDER BY file, line"
  "SELECT file, rule, field, count FROM load_rule ORDER BY file, rule, field"
  "SELECT file, business_type, data_kind, source_system, acquired, valid, rejected, warnings, aggregated, transmitted, allocated, collected, completeness, validity, uniqueness, error FROM load_file ORDER BY file"
)
for v in a b; do
  bin=${!v}
  "$bin" init --data "$work/$v" >/dev/null
  "$bin" standard load standards/default.json --data "$work/$v" >/dev/null
  "$bin" load --data "$work/$v" --json "$batch" >"$work/$v.json" 2>/dev/null || true
  node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1]));
    console.log(JSON.stringify(s,(k,v)=>["seconds","load_id"].includes(k)?undefined:v))' \
    "$work/$v.json" >"$work/$v.summary"
  for q in "${queries[@]}"; do sqlite3 "$work/$v/meta.db" "$q" | md5sum; done >"$work/$v.tables"
done
bad=0
cmp -s "$work/a.summary" "$work/b.summary" || { echo "load summaries differ"; bad=1; }
cmp -s "$work/a.tables" "$work/b.tables" || { echo "tables differ (master data, quarantine, counts)"; paste "$work/a.tables" "$work/b.tables"; bad=1; }
files=0
while IFS= read -r f; do
  files=$((files + 1))
  cmp -s "$work/a/$f" "$work/b/$f" || { echo "differs: $f"; bad=1; }
done < <(cd "$work/b" && find domains snapshots -type f | sort)
echo "$files files compared; $( ((bad)) && echo DIFFERENT || echo same)"
exit $bad
