#!/usr/bin/env bash
# The README's "test" command (and what .ci/run calls): installs what is missing, builds plyr with
# ASan+UBSan and -Werror, starts the services the tests need (a throwaway PostgreSQL cluster and an
# S3-compatible server, both on loopback), and runs every suite under ctest. Exits non-zero on any failure;
# ctest's summary line is the last thing printed.
#   scripts/test.sh [ctest args…]     e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

scripts/bootstrap.sh --test

build=${PLYR_TEST_BUILD_DIR:-build/asan}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLYR_SANITIZE=ON -DPLYR_WERROR=ON >&2
fi
cmake --build "$build" >&2

work=$(mktemp -d /tmp/plyr-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  scripts/s3.sh stop "$work/s3" >/dev/null 2>&1 || true
  scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

eval "export $(scripts/pg.sh start "$work/pg" | grep '^PLYR_TEST_PG=')"
export PLYR_TEST_PG_RESTART="$repo/scripts/pg.sh restart $work/pg"
eval "export $(scripts/s3.sh start "$work/s3" | grep '^PLYR_TEST_S3=')"
echo "test: PostgreSQL at ${PLYR_TEST_PG%%/plyr_test}, S3 at $PLYR_TEST_S3" >&2

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
