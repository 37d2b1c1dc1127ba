#!/usr/bin/env bash
# run_demo.sh - scripts/run.sh's demo mode (issue 4 item 8), with the plyr binary under test instead of a release
# build (PLYR_RUN_BINARY) and a temp demo dir (PLYR_DEMO_DIR) on a free port:
#  * it prints the URL and the two demo accounts, plyr answers /health, and the local PDS resolves both handles
#    to the printed DIDs;
#  * plyr is configured for that PDS: its environment has the loopback PUBLIC_URL, the local PLC and handle
#    resolver and an allow-list of exactly the PDS and PLC, and with that configuration `plyr atproto resolve`
#    resolves a demo handle (DID document from the local PLC, PDS endpoint, handle verified);
#  * bob.test signs in through plyr with the printed password (the whole OAuth flow, headless);
#  * SIGTERM to the script stops plyr AND the PDS;
#  * a second start resets both together: new DIDs, and a file left in the data dir is gone.
# Needs the testnet install (TESTNET_PDS_URL set by scripts/test.sh) and PLYR_BINARY; exits 77 = skipped otherwise.
# Usage: run_demo.sh <repo root>
set -euo pipefail

root="${1:?usage: run_demo.sh <repo root>}"
if [ -z "${TESTNET_PDS_URL:-}" ] || [ -z "${PLYR_BINARY:-}" ] || [ ! -x "${PLYR_BINARY:-}" ]; then
  echo "SKIP: needs TESTNET_PDS_URL (testnet installed) and PLYR_BINARY (scripts/test.sh sets both)"
  exit 77
