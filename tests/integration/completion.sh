#!/bin/sh
# completion.sh: completion/konform.bash, sourced in bash, offers the
# commands, each command's options (exactly those konform accepts for it:
# every other one must be refused with "does nothing for"), scenario names,
# requirement IDs, tags and report kinds. Runs nothing against a server.
# Prints TAP (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/completion.sh
set -u

it_name=completion
it_pid_vars=""
. tests/integration/lib/common.sh
konform="$bin/konform"

# comp WORD...: the candidates, one a line, for the line "konform WORD..."
# with the cursor at the end of the last word. bash splits "a=b" into
# "a" "=" "b" (COMP_WORDBREAKS); write those words apart as it would.
cat >"$tmp/comp.bash" <<'END'
. completion/konform.bash
COMP_WORDS=("$KONFORM" "$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_konform
printf '%s\n' "${COMPREPLY[@]}"
END
comp() {
  KONFORM=$konform bash "$tmp/comp.bash" "$@" >"$tmp/comp" 2>"$tmp/comp.err"
}
# offers WHAT CANDIDATE WORD...: CANDIDATE is among the candidates for WORD...
offers() {
  what=$1
  want=$2
  shift 2
  comp "$@"
  it_that "$what: \"$want\" offered (got: $(tr '\n' '|' <"$tmp/comp"); $(head -c 300 "$tmp/comp.err"))" \
    grep -qxF -- "$want" "$tmp/comp"
}

case_commands() {
  if ! command -v bash >/dev/null 2>&1; then
    it_skip "bash is not installed"
    return 0
  fi
  offers "konform r" run r
  offers "konform r" requirements r
  offers "konform r" repro r
  offers "konform --v" --version --v
}

# A value each option parses, never its zero (konform sees an option as
# given by its field no longer being zero), pointing nowhere, so a command that gets past
# its options fails at once (no scenarios, no catalogue) instead of running.
value_of() {
  case $1 in
  --jobs) echo 2 ;;
  --covers) echo ACC-01 ;;
  --tag) echo acc ;;
  --name | --fault) echo x ;;
  --report) echo "json=$tmp/r.json" ;;
  --trace) echo all ;;
  --seed | --run-id) echo 1 ;;
  --smtp-port | --mail-port | --post-port) echo 1 ;;
  --shard) echo 1/2 ;;
  --output) echo "$tmp/o.sh" ;;
  --target) echo "$tmp/none.profile" ;;
  --catalogue) echo "$tmp/none.json" ;;
  esac
}
# The options of `konform help` (long names).
"$konform" help | sed -n 's/^  \(--[a-z-]*\).*/\1/p' >"$tmp/all-opts"

# check_command CMD OPERAND: every option offered is accepted by konform CMD,
# every other one refused as doing nothing for it.
check_command() {
  cmd=$1
  operand=$2
  comp "$cmd" -
  cat "$tmp/comp" >"$tmp/offered"
  it_that "$cmd: options offered" [ -s "$tmp/offered" ]
  while read -r opt; do
    [ "$opt" = --help ] && continue
    val=$(value_of "$opt")
    # An offered --catalogue is given anyway, so nothing finds the real one and starts.
    cat_args=""
    grep -qxF -- --catalogue "$tmp/offered" && [ "$opt" != --catalogue ] && cat_args="--catalogue $tmp/none.json"
    # shellcheck disable=SC2086
    timeout 20 "$konform" "$cmd" $operand "$opt" $val $cat_args >/dev/null 2>"$tmp/err"
    if grep -qxF -- "$opt" "$tmp/offered"; then
      it_that "$cmd $opt is offered and accepted ($(head -c 200 "$tmp/err"))" \
        sh -c '! grep -q "does nothing for" "$1"' sh "$tmp/err"
    else
      it_that "$cmd $opt is not offered and refused ($(head -c 200 "$tmp/err"))" \
        grep -q "does nothing for" "$tmp/err"
    fi
  done <"$tmp/all-opts"
}

case_options_match_the_cli() {
  command -v bash >/dev/null 2>&1 || { it_skip "bash is not installed"; return 0; }
  for cmd in run list lint mocks selftest requirements version merge explain repro; do
    case $cmd in
    explain) operand=ACC-01 ;;
    repro) operand=x ;;
    merge) operand="$tmp/none.json" ;;
    version) operand="" ;;
    *) operand="$tmp/none.konform" ;;
    esac
    check_command "$cmd" "$operand"
  done
  offers "run -v" -v run -
  offers "repro -o" -o repro -
}

case_scenario_names() {
  command -v bash >/dev/null 2>&1 || { it_skip "bash is not installed"; return 0; }
  name=$("$konform" list 2>/dev/null | cut -f2 | head -n 1)
  escaped=$(printf '%s' "$name" | sed 's/[^A-Za-z0-9_./-]/\\&/g')
  first=$(printf '%s' "$name" | cut -c1-4)
  offers "repro NAME, escaped" "$escaped" repro "$first"
  offers "--name after an open quote" "$name" run --name "\"$first"
}

case_requirement_ids() {
  command -v bash >/dev/null 2>&1 || { it_skip "bash is not installed"; return 0; }
  offers "explain ID" AUTH-01 explain AUTH-0
  offers "--covers ID" ACC-11 run --covers ACC-1
  comp run --covers PROF-
  n=$(wc -l <"$tmp/comp")
  want=$("$konform" requirements | grep -c '^- \*\*PROF-')
  it_that "every PROF requirement offered ($n of $want)" [ "$n" -eq "$want" ] && [ "$n" -gt 0 ]
}

case_tags_and_values() {
  command -v bash >/dev/null 2>&1 || { it_skip "bash is not installed"; return 0; }
  offers "--tag" acc run --tag ac
  offers "--report KIND" json= run --report js
  offers "--report KIND=PATH" scenarios run --report html = scen
  offers "--catalogue=FILE" scenarios/catalogue.json run --catalogue = scenarios/cat
  offers "--trace" failed run --trace f
  fault=$("$bin/konform-server" --list-faults | awk 'NR == 1 {print $1}')
  offers "--fault" "$fault" run --fault "$(printf '%s' "$fault" | cut -c1-6)"
  offers "a scenario folder" scenarios run scen
}

it_case "commands" case_commands
it_case "each command's options are those konform accepts for it" case_options_match_the_cli
it_case "scenario names" case_scenario_names
it_case "requirement IDs" case_requirement_ids
it_case "tags, report kinds, files, faults" case_tags_and_values
it_done
