#!/usr/bin/env bash
# Profile of the durable resolve path: one fresh server on a temporary data directory and
# a loopback port, wrk sending durably audited resolves (`POST /v1/credentials/{id}/resolve`)
# at C connections for DURATION, and `perf record` of the server process meanwhile.
# Prints, per thread, context switches and CPU per request (from /proc/<pid>/task/*
# before and after the load; threads of one name summed), the share of samples by thread
# and the top symbols (self time, and with children for the ledger's own functions), and
# keeps perf.data in OUT. KIND=create sends creates (`POST /v1/credentials`) instead;
# PERF=0 skips perf (the counts alone, without its overhead).
#
#   cargo build --release && bash tools/profile.sh                 # c=64, 8 s
#   C=16 DURATION=5s OUT=/tmp/prof bash tools/profile.sh
#   PERF=0 DURATION=5s KIND=create bash tools/profile.sh
#
# Needs wrk, perf (Debian's linux-perf; not with PERF=0), curl and jq. Loopback only,
# bounded in time.
set -euo pipefail
BIN=${CREDLEDGER_BIN:-target/release/credledger}
DURATION=${DURATION:-8s}
C=${C:-64}
KIND=${KIND:-resolve}
PERF=${PERF:-1}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
case "$KIND" in resolve | create) ;; *) echo "profile: KIND is resolve or create" >&2; exit 2 ;; esac
tools="wrk curl jq"; [ "$PERF" = 0 ] || tools="$tools perf"
for tool in $tools; do command -v "$tool" >/dev/null || { echo "profile: $tool is required" >&2; exit 2; }; done
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
-- Each wrk thread has its own Lua state with the same unseeded math.random, so names are
-- made distinct per thread by setup (which runs in the main state, once per thread).
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("id", threads .. "-" .. os.time())
end
local n = 0
request = function()
  n = n + 1
  if "$KIND" == "create" then
    return wrk.format(nil, nil, nil, '{"name":"c-' .. id .. '-' .. n .. '","template":"api_key","fields":{"api_key":"v"}}')
  end
  return wrk.format(nil, nil, nil, "")
end
LUA
URL=$API/v1/credentials/$CRED/resolve
[ "$KIND" = create ] && URL=$API/v1/credentials
threads() { # name switches cpu-ticks, one line per thread name
  for t in /proc/$SERVER/task/*; do
    echo "$(tr ' ' '_' <"$t/comm") $(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status") $(awk '{print $14 + $15}' "$t/stat")"
  done | awk '{c[$1] += $2; u[$1] += $3} END {for (k in c) print k, c[k], u[k]}' | sort
}
# Warm up, then record the server only while wrk runs.
wrk -t2 -c"$C" -d2s -s "$WORK/post.lua" "$URL" >/dev/null
echo "profile: $KIND c=$C for $DURATION, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$PERF" != 0 ]; then
  perf record -q -F 199 --call-graph dwarf,16384 -p "$SERVER" -o "$OUT/perf.data" 2>/dev/null &
  PERF_PID=$!
  sleep 0.3
fi
threads >"$WORK/before"
wrk -t2 -c"$C" -d"$DURATION" --latency -s "$WORK/post.lua" "$URL" >"$WORK/wrk"
threads >"$WORK/after"
grep -E 'Requests/sec|99%|Non-2xx' "$WORK/wrk"
N=$(awk '/requests in/ {print $1}' "$WORK/wrk")
echo "--- per thread: context switches and CPU per request ($N requests)"
join "$WORK/before" "$WORK/after" | awk -v n="$N" -v hz="$(getconf CLK_TCK)" '{
  cs = $4 - $2; cpu = $5 - $3; tc += cs; tu += cpu
  printf "  %-20s switches/req %6.2f  CPU %7.1f us/req\n", $1, cs / n, cpu * 1e6 / hz / n
} END { printf "  %-20s switches/req %6.2f  CPU %7.1f us/req\n", "TOTAL", tc / n, tu * 1e6 / hz / n }'
[ "$PERF" = 0 ] && exit 0
kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
echo "--- samples by thread"
perf report -q -i "$OUT/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^$' | head -12
echo "--- top symbols, self"
perf report -q -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^$' | head -40
echo "--- the ledger's own functions, with children"
perf report -q -i "$OUT/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
  grep -E 'credledger::|sled::|ed25519|blake3|sha2' | head -40
echo "perf data: $OUT/perf.data"
