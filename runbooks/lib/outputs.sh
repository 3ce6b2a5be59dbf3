# shellcheck shell=bash
# Stack outputs for runbooks: the ONE place that knows where outputs come from. Load once, read
# fields with jq; a missing field fails loudly and names the field and the source.
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
# output_get / output_get_or are aliases of output_field / output_field_or.
#
# Call outputs_load / slot_outputs_load in the main shell BEFORE reading fields inside $(...):
# a command substitution is a subshell, so a load done there is not kept.
#
# Values: strings print raw; numbers, booleans, objects and arrays print as compact JSON.
# Seams for tests: PULUMI (default `pulumi`) is the command used to read a stack (a fake `pulumi`
# on PATH works too); BI_PULUMI_CWD is the Pulumi project directory (default: repository root).
# Outputs hold secrets (--show-secrets): they stay in memory (OUTPUTS_JSON), never in a log.
# Contract: docs/architecture section 4 (env stack: environment, dockerHost, networks, edge,
# traffic, postgres, redis, backups, monitoring; slot stack: environment, slot, image,
# containers, upstream).

BI_REPO_ROOT="${BI_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
OUTPUTS_JSON=""
OUTPUTS_SOURCE=""
declare -gA BI_SLOT_OUTPUTS_JSON=()
declare -gA BI_SLOT_OUTPUTS_SOURCE=()

# Fails with exit 2 (bad input) and a message on stderr (through common.sh's `die` when it is
# loaded: logged too).
outputs_die() {
  if declare -F die >/dev/null; then
    die "$*" 2
  fi
  printf 'error: %s\n' "$*" >&2
  exit 2
}

