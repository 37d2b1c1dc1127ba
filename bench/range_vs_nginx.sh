#!/usr/bin/env bash
# Benchmark: 256 connections of Range GETs (random 256 KiB ranges) of one 10 MB file, served by plyr's
# static/streaming path vs Debian's nginx serving the same file, both on loopback, measured with wrk in the
# same run. Prints req/s, MB/s and p99 for each and the ratio plyr/nginx. Not part of CI.
#   bench/range_vs_nginx.sh [duration_seconds=10] [connections=256]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration=${1:-10}
connections=${2:-256}
threads=2

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (apt-get install wrk nginx-light)" >&2; exit 1; }
done
build=build/release
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLYR_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target plyr >/dev/null

work=$(mktemp -d /tmp/plyr-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/site/_app/immutable" "$work/nginx"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$work/site/_app/immutable/track.bin"
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
    root $work/site;
    location /_app/immutable/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

DATA_DIR="$work/data" STATIC_DIR="$work/site" PORT=$plyr_port PUBLIC_URL="http://127.0.0.1:$plyr_port" \
  LOG_LEVEL=warn HTTP_THREADS=2 WORKER_IN_PROCESS=false "$build/plyr" serve &
pids+=($!)

for port in $plyr_port $nginx_port; do
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/_app/immutable/track.bin" -r 0-0 && break; sleep 0.1; done
done

run() {
  wrk -t "$threads" -c "$connections" -d "${duration}s" --timeout 10s -s bench/range.lua \
    "http://127.0.0.1:$1/_app/immutable/track.bin" | grep '^RESULT'
}
field() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$2"; }

echo "bench: $connections connections, ${duration}s each, random 256 KiB ranges of a 10 MB file" >&2
nginx_result=$(run "$nginx_port")
plyr_result=$(run "$plyr_port")

python3 - "$plyr_result" "$nginx_result" <<'PY'
import re, sys
def parse(line):
    return {k: float(v) for k, v in re.findall(r'(\w+)=([0-9.]+)', line)}
p, n = parse(sys.argv[1]), parse(sys.argv[2])
def rate(r): return r['requests'] / r['seconds']
def mbps(r): return r['bytes'] / r['seconds'] / 1e6
print(f"{'server':8} {'req/s':>10} {'MB/s':>10} {'p99 ms':>10} {'errors':>7}")
for name, r in (('plyr', p), ('nginx', n)):
    print(f"{name:8} {rate(r):10.0f} {mbps(r):10.1f} {r['p99_ms']:10.2f} {int(r['errors']):7d}")
print(f"ratio plyr/nginx: req/s {rate(p)/rate(n):.2f}  MB/s {mbps(p)/mbps(n):.2f}  p99 {p['p99_ms']/n['p99_ms']:.2f} (lower is better)")
PY
