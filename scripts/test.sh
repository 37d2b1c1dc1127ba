#!/usr/bin/env bash
# The README's "test" command (and what .ci/run calls): installs what is missing, builds plyr with
# ASan+UBSan and -Werror, starts the services the tests need (a throwaway PostgreSQL cluster, an
# S3-compatible server and the atproto testnet (PLC + PDS), all on loopback), and runs every suite under ctest.
# Exits non-zero on any failure; ctest's summary line is the last thing printed.
#   scripts/test.sh [ctest args…]     e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
# JS fixture installs (Node 22, s3rver, the atproto testnet) live outside the checkout so CI clones reuse them.
export PLYR_CACHE_DIR=${PLYR_CACHE_DIR:-$HOME/.cache/plyr}

scripts/bootstrap.sh --test

build=${PLYR_TEST_BUILD_DIR:-build/asan}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLYR_SANITIZE=ON -DPLYR_WERROR=ON >&2
fi
cmake --build "$build" >&2

work=$(mktemp -d /tmp/plyr-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  scripts/testnet.sh stop "$work/testnet" >/dev/null 2>&1 || true
  scripts/s3.sh stop "$work/s3" >/dev/null 2>&1 || true
  scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

eval "export $(scripts/pg.sh start "$work/pg" | grep '^PLYR_TEST_PG=')"
export PLYR_TEST_PG_RESTART="$repo/scripts/pg.sh restart $work/pg"
eval "export $(scripts/s3.sh start "$work/s3" | grep '^PLYR_TEST_S3=')"
# Via a variable: `eval "$(…)"` would swallow a failed start under set -e (then the suites would skip).
# With the loopback-client opt-in, so plyr's confidential OAuth client (client_id on 127.0.0.1) is tested too.
testnet_env=$(TESTNET_ALLOW_LOOPBACK_CLIENTS=1 scripts/testnet.sh start "$work/testnet")
eval "$testnet_env"
echo "test: PostgreSQL at ${PLYR_TEST_PG%%/plyr_test}, S3 at $PLYR_TEST_S3, atproto PDS at $TESTNET_PDS_URL" >&2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PLYR_BINARY="$repo/$build/plyr"

set +e
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@" 2>&1 | tee "$work/ctest.log" |
  grep -v -E '^(Label Time Summary:|Total Test time|[[:space:]]*[a-z0-9_]+ += .*proc)' |
  sed -e '/tests passed, .* tests failed out of/d'
status=${PIPESTATUS[0]}
set -e
# The runner's summary line closes the run (CI reads it).
if ! grep -E 'tests passed, .* tests failed out of' "$work/ctest.log"; then
  echo "0 passed, 1 failed"
  status=1
fi
exit "$status"
