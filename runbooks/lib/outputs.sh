# shellcheck shell=bash
# Stack outputs for runbooks: the ONE place that knows where outputs come from. Load once, parse
# once; a missing field fails loudly and names the field and the source.
#
# Usage (in a runbook, after `set -euo pipefail`):
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/outputs.sh"
#   outputs_load --outputs outputs.json   # a file saved with `pulumi stack output --json --show-secrets`
#   outputs_load --stack prod             # runs `pulumi stack output --json --show-secrets -s prod`
#   outputs_load                          # uses BI_OUTPUTS_FILE, else BI_STACK (set by common.sh)
#   c=$(output_field .postgres.container) # prints the value; dies naming the missing field
#   u=$(output_field_or .monitoring.grafanaUrl "")  # a default instead of failing
#   output_has .edge.adminSocket          # exit 0 when present and not null
#   slot_outputs_load blue                # slot stack: the BI_SLOT_OUTPUTS_FILES entry whose .slot is
#                                         # blue, else `pulumi stack output -s <BI_STACK>-blue`
#   slot_field blue .upstream             # like output_field, for that slot stack
#   output_list .x / slot_list blue .containers   # one array element per line
#   output_strings .monitoring.containers # the string members of an array or object, one per line
#                                         # (nothing when the field is missing)
# output_get / output_get_or are aliases of output_field / output_field_or.
#
# Call outputs_load / slot_outputs_load in the main shell BEFORE reading fields inside $(...):
# a command substitution is a subshell, so a load done there is not kept.
#
# Parsed once: a load runs ONE jq that checks the document (an object) and flattens it into
# NUL-separated records, read into associative arrays (bash builtins only, so reading a field
# starts no process). Every node whose path is made of plain keys (.a.b, letters, digits and _)
# is kept: its value (strings raw, anything else compact JSON), its JSON type, and for arrays and
# objects their members (for output_list / output_strings). NUL separates the records, so values
# with newlines, tabs or quotes (secrets, JSON) arrive whole; a NUL byte inside a string is
# dropped (as bash drops it from any value). Values are only ever assigned, never evaluated: the
# array keys are those plain paths, checked by jq and again by the pattern below. A path that is
# not plain (a jq expression) is still answered, by running jq on the document as before.
#
# Values: strings print raw; numbers, booleans, objects and arrays print as compact JSON.
# Seams for tests: PULUMI (default `pulumi`) is the command used to read a stack (a fake `pulumi`
# on PATH works too); BI_PULUMI_CWD is the Pulumi project directory (default: repository root).
# BI_OUTPUTS_PULUMI_ONLY=1 (a runbook that runs pulumi itself, e.g. backup-config): errors do not
# suggest --outputs FILE.
# Outputs hold secrets (--show-secrets): they stay in memory (OUTPUTS_JSON and the tables), never
# in a log.
# Contract: docs/architecture section 4 (env stack: environment, dockerHost, networks, edge,
# traffic, postgres, redis, backups, monitoring; slot stack: environment, slot, image,
# containers, upstream), plus the data directories and other paths of docs/RUNBOOK.md.

BI_REPO_ROOT="${BI_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BI_OUTPUTS_PULUMI_ONLY=0
OUTPUTS_JSON=""
OUTPUTS_SOURCE=""
declare -gA BI_SLOT_OUTPUTS_JSON=()
declare -gA BI_SLOT_OUTPUTS_SOURCE=()

# The parsed documents: key = PREFIX + plain path (".postgres.container"). Each load gets a new
# prefix (e1, e2, ... for the env stack; s1, s2, ... for slot outputs), so a reload never mixes
# with what an earlier load left.
declare -gA BI_OUT_VALUE=()
declare -gA BI_OUT_TYPE=()
declare -gA BI_OUT_ITEMS=()
declare -gA BI_OUT_STRINGS=()
BI_OUT_LOADS=0
BI_OUTPUTS_PREFIX=""
declare -gA BI_SLOT_OUTPUTS_PREFIX=()
# Slot outputs files already parsed, by their index in BI_SLOT_OUTPUTS_FILES -> prefix.
declare -gA BI_SLOT_FILE_PREFIX=()

# A plain path: what the tables answer. Anything else goes to jq.
BI_PLAIN_PATH='^(\.[A-Za-z_][A-Za-z0-9_]*)+$'

