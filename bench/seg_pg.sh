#!/usr/bin/env bash
# seg_pg.sh — the PostgreSQL 15 column of bench/segments.sh: a private throwaway cluster (initdb
# into a temp directory owned by the postgres OS user, port 55432 on 127.0.0.1 only), the
# benchmark's customers built with SQL from generate_series (bench/seg_pg.sql: the formula of
# bench/seg_floor.c; columns t1..t10 boolean, age, amt, v10, cust_no), VACUUM FREEZE ANALYZE,
# the table read into shared buffers (pg_prewarm), then every query of bench/seg_queries.json
# timed with psql's \timing (one warm-up, median of RUNS; parallel workers as configured by
# default). The export is a server-side COPY to a CSV file in the cluster's directory, read back
# to check its rows, id sum and age sum. The cluster is stopped and its directory removed on exit.
#
#   bench/seg_pg.sh N RUNS QUERIES.json      (prints JSON lines like bench/seg_duckdb.mjs)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: seg_pg.sh N RUNS QUERIES.json}
runs=${2:?usage: seg_pg.sh N RUNS QUERIES.json}
queries=${3:?usage: seg_pg.sh N RUNS QUERIES.json}
port=${PGPORT_SEG:-55432}
bin=/usr/lib/postgresql/15/bin
if [[ ! -x $bin/initdb || ! -x $bin/psql ]]; then
  scripts/deps.sh pg >&2 || { echo "seg_pg: postgresql-15 could not be installed" >&2; exit 3; }
fi

dir=$(mktemp -d /tmp/seg-pg.XXXXXX)
chown postgres: "$dir"
pid=
cleanup() {
  if [[ -n $pid ]]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; sleep 2; fi
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The table is about 70 bytes a row; shared buffers hold it whole with room (a seq scan of a table
# over a quarter of shared_buffers would otherwise cycle through a small ring).
sb_mb=$((n / 1000000 * 70 * 2 + 256))
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C \
  --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 120 -o "-p $port \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c shared_buffers=${sb_mb}MB \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=8GB \
  -c work_mem=256MB -c maintenance_work_mem=1GB -c jit=off" start >/dev/null
pid=$(head -1 "$dir/data/postmaster.pid")
psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres)

t0=$(date +%s%N)
"${psql[@]}" -v n="$n" -f bench/seg_pg.sql >/dev/null
build_ms=$((($(date +%s%N) - t0) / 1000000))
read -r version size workers < <("${psql[@]}" -At -F ' ' -c "SELECT split_part(current_setting('server_version'), ' ', 1),
  pg_total_relation_size('c'), current_setting('max_parallel_workers_per_gather')")
printf '{"engine":"pg","n":%s,"version":"%s","build_ms":%s,"table_bytes":%s,"shared_buffers_mb":%s,"max_parallel_workers_per_gather":%s,"jit":"off"}\n' \
  "$n" "$version" "$build_ms" "$size" "$sb_mb" "$workers"

# One line per query: name, kind, by, columns, sql (separated by \x1f, which keeps empty fields).
node -e '
  for (const q of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
    console.log([q.name, q.kind, q.by || "", (q.columns || []).join(", "), q.sql].join("\x1f"));
' "$queries" >"$dir/queries.txt"

while IFS=$'\x1f' read -r name kind by columns where; do
  case $kind in
    count) sql="SELECT count(*) FROM c WHERE $where" ;;
    profile) sql="SELECT $by, count(*) FROM c WHERE $where GROUP BY $by ORDER BY $by" ;;
    export) sql="COPY (SELECT $columns FROM c WHERE $where) TO '$dir/pg-$name.csv' WITH (FORMAT csv, HEADER)" ;;
    *) echo "seg_pg: unknown kind '$kind' of query $name" >&2; exit 1 ;;
  esac
  { echo '\timing on'; for _ in $(seq 0 "$runs"); do echo "$sql;"; done; } >"$dir/q.sql"
  "${psql[@]}" -At -F ' ' -f "$dir/q.sql" >"$dir/q.out"
  # Run 0 is the warm-up; its result rows are the lines before the first "Time:" line.
  stats=$(grep '^Time: ' "$dir/q.out" | awk 'NR > 1 { print $2 }' | sort -n |
    awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
      printf "\"median_ms\":%.3f,\"min_ms\":%.3f,\"runs\":%d", m, v[1], NR }')
  result=$(awk '/^Time: / { exit } { print }' "$dir/q.out")
  case $kind in
    count) extra="\"count\":$result" ;;
    profile)
      extra=$(echo "$result" | awk '{ s += $2; p = p (NR > 1 ? "," : "") "\"" $1 "\":" $2 }
        END { printf "\"count\":%d,\"profile\":{%s}", s, p }') ;;
    export)
      extra=$(awk -F, 'NR > 1 { rows++; ids += substr($1, 2) + 0; ages += $2 }
        END { printf "\"count\":%d,\"idsum\":\"%.0f\",\"agesum\":\"%.0f\"", rows, ids, ages }' "$dir/pg-$name.csv") ;;
  esac
  echo "{\"name\":\"$name\",$stats,$extra}"
done <"$dir/queries.txt"