_outputs_check_json() {
  local json=$1 source=$2 kind
  [[ -n "${json//[[:space:]]/}" ]] || outputs_die "$source is empty (expected a JSON object of stack outputs)"
  kind=$(jq -r 'type' <<<"$json" 2>/dev/null) || outputs_die "$source is not valid JSON"
  [[ "$kind" == "object" ]] || outputs_die "$source holds a JSON $kind, expected an object of stack outputs"
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

# Prints the JSON in a file after checking it. $1 = file, $2 = what it is (for errors).
_outputs_read_file() {
  local file=$1 what=$2 json
  [[ -e "$file" ]] ||
    outputs_die "$what file '$file' does not exist (expected the JSON of \`pulumi stack output --json --show-secrets\`)"
  [[ -r "$file" && -f "$file" ]] || outputs_die "$what file '$file' is not a readable file"
  _outputs_warn_if_shared "$file" "$what"
  json=$(cat -- "$file")
  _outputs_check_json "$json" "$what file '$file'"
  printf '%s' "$json"
}

# Prints the outputs of one stack from `pulumi stack output`. $1 = stack name.
_outputs_from_pulumi() {
  local stack=$1 json pulumi_cmd="${PULUMI:-pulumi}"
  command -v "${pulumi_cmd%% *}" >/dev/null 2>&1 ||
    outputs_die "the pulumi CLI ('${pulumi_cmd%% *}') is not on PATH; install it or pass --outputs FILE (JSON of \`pulumi stack output --json --show-secrets -s $stack\`)"
  # shellcheck disable=SC2086 # PULUMI may carry arguments, e.g. "pulumi --color never"
  if ! json=$($pulumi_cmd --cwd "${BI_PULUMI_CWD:-$BI_REPO_ROOT}" stack output --json --show-secrets -s "$stack" 2>&1); then
    outputs_die "\`pulumi stack output --json --show-secrets -s $stack\` failed: $json"
  fi
  _outputs_check_json "$json" "the outputs of stack '$stack'"
  printf '%s' "$json"
}

# outputs_load [--outputs FILE | --stack STACK]: loads the env stack outputs. Without arguments it
# uses BI_OUTPUTS_FILE, else BI_STACK; then a second call is a no-op.
# shellcheck disable=SC2120 # arguments are optional
outputs_load() {
  local file="" stack=""
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
    OUTPUTS_JSON=$(_outputs_read_file "$file" "outputs")
    OUTPUTS_SOURCE="outputs file '$file'"
  elif [[ -n "$stack" ]]; then
    OUTPUTS_JSON=$(_outputs_from_pulumi "$stack")
    OUTPUTS_SOURCE="the outputs of stack '$stack'"
  else
    outputs_die "no stack outputs: pass --stack <env stack, e.g. prod> or --outputs FILE"
  fi
}

# Prints one field of a JSON document. $1 = json, $2 = source (for errors), $3 = jq path, $4 = default
# (used only when $5 = optional).
_outputs_field() {
  local json=$1 source=$2 path=$3 default=${4:-} mode=${5:-required} value status=0
  [[ "$path" == .* ]] || outputs_die "output path '$path' must start with '.', e.g. '.postgres.container'"
  # One jq run: exit 0 = found, 4 = no output (missing or null), 3 = the path does not compile,
  # 5 = a runtime error (e.g. indexing into a string: the parent field has the wrong type).
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
  _outputs_field "$OUTPUTS_JSON" "$OUTPUTS_SOURCE" "$1"
}

# output_field_or JQ_PATH DEFAULT: prints the field, or DEFAULT when it is missing or null.
output_field_or() {
  _outputs_require_loaded
  _outputs_field "$OUTPUTS_JSON" "$OUTPUTS_SOURCE" "$1" "${2:-}" optional
}

output_get() { output_field "$@"; }
output_get_or() { output_field_or "$@"; }

# output_has JQ_PATH: exit status 0 when the field exists and is not null.
output_has() {
  _outputs_require_loaded
  jq -e "($1) != null" >/dev/null 2>&1 <<<"$OUTPUTS_JSON"
}

# slot_outputs_load COLOUR: loads the outputs of the slot stack of one colour (blue|green).
slot_outputs_load() {
  local colour=$1 file json slot
  [[ "$colour" == blue || "$colour" == green ]] || outputs_die "slot colour '$colour' is not blue or green"
  [[ -n "${BI_SLOT_OUTPUTS_JSON[$colour]:-}" ]] && return 0
  local -a files=()
  if declare -p BI_SLOT_OUTPUTS_FILES >/dev/null 2>&1; then
    files=("${BI_SLOT_OUTPUTS_FILES[@]}")
  fi
  if [[ ${#files[@]} -gt 0 ]]; then
    for file in "${files[@]}"; do
      json=$(_outputs_read_file "$file" "slot outputs")
      slot=$(jq -r '.slot // empty' <<<"$json")
      [[ -n "$slot" ]] || outputs_die "slot outputs file '$file' has no 'slot' field (expected blue or green)"
      if [[ "$slot" == "$colour" ]]; then
        BI_SLOT_OUTPUTS_JSON[$colour]=$json
        BI_SLOT_OUTPUTS_SOURCE[$colour]="slot outputs file '$file'"
        return 0
      fi
    done
    outputs_die "none of the --slot-outputs files is for slot '$colour' (${files[*]})"
  fi
  [[ -n "${BI_STACK:-}" ]] ||
    outputs_die "no outputs for slot '$colour': pass --stack <env stack> (reads <env>-$colour) or --slot-outputs FILE"
  BI_SLOT_OUTPUTS_JSON[$colour]=$(_outputs_from_pulumi "${BI_STACK}-${colour}")
  BI_SLOT_OUTPUTS_SOURCE[$colour]="the outputs of stack '${BI_STACK}-${colour}'"
}

# slot_field COLOUR JQ_PATH: prints a required field of a slot stack's outputs.
slot_field() {
  slot_outputs_load "$1"
  _outputs_field "${BI_SLOT_OUTPUTS_JSON[$1]}" "${BI_SLOT_OUTPUTS_SOURCE[$1]}" "$2"
}

# slot_field_or COLOUR JQ_PATH DEFAULT
slot_field_or() {
  slot_outputs_load "$1"
  _outputs_field "${BI_SLOT_OUTPUTS_JSON[$1]}" "${BI_SLOT_OUTPUTS_SOURCE[$1]}" "$2" "${3:-}" optional
}

_outputs_elements() {
  jq -r 'if type == "array" then .[] | (if type == "string" then . else tojson end) else error("not an array") end' \
    2>/dev/null
}

# output_list JQ_PATH: each element of an array field of the env stack, one per line.
output_list() {
  local value
  value=$(output_field "$1") || exit $?
  _outputs_elements <<<"$value" || outputs_die "stack output field '$1' in $OUTPUTS_SOURCE is not an array"
}

# slot_list COLOUR JQ_PATH: each element of an array field of a slot stack, one per line.
slot_list() {
  local value
  value=$(slot_field "$1" "$2") || exit $?
  _outputs_elements <<<"$value" ||
    outputs_die "slot output field '$2' in ${BI_SLOT_OUTPUTS_SOURCE[$1]} is not an array"
}
