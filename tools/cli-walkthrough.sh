#!/usr/bin/env bash
# The README's CLI walk-through, runnable: starts a fresh server on a temporary data
# directory and a free loopback port, then runs exactly the commands between the
# `cli-walkthrough` markers of README.md (with the port substituted), and checks the
# results. Used by tests/cli.rs and by hand:
#   CREDLEDGER_BIN=target/debug/credledger bash tools/cli-walkthrough.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${CREDLEDGER_BIN:-$ROOT/target/debug/credledger}")
command -v jq >/dev/null || { echo "cli-walkthrough: jq is required (apt-get install jq)" >&2; exit 2; }
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --admin-token-file "$WORK/admin.token" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 200); do [ -s "$WORK/admin.token" ] && curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && break; sleep 0.05; done
fail() { echo "cli walkthrough FAILED: $*" >&2; cat "$WORK/out.log" >&2 || true; cat "$WORK/server.log" >&2; exit 1; }

# The README block, verbatim but for the port.
awk '/<!-- cli-walkthrough:start -->/{on=1; next} /<!-- cli-walkthrough:end -->/{on=0} on && !/^```/' "$ROOT/README.md" \
  | sed "s/127.0.0.1:8420/127.0.0.1:$PORT/g" >"$WORK/walkthrough.sh"
[ "$(wc -l <"$WORK/walkthrough.sh")" -gt 10 ] || fail "no walk-through block found in README.md"

cd "$WORK"
export CREDLEDGER_CONFIG="$WORK/config/credledger.json"
unset CREDLEDGER_ADDR CREDLEDGER_TOKEN
credledger() { "$BIN" "$@"; }
export -f credledger
export BIN
bash -euo pipefail "$WORK/walkthrough.sh" >"$WORK/out.log" 2>&1 || fail "a README command failed"

# What the walk-through should have shown.
grep -q '^the key is sk-demo-1$' out.log || fail "exec before rotation"
grep -q '^the key is now sk-demo-2$' out.log || fail "exec after rotation"
[ "$(stat -c %a "$CREDLEDGER_CONFIG")" = 600 ] || fail "config mode"
[ "$(stat -c %a openai.env)" = 600 ] || fail "materialize mode"
grep -q '^OPENAI_API_KEY=sk-demo-2$' openai.env || fail "materialized value"
[ "$(stat -c %a openai.key)" = 600 ] && [ "$(cat openai.key)" = sk-demo-2 ] && [ "$(wc -c <openai.key)" = 9 ] || fail "materialize --format raw"
grep -q '^sk-staging-1$' out.log || fail "cred use switched the default"
grep -q 'is now the tenant default for service openai' out.log || fail "cred use"
grep -q '^Updated openai-prod .*, now version 3$' out.log || fail "cred update keeps the key in a new version"
grep -q 'erin uses the team key (9 characters)' out.log || fail "a group grant"
grep -q '^sk-erin-1$' out.log || fail "a member's own credential comes first"
grep -q 'anthropic is configured' out.log || fail "import-env --default"
grep -q 'imported (default)' out.log || fail "import-env --default report"
grep -q 'CREDENTIALS' out.log && grep -q 'FAILED TESTS' out.log || fail "usage --by template"
grep -q '2 would import' out.log || fail "import dry run"
grep -q '2 imported' out.log || fail "import"
grep -q '0 imported, 3 skipped' out.log || fail "import re-run"
grep -q 'skipped: no template maps DEBUG' out.log || fail "import report"
grep -q '^seq,at,action' audit.csv || fail "audit export"
grep -q '^exit 3 = not found$' out.log || fail "not-found exit code"
[ "$(grep -c 'sk-demo-2' out.log)" = 2 ] || fail "a secret appeared outside exec/resolve"
echo "cli walkthrough ok"
