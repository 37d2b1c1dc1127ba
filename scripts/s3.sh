#!/usr/bin/env bash
# s3.sh - an S3-compatible test server (s3rver on the pinned Node 22) for the _s3test suites.
#
#   export "$(scripts/s3.sh start <dir>)"   # stdout: PLYR_TEST_S3=http://127.0.0.1:<port>
#   scripts/s3.sh stop <dir>
#
# start: installs the node fixture if needed (scripts/node.sh), runs s3rver on 127.0.0.1 with a free port
# (the OS picks it), data under <dir>/s3rver-data, buckets $PLYR_S3_BUCKETS (default: plyr-audio
# plyr-private plyr-images), waits until it answers HTTP and prints the endpoint. Idempotent: a server
# already running for <dir> is reused. Credentials: access key S3RVER, secret S3RVER (s3rver checks only the
# key id; it does not verify V4 signatures). Virtual-host style works on http://s3.localhost:<port>.
# stop: stops exactly the process start recorded in <dir>/s3rver.pid and removes its data. Idempotent.
# Files in <dir>: s3rver.pid, s3rver.json (ready info), s3rver.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUCKETS="${PLYR_S3_BUCKETS:-plyr-audio plyr-private plyr-images}"
START_TIMEOUT="${PLYR_S3_START_TIMEOUT:-30}"

log() { printf '[s3.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { echo "usage: $0 start|stop <dir>" >&2; exit 64; }

[ $# -eq 2 ] || usage
cmd="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
pid_file="$dir/s3rver.pid"
ready_file="$dir/s3rver.json"
log_file="$dir/s3rver.log"
data_dir="$dir/s3rver-data"

# The pid of the s3rver started for this dir, or nothing. Only a live process whose command line names our
# ready file counts, so a recycled pid is never signalled.
running_pid() {
  local pid
  [ -f "$pid_file" ] || return 0
  pid="$(tr -dc '0-9' <"$pid_file")"
  [ -n "$pid" ] || return 0
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "s3rver.mjs --directory $data_dir --ready $ready_file"; then
    printf '%s\n' "$pid"
  fi
}

ready_port() {
  [ -f "$ready_file" ] || return 0
  sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$ready_file"
}

answers() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null || true)"
  [ -n "$code" ] && [ "$code" != "000" ]
}

start() {
  command -v curl >/dev/null || die "curl not found"
  local pid port node fixture launched deadline
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    port="$(ready_port)"
    if [ -n "$port" ] && answers "$port"; then
      log "already running (pid $pid)"
      printf 'PLYR_TEST_S3=http://127.0.0.1:%s\n' "$port"
      return 0
    fi
    die "pid $pid is running but not answering; run '$0 stop $dir' (log: $log_file)"
  fi
  node="$("$ROOT/scripts/node.sh")" || exit $?
  fixture="${node%/node_modules/*}"
  rm -f "$pid_file" "$ready_file"
  mkdir -p "$data_dir"
  local bucket_args=()
  for b in $BUCKETS; do bucket_args+=(--bucket "$b"); done
  [ -f "$log_file" ] && mv -f "$log_file" "$log_file.1"
  setsid "$node" "$fixture/s3rver.mjs" --directory "$data_dir" --ready "$ready_file" \
    --address 127.0.0.1 --port 0 "${bucket_args[@]}" >>"$log_file" 2>&1 </dev/null &
  launched=$!
  echo "$launched" >"$pid_file"
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    port="$(ready_port)"
    if [ -n "$port" ] && answers "$port"; then break; fi
    if ! kill -0 "$launched" 2>/dev/null; then
      tail -n 30 "$log_file" >&2
      rm -f "$pid_file"
      die "s3rver exited during startup (log: $log_file)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "s3rver not answering after ${START_TIMEOUT}s (pid $launched; log: $log_file)"
    sleep 0.1
  done
  log "s3rver pid $launched on 127.0.0.1:$port, buckets: $BUCKETS"
  printf 'PLYR_TEST_S3=http://127.0.0.1:%s\n' "$port"
}

stop() {
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not exit in 5 s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped pid $pid"
  else
    log "not running for $dir"
  fi
  rm -f "$pid_file" "$ready_file"
  rm -rf "$data_dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
