#!/usr/bin/env bash
# server.sh — requests per second and p99 latency of the HTTP API (`tagbase serve`) for a segment
# count and a 360-degree view, with wrk on 127.0.0.1, against an nginx static-file response as the
# ceiling of this machine (same wrk settings). A bank of CUSTOMERS customers is generated, loaded
# and its tags built once; an analyst's API token is used (the route's real authorisation, scope
# and masking run on every request).
#
#   bench/server.sh [CUSTOMERS]   (default 100000; BUILD=build DURATION=10 CONNECTIONS=32 ROUNDS=3)
# Prints one Markdown table; the raw wrk outputs go to bench/out/server-N/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$PWD/$BUILD/tagbase"
n=${1:-100000}
dur=${DURATION:-10}
conns=${CONNECTIONS:-32}
out=$PWD/bench/out/server-$n
data=$out/data
scripts/deps.sh bench >/dev/null
command -v wrk >/dev/null || { echo "server.sh: wrk is missing (scripts/deps.sh bench)" >&2; exit 1; }
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { echo "server.sh: nginx is missing" >&2; exit 1; }

if [[ ! -f $out/ready ]]; then
  rm -rf "$out"
  mkdir -p "$out"
  "$bin" gen --customers "$n" --seed 11 --date 20261121 --out "$out/land" >/dev/null
  "$bin" init --data "$data" >/dev/null
  "$bin" standard load standards/default.json --data "$data" >/dev/null
  "$bin" load "$out/land" --data "$data" >/dev/null
  "$bin" tag load catalog/default.json --data "$data" --user bench-dev >/dev/null
  "$bin" tag submit --all --data "$data" --user bench-dev >/dev/null
  "$bin" tag approve --all --data "$data" --user bench-steward >/dev/null
  "$bin" tag build --data "$data" >/dev/null
  printf 'bench-analyst-password\n' | "$bin" user add analyst --role analyst --password-stdin --data "$data" >/dev/null
  "$bin" user token create analyst --name bench --days 1 --data "$data" >"$out/token"
  # a customer to look at: the first of the customer master
  head -2 "$out/land/customers.txt" | tail -1 | cut -d $'\x01' -f1 >"$out/customer"
  touch "$out/ready"
fi
# A load test reads one customer hundreds of thousands of times: far over the abnormal-access
# rate that would block a real user. Raise it for the analyst's test run, and clear any block.
"$bin" config set security.alert.view360_per_hour 1000000000 --data "$data" >/dev/null
"$bin" alert clear analyst --data "$data" >/dev/null 2>&1 || true
token=$(cat "$out/token")
customer=$(cat "$out/customer")

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# tagbase serve on a free port
"$bin" serve --data "$data" --listen 127.0.0.1:0 --threads 2 >"$out/serve.out" 2>"$out/serve.log" &
pids+=($!)
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$out/serve.out" | head -1)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "server.sh: the server did not start:" >&2; cat "$out/serve.log" >&2; exit 1; }

# nginx: one static JSON file of the size of a count answer, on its own free port
ng=$out/nginx
mkdir -p "$ng/html" "$ng/tmp"
echo '{"count":12345,"batch_date":"20261121"}' >"$ng/html/count.json"
ngport=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
cat >"$ng/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $ng/tmp; proxy_temp_path $ng/tmp; fastcgi_temp_path $ng/tmp;
  uwsgi_temp_path $ng/tmp; scgi_temp_path $ng/tmp;
  server { listen 127.0.0.1:$ngport; root $ng/html; }
}
CONF
/usr/sbin/nginx -c "$ng/nginx.conf" -p "$ng" &
pids+=($!)
sleep 0.5

cat >"$out/count.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"expr":"aum_level in (\'L4\',\'L5\') and not churn_high and age between 30 and 45"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
cat >"$out/view.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

# check once that both routes answer 200 before loading them
curl_ok() { node -e "
const [url, method, body] = process.argv.slice(1);
fetch(url, {method, body: body || undefined, headers: {'Authorization': 'Bearer $token', 'Content-Type': 'application/json'}})
  .then(async r => { if (r.status !== 200) { console.error(url, r.status, await r.text()); process.exit(1) } })
  .catch(e => { console.error(e.message); process.exit(1) })" "$@"; }
curl_ok "http://127.0.0.1:$port/api/v1/segments/count" POST \
  '{"expr":"aum_level in ('"'"'L4'"'"','"'"'L5'"'"') and not churn_high and age between 30 and 45"}'
curl_ok "http://127.0.0.1:$port/api/v1/customers/$customer" GET

spid=${pids[0]}
# The server's anonymous memory (heap, stacks; MB): file-backed pages of the mapped tag stores
# are the page cache's, bounded by the files.
rss() { awk '/^RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$spid/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$spid/status"; }
run_wrk() { # FILE NAME URL [SCRIPT]; the server's RSS before and after (memory stays flat)
  local file=$1 name=$2 url=$3 script=${4:-} before after
  before=$(rss)
  wrk -t2 -c"$conns" -d"${dur}s" --latency ${script:+-s "$script"} "$url" >"$out/$file.txt"
  after=$(rss)
  local rps p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out/$file.txt")
  p99=$(awk '$1=="99%" {print $2}' "$out/$file.txt")
  errs=$(awk '/Non-2xx/ {print $NF}' "$out/$file.txt")
  if [[ $file == nginx ]]; then before=-; after=-; fi
  printf '| %s | %s | %s | %s | %s → %s |\n' "$name" "$rps" "$p99" "${errs:-0}" "$before" "$after"
}
echo "### tagbase serve, $n customers: wrk -t2 -c$conns -d${dur}s on 127.0.0.1 (server: 2 threads)"
echo
echo "| request | requests/s | p99 | non-2xx | server anonymous RSS MB before → after |"
echo "|---|---:|---:|---:|---:|"
run_wrk nginx "nginx static file (ceiling)" "http://127.0.0.1:$ngport/count.json"
for round in $(seq 1 "${ROUNDS:-3}"); do # the same load again and again: a leak would show as RSS growing per round
  run_wrk "count-$round" "POST /api/v1/segments/count (the issue's example expression), round $round" "http://127.0.0.1:$port/api/v1/segments/count" "$out/count.lua"
  run_wrk "view360-$round" "GET /api/v1/customers/{id} (360 view), round $round" "http://127.0.0.1:$port/api/v1/customers/$customer" "$out/view.lua"
done
echo
echo "server peak RSS (VmHWM): $(hwm) MB; raw wrk outputs in $out/"
