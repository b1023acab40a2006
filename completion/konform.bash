# bash completion for konform(1): commands, each command's options, and the
# values they take. Scenario names, requirement IDs and tags come from the
# konform being completed (`konform list`, `konform requirements`), so they are
# those of the suite and catalogue a run from here would use.
#
# The option lists mirror KH_CLI_SCOPES in harness/src/kh_cli.c (an option a
# command would ignore is a usage error there); tests/integration/completion.sh
# fails when the two differ. Installed to
# $(PREFIX)/share/bash-completion/completions/konform; works without the
# bash-completion package too (source it).

_konform_commands="run list lint mocks selftest requirements version help merge explain repro"

# The options each command reads (--help is accepted everywhere).
_konform_opts_for() {
  case $1 in
  run)
    echo --target --jobs --covers --tag --name --report --trace --verbose -v --seed --run-id \
      --catalogue --keep-state --no-color --fault --allow-partial --shard --help
    ;;
  selftest)
    echo --jobs --covers --tag --name --seed --run-id --catalogue --keep-state --help
    ;;
  list) echo --covers --tag --name --shard --help ;;
  lint | requirements | version) echo --catalogue --help ;;
  mocks) echo --catalogue --smtp-port --mail-port --post-port --help ;;
  merge) echo --report --trace --verbose -v --no-color --allow-partial --help ;;
  explain) echo --target --catalogue --help ;;
  repro) echo --target --seed --run-id --catalogue --output -o --help ;;
  help) echo --help ;;
  esac
}

# Options whose value is the next word.
_konform_takes_value() {
  case $1 in
  --target | --jobs | --covers | --tag | --name | --report | --trace | --seed | --run-id | \
    --catalogue | --fault | --smtp-port | --mail-port | --post-port | --shard | --output | -o)
    return 0
    ;;
  esac
  return 1
}

