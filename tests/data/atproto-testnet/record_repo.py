#!/usr/bin/env python3
"""Records repo.car + repo.json from a running local testnet (docs/testnet.md).

Usage: eval "$(scripts/testnet.sh start /tmp/tn)"; python3 tests/data/atproto-testnet/record_repo.py
Creates an account, writes a blob and three records (one fm.plyr.track referencing the blob, one with a
$bytes field, a second track), then saves com.atproto.sync.getRepo as repo.car and the PDS's answers
(record URIs + CIDs, blob CID, the JSON we sent) as repo.json. The reference PDS produced every byte of the
CAR, so the C++ reader/decoder is checked against real output.
"""
import json
import os
import urllib.request

PDS = os.environ["TESTNET_PDS_URL"]
HERE = os.path.dirname(os.path.abspath(__file__))


def call(method, nsid, body=None, token=None, raw=None, content_type="application/json"):
    url = f"{PDS}/xrpc/{nsid}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as resp:
        payload = resp.read()
        return payload if resp.headers.get("Content-Type", "").startswith("application/vnd.ipld.car") else json.loads(payload)


account = call("POST", "com.atproto.server.createAccount",
               {"handle": "cartest.test", "email": "cartest@example.com", "password": "cartest-pass"})
did, token = account["did"], account["accessJwt"]
blob = call("POST", "com.atproto.repo.uploadBlob", token=token, raw=b"ID3 fake audio bytes for a CAR fixture",
            content_type="audio/mpeg")["blob"]
records = [
    ("fm.plyr.track", "3kcartrack001", {"$type": "fm.plyr.track", "title": "Song ☎ 😀", "artist": "Some Artist",
                                        "audioBlob": blob, "duration": 215, "createdAt": "2026-01-01T00:00:00.000Z"}),
    ("com.example.bytes", "self", {"$type": "com.example.bytes", "data": {"$bytes": "aGVsbG8gd29ybGQ"},
                                   "n": -25, "big": 4294967296, "nested": {"list": [1, None, True, "x"]}}),
    ("fm.plyr.track", "3kcartrack002", {"$type": "fm.plyr.track", "title": "Second", "artist": "A",
                                        "createdAt": "2026-01-02T00:00:00.000Z"}),
]
written = []
for collection, rkey, record in records:
    out = call("POST", "com.atproto.repo.putRecord",
               {"repo": did, "collection": collection, "rkey": rkey, "record": record, "validate": False}, token=token)
    written.append({"uri": out["uri"], "cid": out["cid"], "record": record})
car = call("GET", f"com.atproto.sync.getRepo?did={did}")
with open(os.path.join(HERE, "repo.car"), "wb") as f:
    f.write(car)
with open(os.path.join(HERE, "repo.json"), "w") as f:
    json.dump({"did": did, "blob": blob, "records": written}, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"repo.car: {len(car)} bytes, {len(written)} records")
