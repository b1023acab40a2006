#!/bin/sh
# Fails when our C code calls a libc function we ban for being unbounded or
# unchecked (the curl rule). Comments and string literals are not searched.
set -eu
cd "$(dirname "$0")/.."
pattern='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets)[[:space:]]*\('
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.c' -o -name '*.h')
[ -z "$files" ] && exit 0
# Strip /* */ and // comments and string literals before matching.
bad=$(for f in $files; do
  [ -f "$f" ] || continue
  sed -e 's/"\([^"\\]\|\\.\)*"/""/g' -e 's://.*$::' "$f" |
    awk -v f="$f" '{
      line=$0
      if (incomment) { if (sub(/.*\*\//, "", line)) incomment=0; else next }
      while (match(line, /\/\*/)) {
        rest=substr(line, RSTART+2)
        if (match(rest, /\*\//)) line=substr(line,1,RSTART-1) " " substr(rest,RSTART+2)
        else { line=substr(line,1,RSTART-1); incomment=1 }
      }
      print f ":" NR ": " line
    }' | grep -E "$pattern" || true
done)
if [ -n "$bad" ]; then
  echo "check-banned: banned libc calls (use kf_str_* / kf_buf_* instead):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-banned: no banned calls"
