#!/usr/bin/env bash
# Load benchmark of the HTTP service with wrk, loopback only, bounded in time.
#
# In one run, against one fresh server on a temporary data directory:
#   * the CEILING: `POST /v1/credentials/{id}/resolve-ceiling`, the same server, router,
#     layers, extractors and token check as a resolve, answering a fixed JSON without
#     touching the ledger (served only when CREDLEDGER_BENCH_CEILING=1, which this script
#     sets for its own server; off by default);
#   * durably audited resolves (`POST /v1/credentials/{id}/resolve`, each one a signed
#     `used` event fdatasync'd, with the head record, before the answer) at 1, 16, 64 and
#     256 connections, ceiling and resolve alternating at each connection count;
#   * creates/s and rotates/s at 32 connections;
# each with req/s, p50/p99, its ratio to the ceiling at the same connection count,
# events per sync (from /v1/ready) and the server's CPU per request (utime + stime of
# the server process from /proc, over the requests wrk counted).
#
#   cargo build --release && bash tools/loadbench.sh             # 10 s per run
#   DURATION=5s ROUNDS=2 bash tools/loadbench.sh                  # 2 alternating rounds
#   CONNS="16 64" WRITES=0 bash tools/loadbench.sh                # resolves at 16 and 64 only
#
# Needs wrk (apt-get install wrk), curl, jq and bc. The server and wrk share the machine,
# so on 2 cores the load generator takes part of the CPU the server could use; the
# ceiling pays the same cost, which is why every figure is also printed as a ratio to it.
set -euo pipefail
BIN=${CREDLEDGER_BIN:-target/release/credledger}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-1 16 64 256}   # connection counts of the resolve runs
WRITES=${WRITES:-1}           # 0: skip the create and rotate runs
for tool in wrk curl jq bc; do command -v "$tool" >/dev/null || { echo "loadbench: $tool is required" >&2; exit 2; }; done
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$PORT
CREDLEDGER_BENCH_CEILING=1 CREDLEDGER_LOG=warn "$BIN" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --admin-token-file "$WORK/token" >"$WORK/log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$API/v1/health" >/dev/null && break; sleep 0.1; done
TOKEN=$(cat "$WORK/token")
CRED=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X POST "$API/v1/credentials" \
  -d '{"name":"bench","template":"api_key","fields":{"api_key":"bench-secret"}}' | jq -r .id)
curl -sf -X POST -H "Authorization: Bearer $TOKEN" "$API/v1/credentials/$CRED/resolve-ceiling" >/dev/null ||
  { echo "loadbench: the server does not serve the ceiling endpoint" >&2; exit 2; }

RESULT_FN='done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.3f %.3f %.3f %d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end'
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or ""
$RESULT_FN
LUA
cat >"$WORK/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
-- setup runs once per thread in the main Lua state; thread:set defines the global "id" in
-- that thread's own state, so every thread creates distinct names.
setup = function(thread)
  counter = counter + 1
  thread:set("id", counter .. "-" .. os.time() .. "-" .. math.random(1000000))
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"name":"c-' .. id .. '-' .. n .. '","template":"api_key","fields":{"api_key":"v"}}')
end
$RESULT_FN
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
ready() { curl -sf "$API/v1/ready" | jq -r '"\(.events_committed) \(.syncs)"'; }
declare -A CEILING
run() { # label connections script url [body]
  local label=$1 c=$2 script=$3 url=$4 t=2
  [ "$c" -lt 2 ] && t=1
  local e0 s0 e1 s1 cpu0 cpu1 out
  read -r e0 s0 <<<"$(ready)"; cpu0=$(cpu_ticks)
  out=$(BODY=${5:-} timeout 120 wrk -t"$t" -c"$c" -d"$DURATION" --latency -s "$script" "$url" | grep RESULT)
  cpu1=$(cpu_ticks); read -r e1 s1 <<<"$(ready)"
  read -r _ n secs p50 p99 errors <<<"$out"
  local rate per_sync cpu_us ratio
  rate=$(echo "$n / $secs" | bc -l)
  cpu_us=$(echo "($cpu1 - $cpu0) * 10000 / ($n + 0.000001)" | bc -l)
  if [ "$label" = ceiling ]; then
    CEILING[$c]=$rate
    ratio="    -"; per_sync="    -"
  else
    ratio=$(printf '%5.2f' "$(echo "$rate / ${CEILING[$c]:-${CEILING[32]:-$rate}}" | bc -l)")
    per_sync=$(printf '%5.1f' "$(echo "($e1-$e0)/($s1-$s0+0.000001)" | bc -l)")
  fi
  printf '%-18s c=%-4s %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  x ceiling %s  events/sync %s  CPU %5.0f us/req  errors %d\n' \
    "$label" "$c" "$rate" "$p50" "$p99" "$ratio" "$per_sync" "$cpu_us" "$errors"
}
echo "credledger load benchmark ($DURATION per run, $ROUNDS round(s), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start)"
for round in $(seq "$ROUNDS"); do
  [ "$ROUNDS" -gt 1 ] && echo "round $round"
  for c in $CONNS; do
    run ceiling "$c" "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve-ceiling"
    run "resolve (durable)" "$c" "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve"
  done
  [ "$WRITES" = 0 ] && continue
  run ceiling 32 "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve-ceiling"
  run create 32 "$WORK/create.lua" "$API/v1/credentials"
  run rotate 32 "$WORK/post.lua" "$API/v1/credentials/$CRED/rotate" '{"fields":{"api_key":"rotated"}}'
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
