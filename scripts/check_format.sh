#!/usr/bin/env bash
# Fails when a tracked C++ file is not formatted per .clang-format (runs as the ctest test `format_check`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed" >&2; exit 1; }
bad=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then echo "not formatted: $f"; bad=1; fi
done < <(git ls-files -z -- '*.cpp' '*.hpp' '*.h' '*.cc' 2>/dev/null)
[ "$bad" = 0 ] && echo "all C++ files formatted"
exit "$bad"