fi
dir="$(mktemp -d)"
script_pid=""
stop_demo() {
  if [ -n "$script_pid" ] && kill -0 "$script_pid" 2>/dev/null; then
    kill -TERM "$script_pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$script_pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  wait "$script_pid" 2>/dev/null || true
  script_pid=""
}
cleanup() {
  stop_demo
  "$root/scripts/testnet.sh" stop "$dir/demo/pds" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0
fail() {
  echo "FAIL: $*"
  for f in "$dir"/run*.out "$dir"/run*.err; do
    [ -f "$f" ] && { echo "--- $f"; grep -v '"level":"info"' "$f" | tail -n 15; }
  done
  exit 1
}
pass() {
  passed=$((passed + 1))
  echo "ok: $*"
}
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# start_demo <n>: runs scripts/run.sh in the background and waits for its banner
start_demo() {
  local out="$dir/run$1.out" err="$dir/run$1.err"
  # Only what a user's shell would have: no TESTNET_* of the test run's own testnet.
  env -i PATH="$PATH" HOME="$HOME" PLYR_CACHE_DIR="${PLYR_CACHE_DIR:-$HOME/.cache/plyr}" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    PLYR_RUN_BINARY="$PLYR_BINARY" PLYR_DEMO_DIR="$dir/demo" PORT="$port" \
    bash "$root/scripts/run.sh" >"$out" 2>"$err" &
  script_pid=$!
  for _ in $(seq 1 1200); do
    grep -q '^plyr demo is running' "$out" && return 0
    kill -0 "$script_pid" 2>/dev/null || fail "run.sh exited before its banner"
    sleep 0.1
  done
  fail "no banner after 120 s"
}
# did_of <n> <handle>: the DID the banner printed for a handle
did_of() { awk -v h="$2" '$1 == h { print $4 }' "$dir/run$1.out"; }

start_demo 1
grep -qF "http://127.0.0.1:$port" "$dir/run1.out" || fail "banner lacks the URL"
grep -qE '^  alice\.test +password alice-pass +did:plc:' "$dir/run1.out" || fail "banner lacks alice.test"
grep -qE '^  bob\.test +password bob-pass +did:plc:' "$dir/run1.out" || fail "banner lacks bob.test"
pds_url="$(sed -n 's/.*local PDS (\(http:\/\/localhost:[0-9]*\)).*/\1/p' "$dir/run1.out")"
[ -n "$pds_url" ] || fail "banner lacks the PDS URL"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/health")"
[ "$code" = 200 ] || fail "plyr /health: HTTP $code"
alice1="$(did_of 1 alice.test)"
for h in alice.test bob.test; do
  got="$(curl -fsS --max-time 5 "$pds_url/xrpc/com.atproto.identity.resolveHandle?handle=$h")" ||
    fail "PDS does not resolve $h"
  grep -qF "\"$(did_of 1 "$h")\"" <<<"$got" || fail "$h resolves to $got, banner says $(did_of 1 "$h")"
done
pass "banner (URL, alice.test/alice-pass, bob.test/bob-pass), /health 200, PDS resolves both handles"

# plyr's own configuration, read from the running process
plyr_pid="$(pgrep -P "$script_pid" -f ' serve' | head -n 1)"
[ -n "$plyr_pid" ] || fail "no plyr serve child of run.sh"
penv() { tr '\0' '\n' <"/proc/$plyr_pid/environ" | sed -n "s/^$1=//p"; }
pds_port="${pds_url##*:}"
plc_url="$(penv PLC_DIRECTORY_URL)"
[ "$(penv PUBLIC_URL)" = "http://127.0.0.1:$port" ] || fail "PUBLIC_URL=$(penv PUBLIC_URL)"
[ "$(penv HANDLE_RESOLVER_URL)" = "$pds_url" ] || fail "HANDLE_RESOLVER_URL=$(penv HANDLE_RESOLVER_URL)"
[[ "$plc_url" =~ ^http://localhost:[0-9]+$ ]] || fail "PLC_DIRECTORY_URL=$plc_url"
[ "$(penv ALLOW_PRIVATE_NETWORK)" = "localhost:$pds_port,localhost:${plc_url##*:}" ] ||
  fail "ALLOW_PRIVATE_NETWORK=$(penv ALLOW_PRIVATE_NETWORK)"
[ "$(penv DATA_DIR)" = "$(realpath "$dir/demo/data")" ] || fail "DATA_DIR=$(penv DATA_DIR)"
resolved="$(cd "$dir" && env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" PLC_DIRECTORY_URL="$plc_url" \
  HANDLE_RESOLVER_URL="$pds_url" ALLOW_PRIVATE_NETWORK="$(penv ALLOW_PRIVATE_NETWORK)" \
  "$PLYR_BINARY" atproto resolve alice.test 2>/dev/null)" || fail "plyr atproto resolve alice.test failed"
python3 - "$resolved" "$alice1" "$pds_url" <<'PY' || fail "plyr resolved alice.test wrongly: $resolved"
import json, sys
r = json.loads(sys.argv[1])
assert r["did"] == sys.argv[2] and r["handle"] == "alice.test" and r["handle_verified"] is True, r
assert r["pds"] == sys.argv[3], r
PY
pass "plyr configured for the demo PDS (PUBLIC_URL, PLC, handle resolver, exact allow-list); resolves alice.test"

# Sign in as bob.test with the printed password, as a browser would: plyr /auth/start → the PDS's authorize page,
# its sign-in and consent (the provider's UI API, as tests/support/oauth_signin does) → plyr's callback →
# /auth/exchange → /auth/me. Proves the demo configuration is enough for the whole OAuth flow.
python3 - "http://127.0.0.1:$port" bob.test bob-pass "$(did_of 1 bob.test)" <<'PY' || fail "sign-in as bob.test through the demo failed"
import json, sys, urllib.error, urllib.parse, urllib.request

plyr, handle, password, did = sys.argv[1:5]
cookies = {}  # origin -> {name: value}; the PDS marks its cookies Secure, a browser on http://localhost still sends them


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def origin(url):
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def call(method, url, headers=None, body=None):
    headers = dict(headers or {})
    jar = cookies.setdefault(origin(url), {})
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        response = opener.open(request, timeout=30)
    except urllib.error.HTTPError as err:
        response = err
    for value in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    text = response.read().decode("utf-8", "replace")
    return response.status, response.headers, text


def expect(step, status, want, text):
    if status != want:
        sys.exit(f"{step}: HTTP {status}, want {want}: {text[:300]}")


status, headers, text = call("GET", f"{plyr}/auth/start?handle={handle}", {"Accept": "text/html"})
expect("GET /auth/start", status, 303, text)
authorize = headers["Location"]
issuer = origin(authorize)
navigate = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}
status, _, text = call("GET", authorize, {**navigate, "Sec-Fetch-Site": "cross-site"})
expect("GET authorize page", status, 200, text)
api = {"Origin": issuer, "Referer": authorize, "Sec-Fetch-Mode": "same-origin", "Sec-Fetch-Site": "same-origin",
       "Sec-Fetch-Dest": "empty"}
api["X-CSRF-Token"] = cookies[issuer].get("csrf-token", "")
status, _, text = call("POST", f"{issuer}/@atproto/oauth-provider/~api/sign-in", api,
                       {"locale": "en", "username": handle, "password": password, "remember": False})
expect("PDS sign-in", status, 200, text)
signed_in = json.loads(text)
account = signed_in.get("account", {})
if (account.get("sub") or account.get("did")) != did:
    sys.exit(f"PDS signed in {signed_in['account']}, want {did}")
api["X-CSRF-Token"] = cookies[issuer].get("csrf-token", "")
status, _, text = call("POST", f"{issuer}/@atproto/oauth-provider/~api/consent",
                       {**api, "Authorization": f"Bearer {signed_in['ephemeralToken']}"}, {"did": did})
expect("PDS consent", status, 200, text)
status, headers, text = call("GET", json.loads(text)["url"],
                             {**navigate, "Sec-Fetch-Site": "same-origin", "Referer": authorize})
expect("PDS redirect", status, 303, text)
callback = headers["Location"]
if not callback.startswith(f"{plyr}/auth/callback?"):
    sys.exit(f"the PDS redirected to {callback}, not plyr's callback")
status, headers, text = call("GET", callback, {"Accept": "text/html"})
expect("GET /auth/callback", status, 303, text)
query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)
if "exchange_token" not in query:
    sys.exit(f"callback redirected to {headers['Location']} without an exchange token")