# The one jq program of a load. Records, each field ended by NUL:
#   root TYPE                                   the document's type (must be object)
#   node PATH TYPE VALUE ITEMS STRINGS          one per plain path with a value other than null
#   end                                         the document was read to its end
# ITEMS: every element of an array (strings raw, others compact JSON), each followed by a
# newline; STRINGS: the string members of an array or object, each followed by a newline.
# shellcheck disable=SC2016 # jq's variables
BI_OUTPUTS_FLATTEN_JQ='
def clean: if test("\u0000") then gsub("\u0000"; "") else . end;
def text: if type == "string" then clean else tojson end;
def lines(f): [f | text + "\n"] | add // "";
type as $root
| "root\u0000\($root)\u0000",
  (if $root == "object" then
    paths(. != null) as $p
    | select($p | all(type == "string" and test("^[A-Za-z_][A-Za-z0-9_]*$")))
    | getpath($p) as $v
    | ($v | type) as $t
    | "node\u0000" + ($p | map("." + .) | join("")) + "\u0000" + $t + "\u0000"
      + ($v | text) + "\u0000"
      + (if $t == "array" then $v | lines(.[]) else "" end) + "\u0000"
      + (if $t == "array" or $t == "object" then $v | lines(.[] | strings) else "" end) + "\u0000"
  else empty end),
  "end\u0000"
'

# Fails with exit 2 (bad input) and a message on stderr (through common.sh's `die` when it is
# loaded: logged too).
outputs_die() {
  if declare -F die >/dev/null; then
    die "$*" 2
  fi
  printf 'error: %s\n' "$*" >&2
  exit 2
}

# _outputs_parse JSON SOURCE: checks that JSON is one object and fills the tables under a new
# prefix (in BI_OUT_PREFIX). Run in the main shell: the tables must outlive the call.
BI_OUT_PREFIX=""
_outputs_parse() {
  local json=$1 source=$2 prefix tag root="" roots=0 ended=0 path type value items strings status=0
  [[ -n "${json//[[:space:]]/}" ]] || outputs_die "$source is empty (expected a JSON object of stack outputs)"
  BI_OUT_LOADS=$((BI_OUT_LOADS + 1))
  prefix="p$BI_OUT_LOADS"
  while IFS= read -r -d '' tag; do
    case "$tag" in
      root)
        IFS= read -r -d '' root || break
        roots=$((roots + 1))
        ;;
      node)
        if ! { IFS= read -r -d '' path && IFS= read -r -d '' type && IFS= read -r -d '' value &&
          IFS= read -r -d '' items && IFS= read -r -d '' strings; }; then
          break
        fi
        [[ "$path" =~ $BI_PLAIN_PATH ]] || continue
        BI_OUT_TYPE["$prefix$path"]=$type
        BI_OUT_VALUE["$prefix$path"]=$value
        if [[ "$type" == array || "$type" == object ]]; then
          BI_OUT_ITEMS["$prefix$path"]=$items
          BI_OUT_STRINGS["$prefix$path"]=$strings
        fi
        ;;
      end) ended=1 ;;
      *) break ;;
    esac
  done < <(jq -j "$BI_OUTPUTS_FLATTEN_JQ" <<<"$json" 2>/dev/null)
  wait "$!" || status=$?
  [[ $status -eq 0 && $ended -eq 1 && $roots -eq 1 ]] || outputs_die "$source is not valid JSON"
  [[ "$root" == object ]] || outputs_die "$source holds a JSON $root, expected an object of stack outputs"
  BI_OUT_PREFIX=$prefix
}

# Outputs files hold secrets (--show-secrets): warns when group or others may read one.
_outputs_warn_if_shared() {
  local file=$1 what=$2 mode message
  mode=$(stat -L -c %a -- "$file" 2>/dev/null) || return 0
  [[ "$mode" =~ ^[0-7]{3,4}$ ]] || return 0
  [[ "${mode: -2}" == "00" ]] && return 0
  message="$what file '$file' holds secrets and group or others have access to it (mode $mode): chmod 600 '$file'"
  if declare -F log_warn >/dev/null; then
    log_warn "$message"
  else
    printf 'warning: %s\n' "$message" >&2
  fi
}

