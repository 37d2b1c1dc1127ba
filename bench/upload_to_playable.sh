#!/usr/bin/env bash
# Benchmark: upload-to-playable of a 50 MB WAV through plyr against a bare ffmpeg MP3 transcode of the same file.
#   bench/upload_to_playable.sh [seconds_of_audio=297]   (297 s of 16-bit stereo 44.1 kHz ≈ 50 MB)
# plyr side (timed from the first byte of the request): POST /tracks/ (multipart, signed in as alice.test of the
# demo PDS that scripts/run.sh starts) → follow GET /tracks/uploads/{id}/progress (SSE) until `completed` →
# GET /tracks/{track_id} → first byte of GET /audio/{file_id}. ffmpeg side: `ffmpeg -i x.wav -c:a libmp3lame
# -b:a 320k out.mp3`. A PCM WAV is played as uploaded (no transcode), so plyr's work is the transfer, one
# sandboxed decode pass (probe, loudness, peaks, fingerprint), hashing, storing and the PDS publish.
# Prints both times and `ratio plyr/ffmpeg = X` (goal <= 1.3). Needs the testnet install (scripts/testnet.sh
# install), ffmpeg, python3; builds build/release/plyr when missing. Not part of CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
seconds=${1:-297}
build=${PLYR_BENCH_BUILD:-build/release}  # override to use another release build dir

for tool in ffmpeg python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing" >&2; exit 1; }
done
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLYR_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target plyr >/dev/null

work=$(mktemp -d /tmp/plyr-upload-bench.XXXXXX)
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  "$root/scripts/testnet.sh" stop "$work/demo/pds" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

wav="$work/bench.wav"
ffmpeg -loglevel error -y -f lavfi -i "anoisesrc=d=$seconds:c=pink:r=44100:a=0.3" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=$seconds" \
  -filter_complex "[0][1]amerge=inputs=2,pan=stereo|c0=c0+c1|c1=c0+c1" -c:a pcm_s16le "$wav"
size=$(stat -c %s "$wav")

# Warm the page cache for both sides alike, then the baseline.
cat "$wav" > /dev/null
ffmpeg_s=$(python3 - "$wav" "$work/out.mp3" <<'PY'
import subprocess, sys, time
t = time.monotonic()
subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", sys.argv[1], "-c:a", "libmp3lame", "-b:a", "320k",
                sys.argv[2]], check=True)
print(f"{time.monotonic() - t:.3f}")
PY
)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -i PATH="$PATH" HOME="$HOME" PLYR_CACHE_DIR="${PLYR_CACHE_DIR:-$HOME/.cache/plyr}" \
  PLYR_RUN_BINARY="$build/plyr" PLYR_DEMO_DIR="$work/demo" PORT="$port" \
  bash scripts/run.sh > "$work/run.out" 2> "$work/run.err" &
demo_pid=$!
for _ in $(seq 1 1200); do
  grep -q '^plyr demo is running' "$work/run.out" && break
  kill -0 "$demo_pid" 2>/dev/null || { echo "bench: scripts/run.sh exited:" >&2; tail -20 "$work/run.err" >&2; exit 1; }
  sleep 0.1
done
grep -q '^plyr demo is running' "$work/run.out" || { echo "bench: the demo did not start in 120 s" >&2; exit 1; }

python3 - "http://127.0.0.1:$port" alice.test alice-pass "$wav" "$size" "$ffmpeg_s" <<'PY'
import http.client, json, sys, time, urllib.error, urllib.parse, urllib.request, uuid

plyr, handle, password, wav, size, ffmpeg_s = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
cookies = {}

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
        response = opener.open(request, timeout=60)
    except urllib.error.HTTPError as err:
        response = err
    for value in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return response.status, response.headers, response.read().decode("utf-8", "replace")

def expect(step, status, want, text):
    if status != want:
        sys.exit(f"bench: {step}: HTTP {status}, want {want}: {text[:300]}")

# Headless sign-in, as tests/integration/testnet/run_demo.sh does it.
status, headers, text = call("GET", f"{plyr}/auth/start?handle={handle}", {"Accept": "text/html"})
expect("GET /auth/start", status, 303, text)
authorize = headers["Location"]
issuer = origin(authorize)
navigate = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}
status, _, text = call("GET", authorize, {**navigate, "Sec-Fetch-Site": "cross-site"})
expect("GET authorize page", status, 200, text)
api = {"Origin": issuer, "Referer": authorize, "Sec-Fetch-Mode": "same-origin", "Sec-Fetch-Site": "same-origin",
       "Sec-Fetch-Dest": "empty", "X-CSRF-Token": cookies[issuer].get("csrf-token", "")}
