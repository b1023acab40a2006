#!/bin/sh
# Fails when a tracked C file differs from what clang-format (.clang-format at
# the root) makes of it. `make format` fixes them all.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')
bad=""
for f in $files; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "check-format: not clang-formatted (run 'make format'):$bad" >&2
  exit 1
fi
echo "check-format: every C file is clang-formatted"
