#!/usr/bin/env bash
# Load benchmark of the HTTP service with wrk: durably audited resolves/s and latency
# percentiles at concurrency 1, 32 and 256, then creates/s and rotations/s. Every
# resolve appends a `used` event that is fdatasync'd (group commit) before the answer.
#
#   cargo build --release && bash tools/loadbench.sh            # 10 s per run
#   DURATION=30s bash tools/loadbench.sh
#
# Needs wrk (apt-get install wrk), curl and jq. The server and wrk share the machine, so
# on 2 cores the load generator takes part of the CPU the server could use.
set -euo pipefail
BIN=${CREDLEDGER_BIN:-target/release/credledger}
DURATION=${DURATION:-10s}
for tool in wrk curl jq; do command -v "$tool" >/dev/null || { echo "loadbench: $tool is required" >&2; exit 2; }; done
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$PORT
CREDLEDGER_LOG=warn "$BIN" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --admin-token-file "$WORK/token" >"$WORK/log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$API/v1/health" >/dev/null && break; sleep 0.1; done
TOKEN=$(cat "$WORK/token")
CRED=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X POST "$API/v1/credentials" \
  -d '{"name":"bench","template":"api_key","fields":{"api_key":"bench-secret"}}' | jq -r .id)

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or ""
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d (non-2xx %d)\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
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
  thread:set("id", counter .. "-" .. os.time())
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"name":"c-' .. id .. '-' .. n .. '","template":"api_key","fields":{"api_key":"v"}}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d (non-2xx %d)\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
LUA

run() { # label connections threads script url [body]
  local label=$1 c=$2 t=$3 script=$4 url=$5
  local before after
  before=$(curl -sf "$API/v1/ready" | jq -r '"\(.events_committed) \(.syncs)"')
  local out
  out=$(BODY=${6:-} wrk -t"$t" -c"$c" -d"$DURATION" --latency -s "$script" "$url" | grep RESULT)
  after=$(curl -sf "$API/v1/ready" | jq -r '"\(.events_committed) \(.syncs)"')
  read -r e0 s0 <<<"$before"; read -r e1 s1 <<<"$after"
  printf '%-22s c=%-4s %s  events/sync %.1f\n' "$label" "$c" "${out#RESULT }" "$(echo "($e1-$e0)/($s1-$s0+0.000001)" | bc -l)"
}
echo "credledger load benchmark ($DURATION per run, $(nproc) cores)"
run "resolve (durable)" 1 1 "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve"
run "resolve (durable)" 32 2 "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve"
run "resolve (durable)" 256 2 "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve"
run "create" 32 2 "$WORK/create.lua" "$API/v1/credentials"
run "rotate" 32 2 "$WORK/post.lua" "$API/v1/credentials/$CRED/rotate" '{"fields":{"api_key":"rotated"}}'
