#!/usr/bin/env bash
# PostgreSQL store benchmark beside the embedded one, in the same run: durable resolves/s
# and creates/s through wrk against (1) the embedded sled store, (2) one node on a local
# PostgreSQL, (3) the writer of three nodes over that PostgreSQL (two followers tailing
# the log), (4) a follower of those three nodes, which forwards every write and resolve
# to the writer (when the binary forwards; an older one answers 503: non-2xx), with
# events per group commit (one transaction per batch on PostgreSQL).
#
#   cargo build --release && DURATION=8s bash tools/pgbench.sh
#
# Needs Debian's postgresql (initdb runs as the `postgres` user when run as root), wrk,
# curl, jq and bc. PostgreSQL runs with its defaults (fsync on, synchronous_commit on):
# every acknowledged event is on disk.
set -euo pipefail
BIN=${CREDLEDGER_BIN:-$PWD/target/release/credledger}
DURATION=${DURATION:-8s}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
for tool in wrk curl jq bc; do command -v "$tool" >/dev/null || { echo "pgbench: $tool is required" >&2; exit 2; }; done
WORK=$(mktemp -d)
chmod 755 "$WORK"
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
mkdir -p "$WORK/pg" && chown postgres: "$WORK/pg" 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PGPORT=$(free_port)
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" start -w -D "$WORK/pg/data" -l "$WORK/pg/log" \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK/pg -c max_connections=100" >/dev/null
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  "${AS[@]}" "$PGBIN/pg_ctl" stop -m immediate -D "$WORK/pg/data" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "$1"; }

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or ""
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.2f ms  p99 %.2f ms  non-2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
cat >"$WORK/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("id", counter .. "-" .. os.time() .. "-" .. math.random(1000000))
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"name":"c-' .. id .. '-' .. n .. '","template":"api_key","fields":{"api_key":"v"}}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.2f ms  p99 %.2f ms  non-2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA

# start_node NAME DATA [serve args...] -> sets API
start_node() {
  local name=$1 data=$2; shift 2
  local port; port=$(free_port)
  CREDLEDGER_LOG=warn "$BIN" serve --data "$data" --listen "127.0.0.1:$port" --admin-token-file "$data.token" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break; sleep 0.1; done
  API=http://127.0.0.1:$port
}

run() { # label connections script url [body]
  local label=$1 c=$2 script=$3 url=$4
  local before after out
  before=$(curl -sf "${READY:-$API}/v1/ready" | jq -r '"\(.events_committed) \(.syncs)"')
  out=$(TOKEN=$TOKEN BODY=${5:-} wrk -t2 -c"$c" -d"$DURATION" --latency -s "$script" "$url" | grep RESULT)
  after=$(curl -sf "${READY:-$API}/v1/ready" | jq -r '"\(.events_committed) \(.syncs)"')
  read -r e0 s0 <<<"$before"; read -r e1 s1 <<<"$after"
  printf '%-12s %-18s c=%-4s %s  events/commit %.1f\n' "$STORE" "$label" "$c" "${out#RESULT }" "$(echo "($e1-$e0)/($s1-$s0+0.000001)" | bc -l)"
}

suite() {
  CRED=$(curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X POST "$API/v1/credentials" \
    -d "{\"name\":\"bench-$STORE\",\"template\":\"api_key\",\"fields\":{\"api_key\":\"bench-secret\"}}" | jq -r .id)
  run "resolve (durable)" 32 "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve"
  run "resolve (durable)" 256 "$WORK/post.lua" "$API/v1/credentials/$CRED/resolve"
  run "create" 32 "$WORK/create.lua" "$API/v1/credentials"
}

echo "credledger store benchmark ($DURATION per run, $(nproc) cores, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), fsync on, synchronous_commit on)"
STORE=embedded
start_node sled "$WORK/sled"
TOKEN=$(cat "$WORK/sled.token"); suite
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

psql "CREATE DATABASE one" && URL1="postgres://postgres@127.0.0.1:$PGPORT/one"
STORE=pg-1node
start_node pg1 "$WORK/pg1" --store "$URL1"
TOKEN=$(cat "$WORK/pg1.token"); suite
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

psql "CREATE DATABASE three" && URL3="postgres://postgres@127.0.0.1:$PGPORT/three"
STORE=pg-3nodes
start_node w "$WORK/w" --store "$URL3"; WRITER=$API
TOKEN=$(cat "$WORK/w.token")
for n in f1 f2; do mkdir -p "$WORK/$n"; cp -r "$WORK/w/keys" "$WORK/$n/"; start_node "$n" "$WORK/$n" --store "$URL3"; done
FOLLOWER=$API
API=$WRITER; suite
STORE=pg-3n-follower
# Through a follower: it forwards to the writer; the commits are counted at the writer.
API=$FOLLOWER READY=$WRITER suite
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
