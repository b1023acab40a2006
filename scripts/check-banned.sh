#!/bin/sh
# Fails when our C code (programs, libraries and tests alike) calls a libc
# function we ban: the unbounded or unchecked string calls (the curl rule),
# and raw malloc, calloc, realloc and free anywhere but the allocation module
# lib/src/alloc.c, so every allocation goes through kf_malloc and friends and
# the failure-injection tests reach it. Whole words only: sqlite3_free,
# json_decref, curl_free, g_free, regfree and a member such as ops->free stay
# allowed. Comments and string literals are not searched.
set -eu
cd "$(dirname "$0")/.."
string_calls='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets)[[:space:]]*\('
raw_alloc='(^|[^[:alnum:]_>.])(malloc|calloc|realloc|free)([^[:alnum:]_]|$)'
alloc_module='lib/src/alloc.c'
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.c' -o -name '*.h')
[ -z "$files" ] && exit 0

# strip FILE: print FILE's lines as "FILE:LINE: code" with /* */ and //
# comments and string literals removed.
strip() {
  sed -e 's/"\([^"\\]\|\\.\)*"/""/g' -e 's://.*$::' "$1" |
    awk -v f="$1" '{
      line=$0
      if (incomment) { if (sub(/.*\*\//, "", line)) incomment=0; else next }
      while (match(line, /\/\*/)) {
        # Keep where the comment opens: the match for its end moves RSTART.
        o=RSTART
        rest=substr(line, o+2)
        if (match(rest, /\*\//)) line=substr(line,1,o-1) " " substr(rest,RSTART+2)
        else { line=substr(line,1,o-1); incomment=1 }
      }
      print f ":" NR ": " line
    }'
}

bad_strings=""
bad_alloc=""
for f in $files; do
  [ -f "$f" ] || continue
  code=$(strip "$f")
  hits=$(printf '%s\n' "$code" | grep -E "$string_calls" || true)
  [ -n "$hits" ] && bad_strings="$bad_strings$hits
"
  [ "$f" = "$alloc_module" ] && continue
  hits=$(printf '%s\n' "$code" | grep -E "$raw_alloc" || true)
  [ -n "$hits" ] && bad_alloc="$bad_alloc$hits
"
done
status=0
if [ -n "$bad_strings" ]; then
  echo "check-banned: banned libc calls (use kf_str_* / kf_buf_* instead):" >&2
  printf '%s' "$bad_strings" >&2
  status=1
fi
if [ -n "$bad_alloc" ]; then
  echo "check-banned: raw malloc/calloc/realloc/free outside $alloc_module" \
    "(use kf_malloc/kf_calloc/kf_realloc/kf_free, or cmocka's test_malloc/test_free in tests):" >&2
  printf '%s' "$bad_alloc" >&2
  status=1
fi
[ "$status" = 0 ] && echo "check-banned: no banned calls"
exit "$status"
