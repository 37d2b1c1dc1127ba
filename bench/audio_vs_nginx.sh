#!/usr/bin/env bash
# Benchmark: GET /audio/{file_id} of `plyr serve` (the real route: id check, DB access check, open, sendfile,
# ETag = file id) against Debian's nginx serving the same 10 MB file, both on loopback, measured with wrk in the
# same run: random 256 KiB Range GETs (a seeking player) and full GETs. Prints req/s, MB/s, p99, CPU time per
# request and `ratio plyr/nginx = X` (req/s, Range GETs; goal >= 1.0). Not part of CI.
#   bench/audio_vs_nginx.sh [duration_seconds=10] [connections=256] [--http-only]
# --http-only: bench/http_serve_bench (http::Server + ServeFile, no app, no DB) instead of `plyr serve`: the HTTP
# layer alone. The track is placed directly (no PDS): a migrated SQLite DB gets an artist and a published public
# track whose file_id names the file under DATA_DIR/media/audio/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration=${1:-10}
connections=${2:-256}
mode=${3:-}
threads=2

for tool in wrk nginx sqlite3 curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (apt-get install wrk nginx-light sqlite3)" >&2; exit 1; }
done
build=${PLYR_BENCH_BUILD:-build/release}  # override to use another release build dir
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLYR_BUILD_TESTS=OFF -DPLYR_BUILD_BENCH=ON >/dev/null
fi
if [ "$mode" = "--http-only" ]; then
  cmake -S . -B "$build" -DPLYR_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" --target http_serve_bench >/dev/null
else
  cmake --build "$build" --target plyr >/dev/null
fi

work=$(mktemp -d /tmp/plyr-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

file_id=0123456789abcdef
mkdir -p "$work/data/media/audio" "$work/nginx" "$work/site"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$work/data/media/audio/$file_id.mp3"
echo '<!doctype html><title>bench</title>' > "$work/site/index.html"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
plyr_port=$(free_port)
nginx_port=$(free_port)

cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/data/media;
    location /audio/ {
      types { } default_type audio/mpeg;
      add_header Cache-Control "public, max-age=31536000, immutable";
      add_header Content-Disposition inline;
      add_header Access-Control-Allow-Origin *;
    }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

if [ "$mode" = "--http-only" ]; then
  plyr_path="/audio/$file_id"
  # http_serve_bench serves <dir>/<file_id>: link the same bytes under that name.
  ln "$work/data/media/audio/$file_id.mp3" "$work/data/media/$file_id"
  "$build/bench/http_serve_bench" "$plyr_port" "$work/data/media" "$threads" &
  pids+=($!)
  plyr_pid=$!
else
  plyr_path="/audio/$file_id"
  export DATA_DIR="$work/data" STATIC_DIR="$work/site" PORT=$plyr_port PUBLIC_URL="http://127.0.0.1:$plyr_port" \
    LOG_LEVEL=warn HTTP_THREADS=$threads WORKER_IN_PROCESS=false
  "$build/plyr" migrate >/dev/null
  now=$(date +%s%6N)
  sqlite3 "$work/data/plyr.db" <<SQL
INSERT INTO artists (did, handle, display_name, created_at, updated_at)
  VALUES ('did:plc:benchartist000000000000', 'bench.test', 'Bench', $now, $now);
INSERT INTO tracks (artist_did, title, file_id, file_type, file_size, codec, sample_rate, channels, duration_ms,
                    visibility, atproto_rkey, atproto_record_uri, publish_state, created_at, updated_at)
  VALUES ('did:plc:benchartist000000000000', 'bench', '$file_id', 'mp3', $((10 * 1024 * 1024)), 'mp3', 44100, 2,
          262000, 'public', '3kbenchrkey22', 'at://did:plc:benchartist000000000000/fm.plyr.track/3kbenchrkey22',
          'published', $now, $now);
SQL
  "$build/plyr" serve &
  pids+=($!)
  plyr_pid=$!
fi

for url in "http://127.0.0.1:$nginx_port/audio/$file_id.mp3" "http://127.0.0.1:$plyr_port$plyr_path"; do
  ok=0
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null -r 0-0 "$url" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "bench: $url does not answer (is /audio wired in plyr serve?)" >&2; exit 1; }
done

cpu_ticks() { local t=0 u s; for p in "$@"; do read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat"); t=$((t + u + s)); done; echo "$t"; }
nginx_pids=$(pgrep -P "${pids[0]}" | tr '\n' ' ')
# Full GETs move 10 MB each: fewer connections, or every request times out on a 2-core machine.
full_connections=$((connections < 16 ? connections : 16))
run() {  # url script connections pids...
  local url=$1 script=$2 conns=$3; shift 3
  local before after
  before=$(cpu_ticks "$@")
  result=$(wrk -t "$threads" -c "$conns" -d "${duration}s" --timeout 20s -s "$script" "$url" | grep '^RESULT')
  after=$(cpu_ticks "$@")
  echo "$result cpu_ticks=$((after - before))"
}

echo "bench: ${duration}s each, 10 MB file, Range GETs over $connections connections, full GETs over" \
  "$full_connections; ${mode:-plyr serve} vs nginx" >&2
n_range=$(run "http://127.0.0.1:$nginx_port/audio/$file_id.mp3" bench/range.lua "$connections" $nginx_pids)
p_range=$(run "http://127.0.0.1:$plyr_port$plyr_path" bench/range.lua "$connections" $plyr_pid)
n_full=$(run "http://127.0.0.1:$nginx_port/audio/$file_id.mp3" bench/audio_full.lua "$full_connections" $nginx_pids)
p_full=$(run "http://127.0.0.1:$plyr_port$plyr_path" bench/audio_full.lua "$full_connections" $plyr_pid)

python3 - "$p_range" "$n_range" "$p_full" "$n_full" "$(getconf CLK_TCK)" <<'PY'
import re, sys
def parse(line):
    return {k: float(v) for k, v in re.findall(r'(\w+)=([0-9.]+)', line)}
pr, nr, pf, nf = (parse(a) for a in sys.argv[1:5])
tck = float(sys.argv[5])
def rate(r): return r['requests'] / r['seconds']
def mbps(r): return r['bytes'] / r['seconds'] / 1e6
def cpu_us(r): return r['cpu_ticks'] / tck * 1e6 / max(r['requests'], 1)
print(f"{'case':14} {'req/s':>9} {'MB/s':>9} {'p99 ms':>9} {'cpu us/req':>11} {'errors':>7}")
for name, r in (('plyr range', pr), ('nginx range', nr), ('plyr full', pf), ('nginx full', nf)):
    print(f"{name:14} {rate(r):9.0f} {mbps(r):9.1f} {r['p99_ms']:9.2f} {cpu_us(r):11.1f} {int(r['errors']):7d}")
print(f"full GETs: req/s ratio {rate(pf)/rate(nf):.2f}, cpu/req ratio {cpu_us(pf)/cpu_us(nf):.2f} (lower is better)")
print(f"range GETs: cpu/req ratio {cpu_us(pr)/cpu_us(nr):.2f} (lower is better)")
print(f"ratio plyr/nginx = {rate(pr)/rate(nr):.2f}  (req/s, 256 KiB Range GETs; goal >= 1.0)")
PY
