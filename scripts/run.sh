#!/usr/bin/env bash
# The README's "run" command: a self-contained demo on this machine, offline (only the Debian and npm registries
# are needed, once, to install). It installs what is missing, builds plyr (release), starts the local reference
# atproto PDS + PLC directory (the tests' fixture: tests/fixtures/atproto-testnet, pinned, loopback only),
# creates two demo accounts, and runs `plyr serve` configured for that PDS at http://127.0.0.1:8001
# (PORT=… or --port N to change). Sign in with the printed handles and passwords.
#
# Demo data is EPHEMERAL: the PDS keeps its PLC directory in memory, so every start resets the demo PDS and the
# demo data dir (./plyr-data/demo/) together and re-seeds them (new DIDs each time). Ctrl-C stops plyr and the
# PDS. Extra arguments go to `plyr serve`. Settings: environment variables or .env (docs/configuration.md);
# the demo sets PUBLIC_URL, HOST, PORT, DATA_DIR, DATABASE_URL, STORAGE_BACKEND, PLC_DIRECTORY_URL,
# HANDLE_RESOLVER_URL, ALLOW_PRIVATE_NETWORK, OAUTH_ENCRYPTION_KEY, ATPROTO_CLIENT_ID and ATPROTO_REDIRECT_URI.
#
# PLYR_DEMO=0 scripts/run.sh [args]  skips the PDS and runs `plyr serve` with your settings as they are
# (production-style: persistent DATA_DIR, DNS/HTTPS handles, plc.directory; docs/deploy.md).
# For the demo's own test (tests/integration/testnet/run_demo.sh): PLYR_RUN_BINARY=<plyr> skips installing and
# building and runs that binary; PLYR_DEMO_DIR (default ./plyr-data/demo) moves the demo's PDS and data dirs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

demo=1
case "${PLYR_DEMO:-1}" in
  0 | false) demo=0 ;;
  1 | true) ;;
  *)
    echo "run: PLYR_DEMO must be 0 or 1" >&2
    exit 2
    ;;
esac

# The demo PDS needs npm (to install the pinned packages once), python3/make/g++ (better-sqlite3 is compiled)
# and curl; `bootstrap.sh --test` is what installs those.
demo_tools_missing() {
  local tool
  for tool in npm python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || return 0
  done
  return 1
}
if [ -n "${PLYR_RUN_BINARY:-}" ]; then
  plyr=$(realpath -- "$PLYR_RUN_BINARY")
else
  if [ "$demo" = 1 ] && demo_tools_missing; then
    scripts/bootstrap.sh --test
  else
    scripts/bootstrap.sh
  fi
  build=build/release
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLYR_BUILD_TESTS=OFF >&2
  fi
  cmake --build "$build" --target plyr >&2
  plyr="$repo/$build/plyr"
fi
[ "$demo" = 1 ] || exec "$plyr" serve "$@"

# ------------------------------------------------------------------------------------------------ demo
# The port decides PUBLIC_URL (the OAuth redirect URI), so it must be known before plyr starts.
port=${PORT:-8001}
host=${HOST:-127.0.0.1}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --port) port=${args[i + 1]:-} ;;
    --port=*) port=${args[i]#--port=} ;;
    --host) host=${args[i + 1]:-} ;;
    --host=*) host=${args[i]#--host=} ;;
  esac
done
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  echo "run: the demo needs a fixed port 1..65535 (got '$port'): it is part of the OAuth redirect URI" >&2
  exit 2
fi

export PLYR_CACHE_DIR=${PLYR_CACHE_DIR:-$HOME/.cache/plyr}
demo_dir=$(realpath -m -- "${PLYR_DEMO_DIR:-$repo/plyr-data/demo}")
[ "$demo_dir" != / ] || {
  echo "run: refusing / as PLYR_DEMO_DIR" >&2
  exit 2
}
pds_dir="$demo_dir/pds"
data_dir="$demo_dir/data"
plyr_pid=""
cleanup() {
  # A second Ctrl-C (or a signal sent to the whole process group twice) must not cut the cleanup short.
  trap '' INT TERM HUP
  if [ -n "$plyr_pid" ] && kill -0 "$plyr_pid" 2>/dev/null; then
    kill -TERM "$plyr_pid" 2>/dev/null || true
    wait "$plyr_pid" 2>/dev/null || true
  fi
  scripts/testnet.sh stop "$pds_dir" >/dev/null 2>&1 || true
  echo "run: stopped plyr and the demo PDS (demo data is discarded at the next start)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Reset the PDS and plyr's data together: the PDS forgets every account when it stops (in-memory PLC), so
# sessions, tracks and records plyr kept for those DIDs would point at nothing.
scripts/testnet.sh stop "$pds_dir" >/dev/null 2>&1 || true
rm -rf "$data_dir"
mkdir -p "$data_dir"
# The loopback-client opt-in also lets a configured OAUTH_JWK (confidential client on 127.0.0.1) sign in.
testnet_env=$(TESTNET_ALLOW_LOOPBACK_CLIENTS=1 scripts/testnet.sh start "$pds_dir")
eval "$testnet_env"
accounts=$(scripts/testnet.sh seed "$pds_dir" 2)
credentials=$(python3 -c 'import json, sys
for a in json.loads(sys.argv[1]):
    print("  %-12s password %-12s %s" % (a["handle"], a["password"], a["did"]))' "$accounts")

# Environment beats .env (docs/configuration.md), so these hold whatever .env says.
export HOST="$host" PORT="$port"
export PUBLIC_URL="http://127.0.0.1:$port" # loopback PUBLIC_URL = development mode, loopback OAuth client
export ATPROTO_CLIENT_ID="" ATPROTO_REDIRECT_URI="" # derived from PUBLIC_URL, whatever .env says
export DATA_DIR="$data_dir" DATABASE_URL="sqlite:///$data_dir/plyr.db" STORAGE_BACKEND=local
export PLC_DIRECTORY_URL="$TESTNET_PLC_URL" HANDLE_RESOLVER_URL="$TESTNET_PDS_URL"
# Exactly the demo PDS and PLC among private addresses; everything else non-public stays refused.
export ALLOW_PRIVATE_NETWORK="localhost:$TESTNET_PDS_PORT,localhost:$TESTNET_PLC_PORT"
OAUTH_ENCRYPTION_KEY=$("$plyr" keygen encryption-key) # a new one per demo: the data it protects is new too
export OAUTH_ENCRYPTION_KEY
unset OAUTH_ENCRYPTION_KEY_PREVIOUS

"$plyr" serve "$@" &
plyr_pid=$!
up=0
for _ in $(seq 1 300); do
  if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then
    up=1
    break
  fi
  kill -0 "$plyr_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" = 1 ]; then
  cat <<EOF

plyr demo is running: http://127.0.0.1:$port
Sign in with a demo account of the local PDS ($TESTNET_PDS_URL):
$credentials
Demo data is reset at every start (the PDS keeps its directory in memory). Ctrl-C stops plyr and the PDS.

EOF
fi
set +e
wait "$plyr_pid"
status=$?
set -e
plyr_pid=""
exit "$status"
