#!/usr/bin/env bash
# The README walk-through, runnable: starts a fresh server on a temporary data directory
# and a free loopback port, then runs the same curl commands the README shows, checking
# each answer. Used by tests/walkthrough.rs (so `cargo test` runs it) and by hand:
#   CREDLEDGER_BIN=target/debug/credledger bash tools/walkthrough.sh
set -euo pipefail

BIN=$(realpath "${CREDLEDGER_BIN:-target/debug/credledger}")
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "walkthrough: $tool is required (apt-get install $tool)" >&2; exit 2; }
done
WORK=$(mktemp -d)
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
export CREDLEDGER_DATA="$WORK/data" CREDLEDGER_LISTEN="127.0.0.1:$PORT"
"$BIN" serve --admin-token-file "$WORK/admin.token" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && break; sleep 0.1; done
fail() { echo "walkthrough FAILED: $*" >&2; cat "$WORK/server.log" >&2; exit 1; }
check() { [ "$1" = "$2" ] || fail "expected '$2', got '$1' ($3)"; }

cd "$WORK"

# --- README walk-through starts here -------------------------------------------------
API=http://127.0.0.1:$PORT
ADMIN=$(cat "$WORK/admin.token")
H=(-H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json")

# Create a credential from the openai template; it is the tenant default for "openai".
CRED=$(curl -sf "${H[@]}" -X POST "$API/v1/credentials" \
  -d '{"name":"openai-prod","template":"openai","fields":{"api_key":"sk-demo-1"},"default":true,"rotate_every_days":90}' | jq -r .id)

# Resolve it by service: the answer names the source and the version.
R1=$(curl -sf "${H[@]}" -X POST "$API/v1/resolve" -d '{"service":"openai"}')
check "$(echo "$R1" | jq -r '.source + " v" + (.version|tostring) + " " + .fields.api_key')" "tenant_default v1 sk-demo-1" "first resolve"

# Rotate it; the very next resolve sees version 2.
curl -sf "${H[@]}" -X POST "$API/v1/credentials/$CRED/rotate" -d '{"fields":{"api_key":"sk-demo-2"}}' >/dev/null
R2=$(curl -sf "${H[@]}" -X POST "$API/v1/resolve" -d '{"service":"openai"}')
check "$(echo "$R2" | jq -r '"v" + (.version|tostring) + " " + .fields.api_key')" "v2 sk-demo-2" "resolve after rotation"

# An auditor: sees who used the credential, never a secret value.
AUDITOR=$(curl -sf "${H[@]}" -X POST "$API/v1/principals" -d '{"name":"compliance","kind":"user","role":"auditor"}' | jq -r .id)
AUDIT_TOKEN=$(curl -sf "${H[@]}" -X POST "$API/v1/principals/$AUDITOR/tokens" | jq -r .token)
USES=$(curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/audit?credential=$CRED&action=used")
check "$(echo "$USES" | jq '.events | length')" "2" "auditor sees two uses"
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/audit/export?format=csv" | grep -q '^seq,at,action' || fail "csv export"
echo "$USES" | grep -q sk-demo && fail "audit view leaked a secret"
# The auditor cannot resolve: the denial is itself recorded.
DENIED=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AUDIT_TOKEN" -X POST "$API/v1/credentials/$CRED/resolve")
check "$DENIED" "403" "auditor resolve is denied"
check "$(curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/audit?outcome=denied" | jq -r '.events[-1].action')" "use_denied" "denial recorded"

# Proof for a third party: the ledger's verifier key, a signed checkpoint of the tenant's log (C2SP note),
# and the inclusion proof of the first use (in the tenant's log, against the tenant checkpoint it carries).
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/ledger/publickey" > ledger.pub
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/ledger/tenant/checkpoint" > checkpoint.txt
SEQ=$(echo "$USES" | jq '.events[0].seq')
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/audit/$SEQ/proof" > proof.json
check "$(jq -r '.seq' proof.json)" "$SEQ" "proof of the first use"
jq -r '.checkpoint' proof.json | head -1 | grep -q '/tenant/' || fail "the proof is in the tenant's log"
grep -q "^— " checkpoint.txt || fail "checkpoint is not a signed note"
# --- README walk-through ends here ---------------------------------------------------

# Forensics on the same data directory: stop the server, verify and replay the log, and
# export a bundle that a third party checks with the public key alone.
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
"$BIN" export --data "$CREDLEDGER_DATA" --out "$WORK/audit.bundle" >/dev/null || fail "export"
"$BIN" verify-bundle "$WORK/audit.bundle" --key "$(cat ledger.pub)" >/dev/null || fail "verify-bundle"
"$BIN" verify-bundle proof.json --key "$(cat ledger.pub)" | grep "^ok: event $SEQ " >/dev/null || fail "verify-bundle proof.json"
"$BIN" replay verify --data "$CREDLEDGER_DATA" | grep -q '^ok:' || fail "replay verify"
"$BIN" replay history "$CRED" --data "$CREDLEDGER_DATA" | grep -q rotated || fail "replay history"
"$BIN" replay state --at-seq 4 --data "$CREDLEDGER_DATA" | grep -q openai-prod || fail "replay state"
echo "walkthrough ok"