status, _, text = call("POST", f"{issuer}/@atproto/oauth-provider/~api/sign-in", api,
                       {"locale": "en", "username": handle, "password": password, "remember": False})
expect("PDS sign-in", status, 200, text)
signed_in = json.loads(text)
did = signed_in["account"].get("sub") or signed_in["account"].get("did")
api["X-CSRF-Token"] = cookies[issuer].get("csrf-token", "")
status, _, text = call("POST", f"{issuer}/@atproto/oauth-provider/~api/consent",
                       {**api, "Authorization": f"Bearer {signed_in['ephemeralToken']}"}, {"did": did})
expect("PDS consent", status, 200, text)
status, headers, text = call("GET", json.loads(text)["url"],
                             {**navigate, "Sec-Fetch-Site": "same-origin", "Referer": authorize})
expect("PDS redirect", status, 303, text)
status, headers, text = call("GET", headers["Location"], {"Accept": "text/html"})
expect("GET /auth/callback", status, 303, text)
query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)
status, _, text = call("POST", f"{plyr}/auth/exchange", {"Origin": plyr}, {"exchange_token": query["exchange_token"][0]})
expect("POST /auth/exchange", status, 200, text)
session = cookies[origin(plyr)]["session_id"]

host = urllib.parse.urlsplit(plyr)
def connection():
    return http.client.HTTPConnection(host.hostname, host.port, timeout=600)
auth = {"Cookie": f"session_id={session}", "Origin": plyr}

# The upload: multipart streamed from disk (the file is never held in memory).
boundary = uuid.uuid4().hex
head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nbench upload\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.wav\"\r\n"
        f"Content-Type: audio/wav\r\n\r\n").encode()
tail = f"\r\n--{boundary}--\r\n".encode()
start = time.monotonic()
c = connection()
c.putrequest("POST", "/tracks/")
for k, v in {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}",
             "Content-Length": str(len(head) + size + len(tail)), "Idempotency-Key": boundary}.items():
    c.putheader(k, v)
c.endheaders()
c.send(head)
with open(wav, "rb") as f:
    while chunk := f.read(1 << 20):
        c.send(chunk)
c.send(tail)
r = c.getresponse()
text = r.read().decode()
expect("POST /tracks/", r.status, 202, text)
upload_id = json.loads(text)["upload_id"]
uploaded = time.monotonic()

# Progress over SSE until a terminal event.
c = connection()
c.request("GET", f"/tracks/uploads/{upload_id}/progress", headers={**auth, "Accept": "text/event-stream"})
r = c.getresponse()
expect("GET progress", r.status, 200, "")
final, phases = None, []
while final is None:
    line = r.readline()
    if not line:
        sys.exit("bench: the progress stream ended without a terminal event")
    line = line.decode().rstrip("\r\n")
    if not line.startswith("data:"):
        continue
    event = json.loads(line[5:].strip())
    if event.get("phase") and (not phases or phases[-1] != event["phase"]):
        phases.append(event["phase"])
    if event.get("status") in ("completed", "failed"):
        final = event
c.close()
if final["status"] != "completed":
    sys.exit(f"bench: the upload failed: {final}")
processed = time.monotonic()

c = connection()
c.request("GET", f"/tracks/{final['track_id']}", headers=auth)
r = c.getresponse()
text = r.read().decode()
expect("GET /tracks/{id}", r.status, 200, text)
file_id = json.loads(text)["file_id"]
c.request("GET", f"/audio/{file_id}", headers={**auth, "Range": "bytes=0-"})
r = c.getresponse()
if r.status not in (200, 206):
    sys.exit(f"bench: GET /audio/{file_id}: HTTP {r.status}")
r.read(1)
playable = time.monotonic()
c.close()

total = playable - start
print(f"file: {size / 1e6:.1f} MB PCM WAV (played as uploaded: no transcode; plyr's work is the transfer, one "
      f"sandboxed decode pass for probe/loudness/peaks/fingerprint, SHA-256, storing and the PDS publish)")
print(f"phases: {' -> '.join(phases)}; warnings: {final.get('warnings', [])}")
print(f"ffmpeg -c:a libmp3lame -b:a 320k: {ffmpeg_s:8.2f} s")
print(f"plyr upload-to-playable:         {total:8.2f} s  (request body {uploaded - start:.2f} s, processing "
      f"{processed - uploaded:.2f} s, first audio byte {playable - processed:.2f} s)")
print(f"ratio plyr/ffmpeg = {total / ffmpeg_s:.2f}  (goal <= 1.3)")
PY
