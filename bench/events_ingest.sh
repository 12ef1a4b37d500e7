#!/usr/bin/env bash
# events_ingest.sh — durable event ingest over HTTP: `tagbase serve` taking Segment /v1/batch
# requests of 100 track events each (~300 bytes per event with properties and context, a unique
# messageId per event made by the wrk script per request so deduplication keeps every one, HTTP
# Basic auth with a source's write key), answered only once the batch is fsynced (group commit).
# The ceiling is a private nginx answering 204 to the same requests (same wrk, same bodies).
#
#   bench/events_ingest.sh     (BUILD=build DURATION=10 THREADS="2 4 8" CONNECTIONS="8 32 64")
#   KEY_FILE=/tmp/bench.key bench/events_ingest.sh     the same with an encrypted data directory
#
# KEY_FILE (created with `tagbase key init` when missing; it must lie outside bench/out): every
# data directory is made under that key file, so the log records, checkpoint and partitions are
# sealed (docs/security.md, "Encryption at rest"); the script checks each one says it is encrypted.
#
# For every server thread count and connection count: a fresh data directory and server (so each
# run starts empty and the server's 60-second compaction never runs inside a measurement), the
# collector's counters (GET /api/v1/events/status with an auditor's token) before and after, and
# a check that the events the server accepted lie between 100 × the 2xx answers wrk read and
# 100 × the requests wrk sent (the difference is requests in flight when wrk stopped), with no
# duplicates and nothing quarantined, and that a restart (`tagbase events status` on the stopped
# server's data: checkpoint plus log replay) reports the same count. Before the runs, a replay
# check: the same batch sent twice is accepted once (100 accepted, then 100 duplicates), also
# after a restart.
# Prints Markdown tables; raw outputs in bench/out/events-ingest/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$PWD/$BUILD/tagbase"
dur=${DURATION:-10}
threads_list=${THREADS:-2 4 8}
conns_list=${CONNECTIONS:-8 32 64}
wrk_threads=${WRK_THREADS:-2}
out=$PWD/bench/out/events-ingest
command -v wrk >/dev/null || { echo "events_ingest.sh: wrk is missing (scripts/deps.sh bench)" >&2; exit 1; }
[[ -x /usr/sbin/nginx ]] || { echo "events_ingest.sh: nginx is missing" >&2; exit 1; }
[[ -x $bin ]] || { echo "events_ingest.sh: $bin is missing (make BUILD=$BUILD)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
if [[ -n ${KEY_FILE:-} ]]; then
  export TAGBASE_KEY_FILE=$KEY_FILE
  [[ -f $KEY_FILE ]] || "$bin" key init --data "$out/data-probe" >/dev/null
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# ---- the wrk script: 100 Segment track events per request, unique messageIds ----------------
# The body is a fixed template cut at every event's ids; per request the script fills in
# "<run>-<wrk thread>-<request>-<i>" as messageId and an anonymousId from a pool of 200,000
# devices; every fourth event also carries a login (userId from a pool of 50,000 customers).
ts=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
cat >"$out/batch.lua" <<'LUA'
local run, key = "r", ""
local parts = {}
local N = 100
local events = {"Transfer Completed", "Login", "Product Viewed", "Fund Purchased", "Bill Paid"}
local channels = {"mobile_app", "web", "mini_program"}

function init(args)
  run = args[1] or "r"
  key = args[2] or ""
  local ts = args[3]
  local tid = wrk.thread:get("id") or 0
  run = run .. "-" .. tid
  -- parts[2k-1] is the text before event k's messageId, completed per request
  for i = 1, N do
    local ev = events[(i % #events) + 1]
    parts[#parts + 1] = (i == 1 and '{"batch":[' or ',') ..
      '{"type":"track","event":"' .. ev .. '","timestamp":"' .. ts .. '",' ..
      '"properties":{"amount":' .. (i * 37 % 50000) .. '.25,"currency":"CNY","channel":"' ..
      channels[(i % 3) + 1] .. '","success":true},' ..
      '"context":{"app":{"version":"6.3.1"},"os":{"name":"Android"}},"messageId":"'
    parts[#parts + 1] = "" -- the ids, filled per request
  end
  parts[#parts + 1] = '],"sentAt":"' .. ts .. '"}'
  wrk.method = "POST"
  wrk.path = "/v1/batch"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic " .. key
end

-- globals, so that done() can read them through thread:get
sent, ok2xx, other = 0, 0, 0

function request()
  sent = sent + 1
  local base = run .. "-" .. sent .. "-"
  for i = 1, N do
    local n = sent * N + i
    local s = base .. i .. '","anonymousId":"d' .. (n % 200000)
    if i % 4 == 0 then s = s .. '","userId":"C' .. (100000 + n % 50000) end
    parts[2 * i] = s .. '"}'
  end
  local body = table.concat(parts)
  if sent == 1 and run:sub(-2) == "-0" then io.write("LUA body_bytes=" .. #body .. "\n") end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok2xx = ok2xx + 1 else other = other + 1 end
end

local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local s, o, x = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); o = o + t:get("ok2xx"); x = x + t:get("other")
  end
  io.write(string.format("LUA sent=%d ok2xx=%d other=%d\n", s, o, x))
end
LUA

# ---- helpers ------------------------------------------------------------------------------------
status_json() { # PORT TOKEN -> the collector's counters as "accepted duplicates quarantined records fsyncs"
  curl -sf -H "Authorization: Bearer $2" "http://127.0.0.1:$1/api/v1/events/status" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
      console.log(j.events.accepted, j.events.duplicates, j.events.quarantined,
                  j.log.records_since_open, j.log.fsyncs_since_open)})'
}

start_server() { # THREADS -> sets port, spid, data, key, token
  local t=$1
  data=$out/data-t$t
  rm -rf "$data"
  "$bin" init --data "$data" >/dev/null
  if [[ -n ${KEY_FILE:-} ]]; then
    "$bin" status --json --data "$data" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>
      process.exit(JSON.parse(s).encryption.encrypted ? 0 : 1))' ||
      { echo "events_ingest.sh: $data is not encrypted under $KEY_FILE" >&2; exit 1; }
  fi
  key=$("$bin" events source add bench --data "$data" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).write_key))')
  printf 'bench-auditor-password-1\n' |
    "$bin" user add bench-auditor --role auditor --password-stdin --data "$data" >/dev/null
  token=$("$bin" user token create bench-auditor --name bench --days 1 --data "$data" 2>/dev/null)
  "$bin" serve --data "$data" --listen 127.0.0.1:0 --threads "$t" --web none \
    >"$out/serve-t$t.out" 2>"$out/serve-t$t.log" &
  spid=$!
  pids+=("$spid")
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$out/serve-t$t.out" | head -1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "events_ingest.sh: the server did not start:" >&2; cat "$out/serve-t$t.log" >&2; exit 1; }
}

stop_server() { # -> sets reopened: the accepted count after a restart (checkpoint + log replay)
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  reopened=$("$bin" events status --data "$data" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).events.accepted))')
  rm -rf "$data"
}

