#!/usr/bin/env bash
# Installs what plyr needs on Debian 12, idempotently (a second run installs nothing and takes seconds).
#   scripts/bootstrap.sh          build + run dependencies
#   scripts/bootstrap.sh --test   also what the test suites need (PostgreSQL, python3, curl, pinned Node 22)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# Never add libboost-dev / libboost-all-dev: they conflict with libboost1.81-dev (docs/dependencies.md).
packages=(build-essential cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libssl-dev libcurl4-openssl-dev libpq-dev libsqlite3-dev
  libexpected-dev libfmt-dev libspdlog-dev libcli11-dev libicu-dev
  libavformat-dev libavcodec-dev libavfilter-dev libswresample-dev libavutil-dev ffmpeg
  libtag1-dev libchromaprint-dev libebur128-dev libvips-dev)
if [ "$want_test" = 1 ]; then
  packages+=(clang clang-format libclang-rt-14-dev libgtest-dev libgmock-dev postgresql-15 sqlite3 python3 curl procps sox)
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done
# JavaScript tooling: Debian's nodejs+npm only to bootstrap npm, and only where npm is missing (on machines
# whose Node comes from elsewhere, Debian's npm conflicts). Every JS tool then runs on the pinned Node 22.
need_npm=0
if [ "$want_test" = 1 ] && ! command -v npm >/dev/null 2>&1; then need_npm=1; missing+=(nodejs npm); fi

updated_stamp=/var/lib/apt/periodic/plyr-update-stamp
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  as_root mkdir -p "$(dirname "$updated_stamp")" && as_root touch "$updated_stamp" || true
fi

if [ "$want_test" = 1 ]; then
  scripts/node.sh >/dev/null
fi
echo "bootstrap: ok" >&2
