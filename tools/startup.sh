#!/usr/bin/env bash
# Start-up and resident memory of `credledger serve` on an existing data directory: spawn
# to the first 200 of /v1/ready (polled every 10 ms), VmRSS at that moment and 3 s later
# (the check of the log below the state snapshot runs in the background then), SIGINT.
# Loopback only; the directory is opened by a real server (it may append a shutdown
# snapshot, nothing else).
#
#   bash tools/startup.sh DATA_DIR [ROUNDS] [VAR=value ...]
#   CREDLEDGER_BIN=/path/to/other/build bash tools/startup.sh target/history-bench/data 3
#   bash tools/startup.sh target/history-bench/data 2 CREDLEDGER_SLED_CACHE_MB=1024
#
# Prints one line per round; no timing is asserted anywhere.
set -euo pipefail
BIN=${CREDLEDGER_BIN:-target/release/credledger}
DATA=${1:?usage: startup.sh DATA_DIR [ROUNDS] [VAR=value ...]}
ROUNDS=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
command -v curl >/dev/null || { echo "startup: curl is required" >&2; exit 2; }
rss() { awk '/VmRSS/{print int($2/1024)}' "/proc/$1/status"; }
for round in $(seq "$ROUNDS"); do
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LOG=$(mktemp)
  t0=$(date +%s.%N)
  env "$@" CREDLEDGER_LOG=warn "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 3000); do
    curl -sf "http://127.0.0.1:$PORT/v1/ready" >/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(date +%s.%N)
  r0=$(rss "$PID")
  sleep 3
  r1=$(rss "$PID")
  kill -INT "$PID"; wait "$PID" || true
  rm -f "$LOG"
  printf 'round %d  start-up %.3f s  RSS at ready %s MB  3 s later %s MB  %s\n' \
    "$round" "$(echo "$t1 - $t0" | bc -l)" "$r0" "$r1" "$*"
  sleep 1
done
