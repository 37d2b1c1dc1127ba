#!/usr/bin/env bash
# Fuzz smoke: builds the clang/libFuzzer preset (parser targets only) and runs every target for a few
# seconds from its committed corpus (new inputs go to a scratch dir, never into the repo). Exits non-zero
# on a crash or a broken property. Runs as the ctest test `fuzz_smoke` (RUN_SERIAL).
#   scripts/fuzz_smoke.sh [seconds_per_target=8]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-8}
command -v clang++ >/dev/null || { echo "fuzz_smoke: clang++ missing (scripts/bootstrap.sh --test installs it)" >&2; exit 1; }
build=build/fuzz
if [ ! -f "$build/build.ninja" ]; then
  cmake --preset fuzz >/dev/null
fi
targets=$(sed -n 's/^plyr_fuzz(\([a-z0-9_]*\).*/fuzz_\1/p' tests/fuzz/CMakeLists.txt)
# shellcheck disable=SC2086
cmake --build "$build" --target $targets >/dev/null
scratch=$(mktemp -d /tmp/plyr-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failed=0
passed=0
for t in $targets; do
  name=${t#fuzz_}
  mkdir -p "$scratch/$name"
  if "$build/tests/fuzz/$t" -max_total_time="$seconds" -print_final_stats=0 -artifact_prefix="$scratch/" \
      "$scratch/$name" "tests/fuzz/corpus/$name" >"$scratch/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "fuzz_smoke: $t ok ($(grep -o 'Done [0-9]* runs' "$scratch/$name.log" | tail -n 1))"
  else
    failed=$((failed + 1))
    echo "fuzz_smoke: $t FAILED"
    tail -n 40 "$scratch/$name.log"
  fi
done
echo "fuzz_smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
