#!/bin/sh
# valgrind.sh BIN_DIR OUT_DIR [JOBS]: the scenario suite under valgrind memcheck
# in all four programs. `konform run` itself runs under valgrind, and through
# KONFORM_STACK_WRAPPER so do konform-mail, konform-post and konform-server of
# the embedded stack it starts. Each program's valgrind log
# goes to OUT_DIR/NAME.log (konform.log, konform-mail.log, ...), the run's own
# output to OUT_DIR/run.txt.
#
# It fails when the run does not pass, when a program reports a memory error
# or a definite leak (--error-exitcode makes such a program exit 99, which the
# harness reports as an unclean shutdown), or when a log has no error summary
# (a program that was killed before valgrind could write one).
#
# The timing scenarios (files with a `timing N rounds` step) are left out:
# under memcheck one of them needs about ten minutes at the interactive hash
# cost, and a wall-time comparison of two requests through valgrind's
# serialised threads says nothing about the program as it runs without it.
# Without them the embedded stack starts no konform-server-timing (it starts
# only for a run with a timing step); konform-server is the same program.
set -eu
bin=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
jobs=${3:-2}
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "valgrind: installing valgrind"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends valgrind
  else
    echo "valgrind: valgrind is missing; run:  sudo apt-get install -y valgrind" >&2
    exit 1
  fi
fi

# The wrapper is cut at blanks with no quoting (kh_stack.c), so no path in it
# may hold one.
case "$out" in
  *[[:space:]]*)
    echo "valgrind: $out holds a blank, which KONFORM_STACK_WRAPPER cannot carry" >&2
    exit 1
    ;;
esac

rm -f "$out"/*.log "$out/run.txt" "$out/konform.json"
supp=""
for f in tests/valgrind/*.supp; do
  [ -f "$f" ] && supp="$supp --suppressions=$(pwd)/$f"
done
vg="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite"
vg="$vg --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30"
# konform forks the stack's programs; the copy between fork and exec is not
# worth a report of its own.
vg="$vg --child-silent-after-fork=yes$supp"

files=$(find scenarios -name '*.konform' | sort | xargs grep -LE '^[[:space:]]*timing [0-9]')
left_out=$(find scenarios -name '*.konform' | sort | xargs grep -lE '^[[:space:]]*timing [0-9]' |
  tr '\n' ' ' || true)
echo "valgrind: $(echo "$files" | wc -w) scenario files, $jobs jobs; left out (timing): $left_out"
echo "valgrind: logs in $out"

start=$(date +%s)
rc=0
# shellcheck disable=SC2086
KONFORM_STACK_WRAPPER="$vg --log-file=$out/%q{KONFORM_STACK_CHILD}.log" \
  $vg --log-file="$out/konform.log" "$bin/konform" run --jobs "$jobs" --no-color \
  --catalogue scenarios/catalogue.json --report json="$out/konform.json" $files \
  >"$out/run.txt" 2>&1 || rc=$?
end=$(date +%s)

tail -n 3 "$out/run.txt"
echo "valgrind: konform run exited with $rc after $((end - start)) s"
bad=0
[ "$rc" -eq 0 ] || bad=1
for name in konform konform-mail konform-post konform-server; do
  log=$out/$name.log
  summary=$(grep 'ERROR SUMMARY:' "$log" 2>/dev/null | tail -n 1 | sed 's/^==[0-9]*== //')
  definite=$(grep 'definitely lost:' "$log" 2>/dev/null | tail -n 1 | sed 's/^==[0-9]*== *//')
  if [ -z "$summary" ]; then
    echo "valgrind: $name: no error summary in $log" >&2
    bad=1
    continue
  fi
  echo "valgrind: $name: $summary; ${definite:-definitely lost: 0 bytes (no leak)}"
  case "$summary" in
    "ERROR SUMMARY: 0 errors"*) ;;
    *) bad=1 ;;
  esac
done
if [ "$bad" -ne 0 ]; then
  echo "valgrind: FAILED; see $out/run.txt and the logs beside it" >&2
  exit 1
fi
echo "valgrind: every program ran the suite clean"