# Prints the text of an outputs file (checked by _outputs_parse). $1 = file, $2 = what it is.
_outputs_read_file() {
  local file=$1 what=$2
  [[ -e "$file" ]] ||
    outputs_die "$what file '$file' does not exist (expected the JSON of \`pulumi stack output --json --show-secrets\`)"
  [[ -r "$file" && -f "$file" ]] || outputs_die "$what file '$file' is not a readable file"
  _outputs_warn_if_shared "$file" "$what"
  cat -- "$file"
}

# Prints the outputs of one stack from `pulumi stack output`. $1 = stack name.
_outputs_from_pulumi() {
  local stack=$1 json pulumi_cmd="${PULUMI:-pulumi}" instead=""
  [[ "$BI_OUTPUTS_PULUMI_ONLY" == 1 ]] ||
    instead=" or pass --outputs FILE (JSON of \`pulumi stack output --json --show-secrets -s $stack\`)"
  command -v "${pulumi_cmd%% *}" >/dev/null 2>&1 ||
    outputs_die "the pulumi CLI ('${pulumi_cmd%% *}') is not on PATH; install it$instead"
  # shellcheck disable=SC2086 # PULUMI may carry arguments, e.g. "pulumi --color never"
  if ! json=$($pulumi_cmd --cwd "${BI_PULUMI_CWD:-$BI_REPO_ROOT}" stack output --json --show-secrets -s "$stack" 2>&1); then
    outputs_die "\`pulumi stack output --json --show-secrets -s $stack\` failed: $json"
  fi
  printf '%s' "$json"
}

