#!/usr/bin/env bash
# Profile of the durable resolve path: one fresh server on a temporary data directory and
# a loopback port, wrk sending durably audited resolves (`POST /v1/credentials/{id}/resolve`)
# at C connections for DURATION, and `perf record` of the server process meanwhile.
# Prints the share of samples by thread and the top symbols (self time, and with children
# for the ledger's own functions), and keeps perf.data in OUT.
#
#   cargo build --release && bash tools/profile.sh                 # c=64, 8 s
#   C=16 DURATION=5s OUT=/tmp/prof bash tools/profile.sh
#
# Needs wrk, perf (Debian's linux-perf), curl and jq. Loopback only, bounded in time.
set -euo pipefail
BIN=${CREDLEDGER_BIN:-target/release/credledger}
DURATION=${DURATION:-8s}
C=${C:-64}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
for tool in wrk perf curl jq; do command -v "$tool" >/dev/null || { echo "profile: $tool is required" >&2; exit 2; }; done
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
LUA
# Warm up, then record the server only while wrk runs.
wrk -t2 -c"$C" -d2s -s "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve" >/dev/null
echo "profile: c=$C for $DURATION, load average $(cut -d' ' -f1-3 /proc/loadavg)"
perf record -q -F 199 --call-graph dwarf,16384 -p "$SERVER" -o "$OUT/perf.data" 2>/dev/null &
PERF=$!
sleep 0.3
wrk -t2 -c"$C" -d"$DURATION" --latency -s "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve" | grep -E 'Requests/sec|99%'
kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true
echo "--- samples by thread"
perf report -q -i "$OUT/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^$' | head -12
echo "--- top symbols, self"
perf report -q -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^$' | head -40
echo "--- the ledger's own functions, with children"
perf report -q -i "$OUT/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
  grep -E 'credledger::|sled::|ed25519|blake3|sha2' | head -40
echo "perf data: $OUT/perf.data"
