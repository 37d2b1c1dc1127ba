#!/usr/bin/env bash
# testnet_lifecycle.sh - scripts/testnet.sh's own contract, on a private testnet in a temp dir (the shared
# one of the test run is not touched): start prints only export lines and writes env.sh, ports are free
# (not the fixed 2582/2583, different from the run's testnet), loopback only, a second start is idempotent
# (same pid), seed is idempotent, stop ends exactly that process and is idempotent. The instance runs with the
# TESTNET_ALLOW_LOOPBACK_CLIENTS opt-in (exported and logged); a start asking for the other setting is refused
# and leaves it running.
#
# Runs only beside a started fixture (TESTNET_PDS_URL set: the install is then present, so this takes
# seconds); exits 77 = skipped otherwise. Usage: testnet_lifecycle.sh <repo root>
set -euo pipefail

root="${1:?usage: testnet_lifecycle.sh <repo root>}"
if [ -z "${TESTNET_PDS_URL:-}" ]; then
  echo "SKIP: TESTNET_PDS_URL is not set (no testnet install to reuse)"
  exit 77
fi
tn="$root/scripts/testnet.sh"
dir="$(mktemp -d)"
pid=""
cleanup() {
  "$tn" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0
fail() {
  echo "FAIL: $*"
  [ -f "$dir/testnet.log" ] && tail -n 20 "$dir/testnet.log"
  exit 1
}
pass() {
  passed=$((passed + 1))
  echo "ok: $*"
}

# start: stdout is export lines only, identical to env.sh
out="$(TESTNET_ALLOW_LOOPBACK_CLIENTS=1 "$tn" start "$dir" 2>"$dir/start.err")" || fail "start: $(cat "$dir/start.err")"
if grep -qv "^export TESTNET_[A-Z_]*='[^']*'\$" <<<"$out"; then fail "start printed non-export lines: $out"; fi
[ "$out" = "$(cat "$dir/env.sh")" ] || fail "start output differs from env.sh"
pass "start prints only export lines (= env.sh)"

# this instance's values, read from its own output (the environment holds the run's testnet)
own() { sed -n "s/^export $1='\\(.*\\)'\$/\\1/p" <<<"$out"; }
pid="$(own TESTNET_PID)"
pds_port="$(own TESTNET_PDS_PORT)"
plc_port="$(own TESTNET_PLC_PORT)"
[ "$(own TESTNET_DIR)" = "$(realpath "$dir")" ] || fail "TESTNET_DIR is not the run dir"
[ "$(own TESTNET_PDS_URL)" = "http://localhost:$pds_port" ] || fail "PDS URL/port mismatch"
for p in "$pds_port" "$plc_port"; do
  [[ "$p" =~ ^[0-9]+$ ]] || fail "port '$p' is not a number"
  case "$p" in 2582 | 2583 | "${TESTNET_PDS_PORT:-}" | "${TESTNET_PLC_PORT:-}") fail "port $p is fixed or shared" ;; esac
done
[ "$pds_port" != "$plc_port" ] || fail "PDS and PLC share port $pds_port"
[ "$(tr -dc 0-9 <"$dir/testnet.pid")" = "$pid" ] || fail "testnet.pid is not TESTNET_PID"
pass "own free ports (PDS $pds_port, PLC $plc_port), pid $pid"

# loopback only: every listening socket of the process is on 127.0.0.1 or [::1]
if command -v ss >/dev/null; then
  listen="$(ss -Hltnp 2>/dev/null | grep "pid=$pid," | awk '{print $4}')"
  [ -n "$listen" ] || fail "ss shows no listening socket of pid $pid"
  if grep -qvE '^(127\.0\.0\.1|\[::1\]):[0-9]+$' <<<"$listen"; then fail "non-loopback listener: $listen"; fi
  pass "listens on loopback only ($(tr '\n' ' ' <<<"$listen"))"
fi
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$pds_port/xrpc/_health")"
[ "$code" = 200 ] || fail "PDS health: HTTP $code"

# start again: same process, same exports
out2="$(TESTNET_ALLOW_LOOPBACK_CLIENTS=true "$tn" start "$dir" 2>/dev/null)" || fail "second start failed"
[ "$out2" = "$out" ] || fail "second start printed different exports"
pass "second start is idempotent (same pid and ports)"

# the opt-in: exported, logged once, and a start with the other setting is refused without touching it
[ "$(own TESTNET_ALLOW_LOOPBACK_CLIENTS)" = 1 ] || fail "TESTNET_ALLOW_LOOPBACK_CLIENTS is not exported as 1"
grep -q 'TESTNET_ALLOW_LOOPBACK_CLIENTS: OAuth client_ids' "$dir/testnet.log" || fail "opt-in not logged"
if err="$(TESTNET_ALLOW_LOOPBACK_CLIENTS=0 "$tn" start "$dir" 2>&1 >/dev/null)"; then
  fail "a start without the opt-in reused the opted-in testnet"
fi
grep -q 'allowLoopbackClients=true' <<<"$err" || fail "mismatch refusal does not say why: $err"
kill -0 "$pid" 2>/dev/null || fail "the refused start stopped pid $pid"
if TESTNET_ALLOW_LOOPBACK_CLIENTS=maybe "$tn" start "$dir" >/dev/null 2>&1; then fail "a bad opt-in value was accepted"; fi
pass "opt-in exported + logged; other setting refused (running pid kept); bad value refused"

# seed twice: same DIDs, second time created=false
s1="$("$tn" seed "$dir" 2 2>/dev/null)" || fail "seed failed"
s2="$("$tn" seed "$dir" 2 2>/dev/null)" || fail "second seed failed"
python3 - "$s1" "$s2" <<'PY' || fail "seed output wrong"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert [x["handle"] for x in a] == ["alice.test", "bob.test"], a
assert [x["password"] for x in a] == ["alice-pass", "bob-pass"]
assert all(x["created"] for x in a) and not any(x["created"] for x in b)
assert [x["did"] for x in a] == [x["did"] for x in b]
assert all(x["did"].startswith("did:plc:") and x["accessJwt"] for x in a + b)
PY
pass "seed is idempotent (alice.test, bob.test; same DIDs)"

# stop: exactly that process ends; files removed; a second stop is a no-op; the run's testnet still answers
"$tn" stop "$dir" 2>/dev/null || fail "stop failed"
if kill -0 "$pid" 2>/dev/null; then fail "pid $pid still alive after stop"; fi
for f in testnet.pid testnet.json env.sh node_modules data; do
  [ ! -e "$dir/$f" ] || fail "$f left behind after stop"
done
"$tn" stop "$dir" 2>/dev/null || fail "second stop failed"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$TESTNET_PDS_URL/xrpc/_health")"
[ "$code" = 200 ] || fail "the run's own testnet stopped answering (HTTP $code)"
pass "stop ends exactly pid $pid, cleans up, is idempotent"

echo "testnet lifecycle: $passed passed"
