# shellcheck shell=bash
# Stack outputs for runbooks: load them once, read fields with jq.
#
# Usage (in a runbook):
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/outputs.sh"
#   outputs_load --outputs outputs.json        # a file saved with `pulumi stack output --json --show-secrets`
#   outputs_load --stack prod                  # runs `pulumi stack output --json --show-secrets -s prod`
#   host=$(output_get .postgres.host)          # fails loudly when the field is missing or null
#   url=$(output_get_or .monitoring.grafanaUrl "") # a default instead of failing
#
# Seams for tests: PULUMI (default `pulumi`) is the command used to read a stack.
# The loaded JSON is kept in OUTPUTS_JSON; OUTPUTS_SOURCE says where it came from.

OUTPUTS_JSON=""
OUTPUTS_SOURCE=""

outputs_die() {
  echo "outputs: $*" >&2
  exit 2
}

# outputs_load (--outputs FILE | --stack STACK)
outputs_load() {
  local file="" stack=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --outputs)
        [[ $# -ge 2 ]] || outputs_die "--outputs needs a file name"
        file="$2"
        shift 2
        ;;
      --stack | -s)
        [[ $# -ge 2 ]] || outputs_die "--stack needs a stack name"
        stack="$2"
        shift 2
        ;;
      *) outputs_die "unknown argument to outputs_load: $1 (expected --outputs FILE or --stack STACK)" ;;
    esac
  done
  command -v jq >/dev/null 2>&1 || outputs_die "jq is required to read stack outputs (apt-get install jq)"
  if [[ -n "$file" ]]; then
    [[ -r "$file" ]] || outputs_die "cannot read outputs file $file"
    OUTPUTS_JSON=$(cat -- "$file")
    OUTPUTS_SOURCE="file $file"
  elif [[ -n "$stack" ]]; then
    local pulumi_cmd="${PULUMI:-pulumi}"
    # shellcheck disable=SC2086 # PULUMI may carry arguments, e.g. "pulumi --cwd /repo"
    OUTPUTS_JSON=$($pulumi_cmd stack output --json --show-secrets -s "$stack") ||
      outputs_die "pulumi stack output failed for stack $stack"
    OUTPUTS_SOURCE="stack $stack"
  else
    outputs_die "give --outputs FILE or --stack STACK"
  fi
  jq -e 'type == "object"' >/dev/null 2>&1 <<<"$OUTPUTS_JSON" ||
    outputs_die "stack outputs from $OUTPUTS_SOURCE are not a JSON object"
}

# output_get JQ_PATH: prints the field (strings raw, other values as compact JSON); fails when missing/null.
output_get() {
  [[ -n "$OUTPUTS_JSON" ]] || outputs_die "call outputs_load before output_get"
  local value
  value=$(jq -cr "($1) as \$v | if \$v == null then (\"missing\n\" | halt_error(3)) else \$v end" \
    <<<"$OUTPUTS_JSON" 2>/dev/null) ||
    outputs_die "stack output $1 is missing (from $OUTPUTS_SOURCE)"
  printf '%s\n' "$value"
}

# output_get_or JQ_PATH DEFAULT: like output_get, but prints DEFAULT when the field is missing or null.
output_get_or() {
  [[ -n "$OUTPUTS_JSON" ]] || outputs_die "call outputs_load before output_get_or"
  local value
  if value=$(jq -cr "($1) as \$v | if \$v == null then (\"missing\n\" | halt_error(3)) else \$v end" \
    <<<"$OUTPUTS_JSON" 2>/dev/null); then
    printf '%s\n' "$value"
  else
    printf '%s\n' "$2"
  fi
}