status, _, text = call("POST", f"{plyr}/auth/exchange", {"Origin": plyr},
                       {"exchange_token": query["exchange_token"][0]})
expect("POST /auth/exchange", status, 200, text)
status, _, text = call("GET", f"{plyr}/auth/me")
expect("GET /auth/me", status, 200, text)
me = json.loads(text)
if me.get("did") != did or me.get("handle") != handle:
    sys.exit(f"/auth/me says {me}, want {did} {handle}")
PY
pass "bob.test signs in through plyr with the printed password (start → PDS sign-in + consent → callback → /auth/me)"

# SIGTERM to the script: plyr and the PDS stop
touch "$dir/demo/data/left-behind"
stop_demo
if kill -0 "$plyr_pid" 2>/dev/null; then fail "plyr (pid $plyr_pid) still runs after run.sh stopped"; fi
if curl -s -o /dev/null --max-time 2 "$pds_url/xrpc/_health"; then fail "the demo PDS still answers after run.sh stopped"; fi
[ ! -e "$dir/demo/pds/testnet.pid" ] || fail "the PDS pid file is left behind"
pass "SIGTERM to run.sh stops plyr and the PDS"

# second start: a new network and a new data dir
start_demo 2
[ ! -e "$dir/demo/data/left-behind" ] || fail "the demo data dir was not reset"
alice2="$(did_of 2 alice.test)"
[ -n "$alice2" ] && [ "$alice2" != "$alice1" ] || fail "alice.test kept DID $alice1 across starts"
pass "a new start resets PDS and data dir together (alice.test: $alice1 -> $alice2)"
stop_demo

echo "run demo: $passed passed"