# outputs_load [--outputs FILE | --stack STACK]: loads the env stack outputs. Without arguments it
# uses BI_OUTPUTS_FILE, else BI_STACK; then a second call is a no-op.
# shellcheck disable=SC2120 # arguments are optional
outputs_load() {
  local file="" stack="" json source
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --outputs)
        [[ $# -ge 2 && -n "$2" ]] || outputs_die "--outputs needs a file name"
        file="$2"
        shift 2
        ;;
      --stack | -s)
        [[ $# -ge 2 && -n "$2" ]] || outputs_die "--stack needs a stack name"
        stack="$2"
        shift 2
        ;;
      *) outputs_die "unknown argument to outputs_load: $1 (expected --outputs FILE or --stack STACK)" ;;
    esac
  done
  command -v jq >/dev/null 2>&1 || outputs_die "jq is required to read stack outputs (apt-get install jq)"
  if [[ -z "$file" && -z "$stack" ]]; then
    [[ -n "$OUTPUTS_JSON" ]] && return 0
    file="${BI_OUTPUTS_FILE:-}"
    stack="${BI_STACK:-}"
  fi
  if [[ -n "$file" ]]; then
    json=$(_outputs_read_file "$file" "outputs")
    source="outputs file '$file'"
  elif [[ -n "$stack" ]]; then
    json=$(_outputs_from_pulumi "$stack")
    source="the outputs of stack '$stack'"
  else
    if [[ "$BI_OUTPUTS_PULUMI_ONLY" == 1 ]]; then
      outputs_die "no stack outputs: pass --stack <env stack, e.g. prod>"
    fi
    outputs_die "no stack outputs: pass --stack <env stack, e.g. prod> or --outputs FILE"
  fi
  _outputs_parse "$json" "$source"
  OUTPUTS_JSON=$json
  OUTPUTS_SOURCE=$source
  BI_OUTPUTS_PREFIX=$BI_OUT_PREFIX
}

# Prints one field of a parsed document. $1 = prefix, $2 = json, $3 = source (for errors),
# $4 = jq path, $5 = default (used only when $6 = optional).
_outputs_field() {
  local prefix=$1 json=$2 source=$3 path=$4 default=${5:-} mode=${6:-required} value status=0 parent type
  [[ "$path" == .* ]] || outputs_die "output path '$path' must start with '.', e.g. '.postgres.container'"
  if [[ "$path" =~ $BI_PLAIN_PATH ]]; then
    if [[ -n "${BI_OUT_TYPE["$prefix$path"]+set}" ]]; then
      printf '%s\n' "${BI_OUT_VALUE["$prefix$path"]}"
      return 0
    fi
    if [[ "$mode" == optional ]]; then
      printf '%s\n' "$default"
      return 0
    fi
    # As jq says it: a parent that is there but not an object cannot be indexed.
    parent=$path
    while [[ "$parent" == .*.* ]]; do
      parent=${parent%.*}
      type=${BI_OUT_TYPE["$prefix$parent"]:-}
      if [[ -n "$type" && "$type" != object ]]; then
        outputs_die "stack output field '$path' cannot be read in $source (a parent field has another type)"
      fi
    done
    outputs_die "stack output field '$path' is missing (or null) in $source; the runbooks need it (stack outputs contract: architecture section 4, docs/RUNBOOK.md)"
  fi
  # A jq expression, not a plain path: one jq run. Exit 0 = found, 4 = no output (missing or
  # null), 3 = the path does not compile, 5 = a runtime error (e.g. indexing into a string).
  value=$(jq -er "($path) | select(. != null) | if type == \"string\" then . else tojson end" \
    <<<"$json" 2>/dev/null) || status=$?
  if [[ $status -eq 0 ]]; then
    printf '%s\n' "$value"
    return 0
  fi
  [[ $status -ne 3 ]] || outputs_die "output path '$path' is not a valid jq path"
  if [[ "$mode" == optional ]]; then
    printf '%s\n' "$default"
    return 0
  fi
  [[ $status -ne 5 ]] || outputs_die "stack output field '$path' cannot be read in $source (a parent field has another type)"
  outputs_die "stack output field '$path' is missing (or null) in $source; the runbooks need it (stack outputs contract: architecture section 4, docs/RUNBOOK.md)"
}

_outputs_require_loaded() {
  [[ -n "$OUTPUTS_JSON" ]] && return 0
  # Not loaded yet: load from BI_OUTPUTS_FILE / BI_STACK (kept only when called in the main shell).
  # shellcheck disable=SC2119 # no arguments: BI_OUTPUTS_FILE / BI_STACK
  outputs_load
}

# output_field JQ_PATH: prints a required field of the env stack outputs.
output_field() {
  _outputs_require_loaded
  _outputs_field "$BI_OUTPUTS_PREFIX" "$OUTPUTS_JSON" "$OUTPUTS_SOURCE" "$1"
}

# output_field_or JQ_PATH DEFAULT: prints the field, or DEFAULT when it is missing or null.
output_field_or() {
  _outputs_require_loaded
  _outputs_field "$BI_OUTPUTS_PREFIX" "$OUTPUTS_JSON" "$OUTPUTS_SOURCE" "$1" "${2:-}" optional
}

output_get() { output_field "$@"; }
output_get_or() { output_field_or "$@"; }

# output_has JQ_PATH: exit status 0 when the field exists and is not null.
output_has() {
  _outputs_require_loaded
  if [[ "$1" =~ $BI_PLAIN_PATH ]]; then
    [[ -n "${BI_OUT_TYPE["$BI_OUTPUTS_PREFIX$1"]+set}" ]]
    return
  fi
  jq -e "($1) != null" >/dev/null 2>&1 <<<"$OUTPUTS_JSON"
}

# slot_outputs_load COLOUR: loads the outputs of the slot stack of one colour (blue|green).
slot_outputs_load() {
  local colour=$1 file i json slot prefix
  [[ "$colour" == blue || "$colour" == green ]] || outputs_die "slot colour '$colour' is not blue or green"
  [[ -n "${BI_SLOT_OUTPUTS_JSON[$colour]:-}" ]] && return 0
  local -a files=()
  if declare -p BI_SLOT_OUTPUTS_FILES >/dev/null 2>&1; then
    files=("${BI_SLOT_OUTPUTS_FILES[@]}")
  fi
  if [[ ${#files[@]} -gt 0 ]]; then
    for i in "${!files[@]}"; do
      file=${files[i]}
      # Each file is read and parsed once per run, whichever colour is asked for first.
      prefix=${BI_SLOT_FILE_PREFIX[$i]:-}
      if [[ -z "$prefix" ]]; then
        json=$(_outputs_read_file "$file" "slot outputs")
        _outputs_parse "$json" "slot outputs file '$file'"
        prefix=$BI_OUT_PREFIX
        BI_SLOT_FILE_PREFIX[$i]=$prefix
        BI_OUT_VALUE["$prefix"]=$json # the document itself, for jq expressions
      fi
      slot=""
      [[ "${BI_OUT_TYPE["$prefix.slot"]:-}" == string ]] && slot=${BI_OUT_VALUE["$prefix.slot"]}
      [[ -n "$slot" ]] || outputs_die "slot outputs file '$file' has no 'slot' field (expected blue or green)"
      if [[ "$slot" == "$colour" ]]; then
        BI_SLOT_OUTPUTS_JSON[$colour]=${BI_OUT_VALUE["$prefix"]}
        BI_SLOT_OUTPUTS_SOURCE[$colour]="slot outputs file '$file'"
        BI_SLOT_OUTPUTS_PREFIX[$colour]=$prefix
        return 0
      fi
    done
    outputs_die "none of the --slot-outputs files is for slot '$colour' (${files[*]})"
  fi
  [[ -n "${BI_STACK:-}" ]] ||
    outputs_die "no outputs for slot '$colour': pass --stack <env stack> (reads <env>-$colour) or --slot-outputs FILE"
  json=$(_outputs_from_pulumi "${BI_STACK}-${colour}")
  _outputs_parse "$json" "the outputs of stack '${BI_STACK}-${colour}'"
  BI_SLOT_OUTPUTS_JSON[$colour]=$json
  BI_SLOT_OUTPUTS_SOURCE[$colour]="the outputs of stack '${BI_STACK}-${colour}'"
  BI_SLOT_OUTPUTS_PREFIX[$colour]=$BI_OUT_PREFIX
}

# slot_field COLOUR JQ_PATH: prints a required field of a slot stack's outputs.
slot_field() {
  slot_outputs_load "$1"
  _outputs_field "${BI_SLOT_OUTPUTS_PREFIX[$1]}" "${BI_SLOT_OUTPUTS_JSON[$1]}" "${BI_SLOT_OUTPUTS_SOURCE[$1]}" "$2"
}

# slot_field_or COLOUR JQ_PATH DEFAULT
slot_field_or() {
  slot_outputs_load "$1"
  _outputs_field "${BI_SLOT_OUTPUTS_PREFIX[$1]}" "${BI_SLOT_OUTPUTS_JSON[$1]}" "${BI_SLOT_OUTPUTS_SOURCE[$1]}" \
    "$2" "${3:-}" optional
}

_outputs_elements() {
  jq -r 'if type == "array" then .[] | (if type == "string" then . else tojson end) else error("not an array") end' \
    2>/dev/null
}

# _outputs_list PREFIX JSON SOURCE JQ_PATH WHAT: the elements of an array field, one per line.
_outputs_list() {
  local prefix=$1 json=$2 source=$3 path=$4 what=$5 value
  value=$(_outputs_field "$prefix" "$json" "$source" "$path") || exit $?
  if [[ "$path" =~ $BI_PLAIN_PATH ]]; then
    [[ "${BI_OUT_TYPE["$prefix$path"]}" == array ]] || outputs_die "$what field '$path' in $source is not an array"
    printf '%s' "${BI_OUT_ITEMS["$prefix$path"]}"
    return 0
  fi
  _outputs_elements <<<"$value" || outputs_die "$what field '$path' in $source is not an array"
}

# output_list JQ_PATH: each element of an array field of the env stack, one per line.
output_list() {
  _outputs_require_loaded
  _outputs_list "$BI_OUTPUTS_PREFIX" "$OUTPUTS_JSON" "$OUTPUTS_SOURCE" "$1" "stack output"
}

# slot_list COLOUR JQ_PATH: each element of an array field of a slot stack, one per line.
slot_list() {
  slot_outputs_load "$1"
  _outputs_list "${BI_SLOT_OUTPUTS_PREFIX[$1]}" "${BI_SLOT_OUTPUTS_JSON[$1]}" "${BI_SLOT_OUTPUTS_SOURCE[$1]}" \
    "$2" "slot output"
}

# output_strings PLAIN_PATH: the string members of an array or object field of the env stack
# (e.g. a name map {prometheus: NAME, ...} or a list of names), one per line, in the exported
# order; nothing when the field is missing, null or of another type.
output_strings() {
  _outputs_require_loaded
  [[ "$1" =~ $BI_PLAIN_PATH ]] || outputs_die "output_strings needs a plain path like .monitoring.containers, not '$1'"
  printf '%s' "${BI_OUT_STRINGS["$BI_OUTPUTS_PREFIX$1"]:-}"
}
