#!/usr/bin/env bash
# testnet_smoke.sh - proves the atproto testnet fixture (scripts/testnet.sh) answers what the C++ client
# tests rely on, with curl only: seed an account, createRecord + getRecord of an fm.plyr.track record,
# resolveHandle, and the DID document from the local PLC. Cleans up the record it made.
#
# Needs the environment that `eval "$(scripts/testnet.sh start <dir>)"` sets (scripts/test.sh does it).
# Without TESTNET_PDS_URL it exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
# Usage: testnet_smoke.sh <repo root>
set -euo pipefail

root="${1:?usage: testnet_smoke.sh <repo root>}"
if [ -z "${TESTNET_PDS_URL:-}" ]; then
  echo "SKIP: TESTNET_PDS_URL is not set (start the fixture: eval \"\$(scripts/testnet.sh start <dir>)\")"
  exit 77
fi
for v in TESTNET_PLC_URL TESTNET_DIR TESTNET_HANDLE_DOMAIN; do
  [ -n "${!v:-}" ] || { echo "FAIL: TESTNET_PDS_URL is set but $v is not"; exit 1; }
done
plc_url="${TESTNET_PLC_URL:?}"
command -v python3 >/dev/null || { echo "FAIL: python3 not found"; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.json; do [ -f "$f" ] && echo "  $(basename "$f"): $(head -c 600 "$f")"; done
  exit 1
}
pass() {
  passed=$((passed + 1))
  echo "ok: $*"
}
# json FILE EXPR: a Python expression over the parsed document `j`; prints str() of the result.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# http METHOD URL OUT [curl args…]: prints the HTTP status.
http() {
  local m="$1" u="$2" o="$3"
  shift 3
  curl -sS --max-time 20 -X "$m" -o "$o" -w '%{http_code}' "$@" "$u"
}

# 1. seed (idempotent): alice.test
"$root/scripts/testnet.sh" seed "$TESTNET_DIR" 1 >"$tmp/seed.json" 2>"$tmp/seed.err" ||
  fail "testnet.sh seed: $(cat "$tmp/seed.err")"
handle="$(json "$tmp/seed.json" 'j[0]["handle"]')"
did="$(json "$tmp/seed.json" 'j[0]["did"]')"
jwt="$(json "$tmp/seed.json" 'j[0]["accessJwt"]')"
[ "$handle" = "alice$TESTNET_HANDLE_DOMAIN" ] || fail "seeded handle is '$handle', want alice$TESTNET_HANDLE_DOMAIN"
[[ "$did" =~ ^did:plc:[a-z2-7]{24}$ ]] || fail "seeded DID '$did' is not a did:plc"
[ -n "$jwt" ] || fail "seed gave no accessJwt"
pass "seeded $handle = $did"

# 2. createRecord fm.plyr.track (the required fields of plyr's lexicon)
title="smoke $(date +%s%N)"
now="$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"
cat >"$tmp/create-req.json" <<JSON
{"repo":"$did","collection":"fm.plyr.track","record":{"\$type":"fm.plyr.track","title":"$title",
 "artist":"testnet_smoke","fileType":"mp3","duration":215,"createdAt":"$now"}}
JSON
s="$(http POST "$TESTNET_PDS_URL/xrpc/com.atproto.repo.createRecord" "$tmp/create.json" \
  -H "authorization: Bearer $jwt" -H 'content-type: application/json' --data-binary "@$tmp/create-req.json")"
[ "$s" = 200 ] || fail "createRecord: HTTP $s"
uri="$(json "$tmp/create.json" 'j["uri"]')"
cid="$(json "$tmp/create.json" 'j["cid"]')"
rkey="${uri##*/}"
[[ "$uri" == "at://$did/fm.plyr.track/"* ]] || fail "createRecord uri '$uri'"
[[ "$rkey" =~ ^[a-z2-7]{13}$ ]] || fail "record key '$rkey' is not a TID"
[[ "$cid" =~ ^bafyrei[a-z2-7]{52}$ ]] || fail "record cid '$cid' is not a CIDv1 dag-cbor sha2-256"
pass "createRecord -> $uri ($cid)"

# 3. getRecord returns exactly that record
s="$(http GET "$TESTNET_PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$did&collection=fm.plyr.track&rkey=$rkey" "$tmp/get.json")"
[ "$s" = 200 ] || fail "getRecord: HTTP $s"
[ "$(json "$tmp/get.json" 'j["uri"]')" = "$uri" ] || fail "getRecord uri differs"
[ "$(json "$tmp/get.json" 'j["cid"]')" = "$cid" ] || fail "getRecord cid differs"
[ "$(json "$tmp/get.json" 'j["value"]["title"]')" = "$title" ] || fail "getRecord title differs"
# shellcheck disable=SC2016 # "$type" is a JSON key, not a shell variable
[ "$(json "$tmp/get.json" 'j["value"]["$type"]')" = "fm.plyr.track" ] || fail "getRecord \$type differs"
[ "$(json "$tmp/get.json" 'j["value"]["duration"]')" = 215 ] || fail "getRecord duration differs"
pass "getRecord returns the record (same cid)"

# 4. resolveHandle (.test handles are not in DNS: the PDS answers for them)
s="$(http GET "$TESTNET_PDS_URL/xrpc/com.atproto.identity.resolveHandle?handle=$handle" "$tmp/resolve.json")"
[ "$s" = 200 ] || fail "resolveHandle: HTTP $s"
[ "$(json "$tmp/resolve.json" 'j["did"]')" = "$did" ] || fail "resolveHandle gave another DID"
pass "resolveHandle $handle -> $did"

# 5. the DID document from the local PLC: handle, PDS endpoint, signing key
s="$(http GET "$plc_url/$did" "$tmp/diddoc.json")"
[ "$s" = 200 ] || fail "PLC GET /$did: HTTP $s"
[ "$(json "$tmp/diddoc.json" 'j["id"]')" = "$did" ] || fail "DID document id differs"
[ "$(json "$tmp/diddoc.json" '"at://'"$handle"'" in j["alsoKnownAs"]')" = True ] || fail "alsoKnownAs lacks at://$handle"
[ "$(json "$tmp/diddoc.json" '[s["serviceEndpoint"] for s in j["service"] if s["id"]=="#atproto_pds"][0]')" = "$TESTNET_PDS_URL" ] ||
  fail "#atproto_pds endpoint is not $TESTNET_PDS_URL"
[[ "$(json "$tmp/diddoc.json" '[v["publicKeyMultibase"] for v in j["verificationMethod"] if v["id"].endswith("#atproto")][0]')" == z* ]] ||
  fail "no #atproto multibase signing key"
pass "PLC DID document: alsoKnownAs, #atproto_pds, #atproto key"

# 6. leave nothing behind
s="$(http POST "$TESTNET_PDS_URL/xrpc/com.atproto.repo.deleteRecord" "$tmp/delete.json" -H "authorization: Bearer $jwt" \
  -H 'content-type: application/json' -d "{\"repo\":\"$did\",\"collection\":\"fm.plyr.track\",\"rkey\":\"$rkey\"}")"
[ "$s" = 200 ] || fail "deleteRecord: HTTP $s"
s="$(http GET "$TESTNET_PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$did&collection=fm.plyr.track&rkey=$rkey" "$tmp/gone.json")"
if [ "$s" != 400 ] || [ "$(json "$tmp/gone.json" 'j["error"]')" != RecordNotFound ]; then
  fail "record still there after delete (HTTP $s)"
fi
pass "deleteRecord; getRecord -> 400 RecordNotFound"

echo "testnet smoke: $passed passed"
