#!/usr/bin/env bash
# The README's "run" command: installs what is missing, builds plyr (release) and starts `plyr serve` on the
# embedded default (SQLite + local disk under ./plyr-data) at http://127.0.0.1:8001. Extra arguments go to
# `plyr serve` (e.g. --port 9000). Settings: environment variables or a .env file (docs/configuration.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
build=build/release
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLYR_BUILD_TESTS=OFF >&2
fi
cmake --build "$build" --target plyr >&2
exec "$build/plyr" serve "$@"