run_wrk() { # NAME PORT CONNS RUNID -> sets rps p50 p99 sent ok2xx other (raw output in NAME.txt)
  local name=$1 p=$2 c=$3 runid=$4
  local auth
  auth=$(printf '%s:' "$key" | base64 -w0)
  wrk -t"$wrk_threads" -c"$c" -d"${dur}s" --latency -s "$out/batch.lua" \
    "http://127.0.0.1:$p/v1/batch" -- "$runid" "$auth" "$ts" >"$out/$name.txt" 2>&1
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out/$name.txt")
  p50=$(awk '$1=="50%" {print $2}' "$out/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$out/$name.txt")
  read -r sent ok2xx other < <(sed -n 's/^LUA sent=\([0-9]*\) ok2xx=\([0-9]*\) other=\([0-9]*\)/\1 \2 \3/p' "$out/$name.txt")
}

# ---- the replay check: one batch twice is stored once --------------------------------------------
start_server 2
body=$(node -e '
const ev = i => ({type: "track", event: "Transfer Completed", messageId: "replay-" + i, anonymousId: "d" + i,
  timestamp: process.argv[1], properties: {amount: i, currency: "CNY"}});
console.log(JSON.stringify({batch: Array.from({length: 100}, (_, i) => ev(i))}))' "$ts")
a1=$(curl -sf -u "$key:" -H 'Content-Type: application/json' --data-binary "$body" "http://127.0.0.1:$port/v1/batch")
a2=$(curl -sf -u "$key:" -H 'Content-Type: application/json' --data-binary "$body" "http://127.0.0.1:$port/v1/batch")
echo "replay check: first $a1, second $a2" | tee "$out/replay.txt"
[[ $a1 == *'"accepted": 100'* || $a1 == *'"accepted":100'* ]] || { echo "events_ingest.sh: replay check failed" >&2; exit 1; }
[[ $a2 == *'"duplicates": 100'* || $a2 == *'"duplicates":100'* ]] || { echo "events_ingest.sh: replay check failed" >&2; exit 1; }
stop_server
[[ $reopened == 100 ]] || { echo "events_ingest.sh: after a restart $reopened events, expected 100" >&2; exit 1; }

# ---- tagbase ----------------------------------------------------------------------------------------
echo "machine: $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${KEY_FILE:-} ]]; then echo "data directories: encrypted under $KEY_FILE"; else echo "data directories: plaintext"; fi
echo "### tagbase serve: POST /v1/batch, 100 Segment track events per request, durable (wrk -t$wrk_threads -d${dur}s)"
echo
echo "| server threads | connections | requests/s | events/s | p50 | p99 | fsyncs/s | events per fsync | server CPU (cores) | server CPU µs per event | accepted = 100 × answered (+ in flight) | non-2xx |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
for t in $threads_list; do
  for c in $conns_list; do
    start_server "$t"
    read -r acc0 dup0 quar0 rec0 fs0 < <(status_json "$port" "$token")
    cpu0=$(awk '{print $14 + $15}' "/proc/$spid/stat")
    run_wrk "tagbase-t$t-c$c" "$port" "$c" "t$t-c$c"
    sleep 0.5 # requests wrk abandoned at its end may still be in the server: let them finish
    cpu1=$(awk '{print $14 + $15}' "/proc/$spid/stat")
    read -r acc1 dup1 quar1 rec1 fs1 < <(status_json "$port" "$token")
    tck=$(getconf CLK_TCK)
    cores=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$tck" -v d="$dur" 'BEGIN {printf "%.2f", (b - a) / t / d}')
    acc=$((acc1 - acc0)); fs=$((fs1 - fs0))
    lo=$((ok2xx * 100)); hi=$((sent * 100))
    if ((acc >= lo && acc <= hi && dup1 == dup0 && quar1 == quar0)); then
      check="ok: $acc = 100 × $ok2xx + $((acc - lo)) in flight"
    else
      check="**MISMATCH**: accepted $acc, answered $ok2xx, sent $sent, duplicates $((dup1 - dup0)), quarantined $((quar1 - quar0))"
    fi
    ev=$(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 100}')
    fps=$(awk -v f="$fs" -v d="$dur" 'BEGIN {printf "%.0f", f / d}')
    epf=$(awk -v a="$acc" -v f="$fs" 'BEGIN {printf "%.0f", f ? a / f : 0}')
    usev=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$tck" -v n="$acc" 'BEGIN {printf "%.1f", n ? (b - a) / t * 1e6 / n : 0}')
    stop_server
    [[ $reopened == "$acc1" ]] || check="$check; **after a restart: $reopened accepted, before: $acc1**"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$c" "$rps" "$ev" "$p50" "$p99" "$fps" "$epf" "$cores" "$usev" "$check" "$other"
  done
done

# ---- nginx: 204 for the same requests ---------------------------------------------------------------
ng=$out/nginx
mkdir -p "$ng/tmp"
ngport=$(free_port)
cat >"$ng/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_max_body_size 1m;
  client_body_buffer_size 64k;
  client_body_temp_path $ng/tmp; proxy_temp_path $ng/tmp; fastcgi_temp_path $ng/tmp;
  uwsgi_temp_path $ng/tmp; scgi_temp_path $ng/tmp;
  server { listen 127.0.0.1:$ngport; location / { return 204; } }
}
CONF
/usr/sbin/nginx -c "$ng/nginx.conf" -p "$ng" &
ngpid=$!
pids+=("$ngpid")
sleep 0.5
key=nginx
echo
echo "### nginx 1.22 answering 204 to the same requests (the HTTP ceiling; 2 workers)"
echo
echo "| connections | requests/s | events/s | p50 | p99 | non-2xx |"
echo "|---:|---:|---:|---:|---:|---:|"
for c in $conns_list; do
  run_wrk "nginx-c$c" "$ngport" "$c" "ng-c$c"
  ev=$(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 100}')
  printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$rps" "$ev" "$p50" "$p99" "$other"
done
echo
bb=$(sed -n 's/^LUA body_bytes=//p' "$out/nginx-c${conns_list##* }.txt" | head -1)
echo "request body: ${bb:-?} bytes (${bb:+$((bb / 100))} bytes per event); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw wrk outputs and server logs in $out/"
