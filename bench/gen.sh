#!/usr/bin/env bash
# gen.sh — times `tagbase gen --customers 1000000` (threads 1 vs 2) with hyperfine when present,
# else /usr/bin/time, and prints the results. Output goes to a temp dir that is removed after.
#   BUILD=build bench/gen.sh        CUSTOMERS=1000000 to change the size
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN="$PWD/$BUILD/tagbase"
N=${CUSTOMERS:-1000000}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tb-bench-gen-XXXXXX")
trap 'rm -rf "$OUT"' EXIT
[[ -x "$BIN" ]] || { echo "gen.sh: build $BIN first (make BUILD=$BUILD)" >&2; exit 1; }

echo "tagbase gen --customers $N (seed 42, batch 20261121, hive), $(nproc) cores"
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --warmup 0 --runs 3 --prepare "rm -rf $OUT/b" \
    -n "threads 1" "$BIN gen --customers $N --seed 42 --date 20261121 --threads 1 --out $OUT/b" \
    -n "threads 2" "$BIN gen --customers $N --seed 42 --date 20261121 --threads 2 --out $OUT/b"
else
  for t in 1 2; do
    rm -rf "$OUT/b"
    /usr/bin/time -f "threads $t: %e s wall, %U s user, %S s sys, %M KiB max RSS" \
      "$BIN" gen --customers "$N" --seed 42 --date 20261121 --threads "$t" --out "$OUT/b" 2>&1 |
      grep -v '^tagbase gen:'
  done
  echo "output: $(du -sh "$OUT/b" | cut -f1), $(cat "$OUT"/b/*.txt "$OUT"/b/*.jsonl | wc -l) lines"
fi