# The words of the line, with "--opt=value" and "KIND=PATH" (which bash splits
# at '=') joined again, into _konform_w and the current index _konform_cw.
_konform_join_words() {
  _konform_w=()
  _konform_cw=0
  local i w glue=0
  for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == "=" && ${#_konform_w[@]} -gt 0 && $i -gt 1 ]]; then
      _konform_w[${#_konform_w[@]} - 1]+="="
      glue=1
    elif ((glue)); then
      _konform_w[${#_konform_w[@]} - 1]+=$w
      glue=0
    else
      _konform_w+=("$w")
    fi
    ((i == COMP_CWORD)) && _konform_cw=$((${#_konform_w[@]} - 1))
  done
}

# The arguments that tell konform which suite and catalogue: the --catalogue
# and the existing PATH words already on the line.
_konform_suite_args() {
  local i w skip=0
  for ((i = 2; i < ${#_konform_w[@]}; i++)); do
    ((i == _konform_cw)) && continue
    w=${_konform_w[i]}
    if ((skip)); then
      skip=0
      [[ ${_konform_w[i - 1]} == --catalogue ]] && printf '%s\n' --catalogue "$w"
      continue
    fi
    case $w in
    --catalogue=*) printf '%s\n' "$w" ;;
    -*=*) ;;
    -*) _konform_takes_value "$w" && skip=1 ;;
    *) [[ -e $w && $w == *.konform || -d $w ]] && printf '%s\n' "$w" ;;
    esac
  done
}

_konform_run_tool() {
  local -a args
  mapfile -t args < <(_konform_suite_args)
  "${_konform_w[0]}" "$@" "${args[@]}" 2>/dev/null
}

_konform_scenarios() { _konform_run_tool list | cut -f2; }
_konform_tags() { _konform_run_tool list | cut -f4 | sed 's/^tags://' | tr ' ' '\n' | sed '/^$/d' | sort -u; }
_konform_requirements() {
  local -a args
  mapfile -t args < <(_konform_suite_args | grep -v -e '\.konform$' || true)
  # requirements reads only the catalogue: a folder or --catalogue finds it.
  "${_konform_w[0]}" requirements "${args[@]}" 2>/dev/null |
    sed -n 's/^- \*\*\([A-Za-z0-9._-]*\)\*\* .*/\1/p'
}

# COMPREPLY from the lines of a list that start with cur (names may hold blanks).
_konform_reply_lines() {
  local cur=$1 line quote=""
  case $cur in
  \"* | \'*)
    quote=${cur:0:1}
    cur=${cur:1}
    ;;
  *\\*) cur=$(sed 's/\\\(.\)/\1/g' <<<"$cur") ;;
  esac
  while IFS= read -r line; do
    [[ -n $line && $line == "$cur"* ]] || continue
    if [[ -n $quote ]]; then
      COMPREPLY+=("$line")
    else
      COMPREPLY+=("$(printf '%q' "$line")")
    fi
  done
}

_konform_files() {
  local cur=$1 pattern=$2
  compopt -o filenames 2>/dev/null
  local f
  while IFS= read -r f; do
    if [[ -d $f || -z $pattern || $f == $pattern ]]; then
      COMPREPLY+=("$f")
    fi
  done < <(compgen -f -- "$cur")
}

# The value of option opt, cur being what is typed of it.
_konform_value() {
  local opt=$1 cur=$2
  case $opt in
  --target) _konform_files "$cur" "" ;;
  --catalogue) _konform_files "$cur" "*.json" ;;
  --output | -o) _konform_files "$cur" "" ;;
  --trace) mapfile -t COMPREPLY < <(compgen -W "failed all" -- "$cur") ;;
  --covers) _konform_reply_lines "$cur" < <(_konform_requirements) ;;
  --tag) _konform_reply_lines "$cur" < <(_konform_tags) ;;
  --name) _konform_reply_lines "$cur" < <(_konform_scenarios) ;;
  --fault)
    local server="${_konform_w[0]%konform}konform-server"
    [[ $server == */* && -x $server ]] || server=konform-server
    _konform_reply_lines "$cur" < <("$server" --list-faults 2>/dev/null | awk '{print $1}')
    ;;
  --report)
    if [[ $cur == *=* ]]; then
      _konform_files "${cur#*=}" ""
    else
      compopt -o nospace 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -W "json= junit= html= tap= tap13=" -- "$cur")
    fi
    ;;
  esac
}

# Which operand (0-based) the current word is, counting the words after the
# command that are neither options nor their values.
_konform_operand_index() {
  local i n=0 w skip=0
  for ((i = 2; i < _konform_cw; i++)); do
    w=${_konform_w[i]}
    if ((skip)); then
      skip=0
    elif [[ $w == -*=* ]]; then
      :
    elif [[ $w == -* ]]; then
      _konform_takes_value "$w" && skip=1
    else
      n=$((n + 1))
    fi
  done
  echo "$n"
}

_konform_operand() {
  local cmd=$1 cur=$2 n
  n=$(_konform_operand_index)
  case $cmd in
  explain) ((n == 0)) && _konform_reply_lines "$cur" < <(_konform_requirements) && return ;;
  repro) ((n == 0)) && _konform_reply_lines "$cur" < <(_konform_scenarios) && return ;;
  merge)
    _konform_files "$cur" "*.json"
    return
    ;;
  version | help) return ;;
  esac
  ((${#COMPREPLY[@]})) || _konform_files "$cur" "*.konform"
}

_konform() {
  COMPREPLY=()
  _konform_join_words
  local cur=${_konform_w[_konform_cw]} prev=""
  ((_konform_cw > 0)) && prev=${_konform_w[_konform_cw - 1]}
  if ((_konform_cw == 1)); then
    mapfile -t COMPREPLY < <(compgen -W "$_konform_commands --help --version" -- "$cur")
    return 0
  fi
  local cmd=${_konform_w[1]}
  # "--opt=value": bash replaces only what follows the last '=', so the
  # candidates below are values without the "--opt=" in front.
  if [[ $cur == --*=* ]]; then
    _konform_value "${cur%%=*}" "${cur#*=}"
    return 0
  fi
  if [[ $prev == -* && $_konform_cw -gt 2 ]] && _konform_takes_value "$prev"; then
    _konform_value "$prev" "$cur"
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_konform_opts_for "$cmd")" -- "$cur")
    return 0
  fi
  _konform_operand "$cmd" "$cur"
  return 0
}

complete -F _konform konform
