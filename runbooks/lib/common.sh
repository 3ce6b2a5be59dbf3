# shellcheck shell=bash
# Shared runbook plumbing: argument flags every runbook accepts, logging to a file, confirmation
# (with the prod guard), --dry-run, step timeline, and THE seam for talking to containers.
#
# Usage (in a runbook, after `set -euo pipefail`):
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"     # also loads lib/outputs.sh
#   bi_init disaster-recovery                         # name used in log lines and the log file name
#   bi_parse_common "$@"; set -- "${BI_ARGS[@]+"${BI_ARGS[@]}"}"   # common flags out, the rest stays
#   outputs_load                                      # BI_OUTPUTS_FILE or BI_STACK (from the flags)
#   bi_open_log                                       # after parsing: --log-file / BI_LOG_DIR
#   confirm "restore postgres in $(output_field .environment)"   # prod guard + --yes + --dry-run
#   run_in "$(output_field .postgres.container)" pg_isready      # docker exec, or local (BI_SEAM=local)
#
# Common flags (parsed by bi_parse_common):
#   --stack NAME          env stack for `pulumi stack output` (slot stacks are NAME-blue / NAME-green)
#   --outputs FILE        env stack outputs JSON instead of pulumi (refused when the runbook sets
#                         BI_OUTPUTS_PULUMI_ONLY=1: it runs pulumi itself, e.g. backup-config)
#   --slot-outputs FILE   slot stack outputs JSON (repeatable; matched by their "slot" field)
#   --yes | -y            do not ask for confirmation (required for prod in a non-interactive shell)
#   --dry-run             print every command that would change something, run nothing, and claim
#                         no result: no check is reported as passed, no step as ok (step: "dry"),
#                         no closing "done" line (log_done)
#   --log-file FILE       log file (default: $BI_LOG_DIR/<runbook>-<UTC time>.log,
#                         BI_LOG_DIR default ${XDG_STATE_HOME:-$HOME/.local/state}/backend-infra/logs)
#   --lock-wait SECONDS   runbooks that change state (bi_uses_env_lock): how long to wait for the
#                         environment lock another runbook holds (default 0: refuse at once, exit 4)
# bi_common_help prints them for a runbook's --help (with --slot-outputs described as used only
# when the runbook declares bi_reads_slot_outputs). docker_host_check, in the main shell before a
# runbook first talks to the Docker host, names an unreachable host once (exit 1).
#
# The seam (one place that knows how to reach a container):
#   run_in [-q] [-u USER] [-e NAME]... [-i] CONTAINER CMD [ARG...]   (-q: the caller logs what it does)
#     BI_SEAM=docker (default): docker -H <outputs .dockerHost> exec [-i] [-u USER] [-e NAME] CONTAINER CMD...
#     BI_SEAM=local (tests):    CMD runs in a local shell with the variables of
#                               $BI_LOCAL_ROOT/<CONTAINER>/env (KEY=VALUE lines) exported, as USER
#                               (runuser) when running as root and USER is given.
#   container_ctl start|stop|restart|kill CONTAINER
#     docker: docker -H host start|stop|restart|kill CONTAINER
#     local:  runs $BI_LOCAL_ROOT/<CONTAINER>/<action> (restart = stop then start when absent)
#   container_health CONTAINER  -> prints healthy | unhealthy | starting | running | stopped | missing
#     docker: docker inspect: stopped unless .State.Running, then .State.Health.Status (or running)
#     local:  $BI_LOCAL_ROOT/<CONTAINER>/health exit 0 -> healthy, else unhealthy
#   container_state CONTAINER   -> prints "RUNNING PID STATUS" (e.g. "false 0 exited"), from ONE
#                                  inspect, checked against that shape; fails when it cannot say
#     docker: docker inspect --format '{{.State.Running}} {{.State.Pid}} {{.State.Status}}'
#     local:  $BI_LOCAL_ROOT/<CONTAINER>/state: an executable that prints that line, or a file
#             holding it (fake start/stop scripts write it); missing -> fails
#   container_stopped CONTAINER -> true only when container_state says: not running, pid 0, status
#                                  exited or created (anything else, or no answer, is false)
#   wait_healthy CONTAINER TIMEOUT_SECONDS -> waits (bounded), logs the time it took
# The environment lock (lib/env-lock.sh) lives where the seam says too: in the backup runner's
# /backups volume (docker), or $BI_LOCAL_ROOT/.env-lock (local).
# Secrets never go on a command line: pass them as environment variables with `-e NAME`.
#
# Pulumi: pulumi_cmd ARGS... (in ${BI_PULUMI_CWD:-repo root}; PULUMI is the seam) and
#   pulumi_up STACK: up with --policy-pack <root>/policies --policy-pack-config
#   <root>/policies/config/<env>.json (prod-blue -> prod), like .github/workflows/deploy.yml.

# shellcheck source=runbooks/lib/outputs.sh
. "$(dirname "${BASH_SOURCE[0]}")/outputs.sh"
# shellcheck source=runbooks/lib/env-lock.sh
. "$(dirname "${BASH_SOURCE[0]}")/env-lock.sh"

BI_NAME="${BI_NAME:-runbook}"
# Only the flags set these: a leftover `export BI_YES=1` must not skip the prod confirmation.
BI_YES=0
BI_DRY_RUN=0
BI_LOG_FILE="${BI_LOG_FILE:-}"
BI_LOG_FD=""
BI_OUTPUTS_FILE="${BI_OUTPUTS_FILE:-}"
BI_STACK="${BI_STACK:-}"
BI_SEAM="${BI_SEAM:-docker}"
BI_ARGS=()
BI_SLOT_OUTPUTS_FILES=()
BI_TIMELINE=()

# ---------- values from outside the runbook ----------
# Bash evaluates a variable's value as an expression inside arithmetic ($(( )), (( )), [[ -gt ]],
# array subscripts), and a subscript like x[$(cmd)] runs cmd. Every value read from a command, a
# file, the stack outputs, a container or the database is checked with is_uint / require_uint
# BEFORE any arithmetic or numeric comparison (tools/lint-shell-arith.mjs enforces it).

# is_uint VALUE: a whole number in plain decimal, no sign, no leading zero (bash reads 010 as
# octal), at most 18 digits (fits bash's 64-bit arithmetic).
is_uint() { [[ "$1" =~ ^(0|[1-9][0-9]{0,17})$ ]]; }

# require_uint NAME VALUE SOURCE: dies (exit 1) naming the value and where it came from.
require_uint() {
  is_uint "$2" || die "$1 from $3 is not a whole number: $(printf '%q' "$2")"
}

# Milliseconds since the epoch, from bash's own clock (EPOCHREALTIME, "SECONDS.MICROSECONDS" with
# the locale's decimal sign): no process per call, and a runbook asks the time for every step and
# log line. `date` only where the shell has no EPOCHREALTIME (bash before 5).
# lint-shell-arith: prints a checked whole number
now_ms() {
  local t=${EPOCHREALTIME:-}
  if [[ "$t" =~ ^([0-9]+)[^0-9]([0-9]{3})[0-9]*$ ]]; then
    t=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
  else
    t=$(date +%s%3N)
  fi
  require_uint "the time in milliseconds" "$t" "the clock (EPOCHREALTIME or date +%s%3N)"
  printf '%s\n' "$t"
}

BI_START_MS=$(now_ms)

bi_init() {
  BI_NAME=$1
  BI_START_MS=$(now_ms)
}

# The UTC time of a log line (printf's own strftime: no process).
_ts() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T\n' -1; }

_log() {
  local level=$1
  shift
  local line
  line="$(_ts) $BI_NAME $level: $*"
  printf '%s\n' "$line" >&2
  if [[ -n "${BI_LOG_FD:-}" ]]; then
    printf '%s\n' "$line" >&"$BI_LOG_FD"
  fi
}

# Copies stdin to stdout and, once the log is open, into the log. -a: tee opens /dev/fd/N anew,
# and without O_APPEND that open would truncate the log to what follows.
bi_tee_log() {
  if [[ -n "${BI_LOG_FD:-}" ]]; then
    tee -a "/dev/fd/$BI_LOG_FD"
  else
    cat
  fi
}

log_info() { _log info "$@"; }
log_warn() { _log warn "$@"; }
log_error() { _log error "$@"; }

# die MESSAGE [EXIT_CODE]: logs the error and exits (default 1).
die() {
  _log error "$1"
  exit "${2:-1}"
}

# usage_error MESSAGE: a bad argument; exit 2 and point at --help.
usage_error() {
  _log error "$1 (see --help)"
  exit 2
}

# Consumes the common flags; everything else is left in BI_ARGS in order.
bi_parse_common() {
  BI_ARGS=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --stack | -s)
        [[ $# -ge 2 && -n "$2" && "$2" != -* ]] || usage_error "$1 needs a stack name, e.g. --stack prod"
        BI_STACK=$2
        shift 2
        ;;
      --stack=*) BI_STACK=${1#*=} && shift ;;
      --outputs | --outputs=*)
        [[ "$BI_OUTPUTS_PULUMI_ONLY" != 1 ]] ||
          usage_error "$BI_NAME reads the stacks with pulumi itself: use --stack ENV, not --outputs"
        if [[ "$1" == --outputs=* ]]; then
          BI_OUTPUTS_FILE=${1#*=}
          shift
          continue
        fi
        [[ $# -ge 2 && -n "$2" ]] || usage_error "--outputs needs a JSON file (pulumi stack output --json --show-secrets)"
        BI_OUTPUTS_FILE=$2
        shift 2
        ;;
      --slot-outputs)
        [[ $# -ge 2 && -n "$2" ]] || usage_error "--slot-outputs needs a JSON file"
        BI_SLOT_OUTPUTS_FILES+=("$2")
        shift 2
        ;;
      --yes | -y)
        BI_YES=1
        shift
        ;;
      --dry-run)
        BI_DRY_RUN=1
        shift
        ;;
      --log-file)
        [[ $# -ge 2 && -n "$2" ]] || usage_error "--log-file needs a file name"
        BI_LOG_FILE=$2
        shift 2
        ;;
      --lock-wait)
        [[ "$BI_TAKES_LOCK" == 1 ]] || usage_error "--lock-wait: $BI_NAME changes nothing, it takes no environment lock"
        if [[ $# -lt 2 ]] || ! is_uint "$2" || (($2 > 86400)); then
          usage_error "--lock-wait needs whole seconds from 0 to 86400"
        fi
        BI_LOCK_WAIT=$2
        shift 2
        ;;
      --)
        shift
        BI_ARGS+=("$@")
        break
        ;;
      *)
        BI_ARGS+=("$1")
        shift
        ;;
    esac
  done
  if [[ -n "$BI_STACK" && -n "$BI_OUTPUTS_FILE" ]]; then
    usage_error "give either --stack or --outputs, not both"
  fi
}

# bi_reads_slot_outputs: the runbook reads slot stacks (--slot-outputs is used, not only accepted).
BI_READS_SLOTS=0
bi_reads_slot_outputs() { BI_READS_SLOTS=1; }

# bi_common_help: the options bi_parse_common takes, for a runbook's --help (printed after its own
# options), so every runbook documents every flag it accepts the same way.
# shellcheck disable=SC2016 # $BI_LOG_DIR and ${XDG_STATE_HOME...} are printed as they are
bi_common_help() {
  printf '\nCommon options\n'
  printf '  --stack ENV, -s ENV    env stack (prod, staging, local): outputs from `pulumi stack output\n'
  printf '                         --json --show-secrets -s ENV`; slot stacks are ENV-blue / ENV-green\n'
  if [[ "$BI_OUTPUTS_PULUMI_ONLY" != 1 ]]; then
    printf '  --outputs FILE         the env stack outputs saved from that command, instead of pulumi\n'
  fi
  if [[ "$BI_READS_SLOTS" == 1 ]]; then
    printf '  --slot-outputs FILE    a slot stack'"'"'s outputs saved the same way (repeatable; matched by\n'
    printf '                         their "slot" field), instead of pulumi stack output -s ENV-COLOUR\n'
  else
    printf '  --slot-outputs FILE    accepted like in every runbook; %s reads no slot stack\n' "$BI_NAME"
  fi
  printf '  --yes, -y              no confirmation prompt (required for prod in a non-interactive shell)\n'
  printf '  --dry-run              print what would run ([dry-run] lines), run nothing, report no result\n'
  printf '  --log-file FILE        log file (default: $BI_LOG_DIR/<runbook>-<UTC time>.log; BI_LOG_DIR\n'
  printf '                         default ${XDG_STATE_HOME:-~/.local/state}/backend-infra/logs)\n'
  if [[ "$BI_TAKES_LOCK" == 1 ]]; then
    printf '  --lock-wait SECONDS    wait this long for the environment lock another runbook holds\n'
    printf '                         (default 0: refuse at once, exit 4, naming the holder)\n'
  fi
  printf '  --help, -h             this text\n'
}

# Creates the log file and writes a header. Safe to call once after bi_parse_common.
# The log holds what the runbook did to an environment: it is created under umask 077, mode 600,
# in a directory only its owner can enter (new directories 700; the default one is made 700), never through a
# symbolic link, and opened once (fd BI_LOG_FD): a file swapped in later does not receive it.
bi_open_log() {
  local old_umask dir
  old_umask=$(umask)
  umask 077
  if [[ -z "$BI_LOG_FILE" ]]; then
    dir="${BI_LOG_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/backend-infra/logs}"
    mkdir -p -- "$dir" || die "cannot create the log directory '$dir' (set BI_LOG_DIR or --log-file)"
    [[ -d "$dir" && ! -L "$dir" ]] || die "the log directory '$dir' is a symbolic link or not a directory"
    [[ -O "$dir" ]] || die "the log directory '$dir' belongs to another user (set BI_LOG_DIR or --log-file)"
    chmod 700 -- "$dir" || die "cannot make the log directory '$dir' private (chmod 700)"
    BI_LOG_FILE="$dir/$BI_NAME-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
    # noclobber: a new file, never one (or a link) already under that name.
    (set -C && : >"$BI_LOG_FILE") 2>/dev/null || die "cannot create a new log file '$BI_LOG_FILE'"
  else
    dir=$(dirname -- "$BI_LOG_FILE")
    mkdir -p -- "$dir" || die "cannot create the directory of --log-file '$BI_LOG_FILE'"
    [[ ! -L "$BI_LOG_FILE" ]] || die "--log-file '$BI_LOG_FILE' is a symbolic link; give the file itself"
    if [[ -e "$BI_LOG_FILE" ]]; then
      [[ -f "$BI_LOG_FILE" && -O "$BI_LOG_FILE" ]] ||
        die "--log-file '$BI_LOG_FILE' exists and is not a regular file of yours"
    fi
  fi
  exec {BI_LOG_FD}>>"$BI_LOG_FILE" || die "cannot write the log file '$BI_LOG_FILE'"
  umask "$old_umask"
  # What was opened is what the checks saw (no link swapped in between).
  if [[ -L "$BI_LOG_FILE" || "$(stat -L -c %d:%i -- "/dev/fd/$BI_LOG_FD")" != "$(stat -c %d:%i -- "$BI_LOG_FILE")" ]]; then
    exec {BI_LOG_FD}>&-
    BI_LOG_FD=""
    die "the log file '$BI_LOG_FILE' changed while it was opened (a symbolic link swapped in?)"
  fi
  chmod 600 -- "$BI_LOG_FILE" || die "cannot make the log file '$BI_LOG_FILE' private (chmod 600)"
  local mode=""
  [[ "$BI_DRY_RUN" == 1 ]] && mode=" (dry run)"
  log_info "log file: $BI_LOG_FILE$mode"
}

# True when a person can answer a prompt: stdin is a terminal.
bi_interactive() {
  [[ -t 0 ]]
}

# confirm DESCRIPTION: asks before a change. The environment comes from the stack outputs.
#   --dry-run: nothing will change, no question.
#   --yes:     confirmed.
#   prod:      in a non-interactive shell -> refused; interactively the operator types "prod".
#   other:     interactively "y"/"yes"; non-interactively one answer line is read from stdin
#              (`echo yes | runbook ...`); no answer -> refused.
confirm() {
  local what=$1 env answer
  env=$(output_field_or .environment unknown)
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    log_info "dry run: would ask to confirm: $what [environment $env]"
    return 0
  fi
  if [[ "$BI_YES" == 1 ]]; then
    log_info "confirmed by --yes: $what [environment $env]"
    return 0
  fi
  if ! bi_interactive; then
    if [[ "$env" == prod ]]; then
      die "refusing to $what against prod: not an interactive shell and no --yes (pass --yes to confirm)" 3
    fi
    if ! IFS= read -r answer; then
      die "no confirmation for: $what (environment $env); stdin has no answer and no --yes was given" 3
    fi
  else
    if [[ "$env" == prod ]]; then
      printf 'About to %s in PROD. Type "prod" to continue: ' "$what" >&2
    else
      printf 'About to %s in environment %s. Continue? [y/N] ' "$what" "$env" >&2
    fi
    IFS= read -r answer || answer=""
  fi
  if [[ "$env" == prod ]]; then
    [[ "$answer" == prod ]] || die "not confirmed (expected \"prod\"): $what" 3
  else
    [[ "$answer" =~ ^([yY]|[yY][eE][sS])$ ]] || die "not confirmed: $what" 3
  fi
  log_info "confirmed: $what [environment $env]"
}

# Shell-quoted rendering of a command for logs and --dry-run.
quote_cmd() {
  local out="" word
  for word in "$@"; do
    out+="$(printf '%q' "$word") "
  done
  printf '%s\n' "${out% }"
}

# _dry TEXT: a --dry-run line, on stdout (what the operator reads) and in the log file.
# BI_DRY_FD: a runbook that reads command output into variables (health-check) points it at its
# own stdout (exec {BI_DRY_FD}>&1), so a dry-run line inside $(...) still reaches the operator
# instead of becoming the "output" of a command that never ran.
_dry() {
  printf '[dry-run] %s\n' "$*" >&"${BI_DRY_FD:-1}"
  if [[ -n "${BI_LOG_FD:-}" ]]; then
    printf '%s %s [dry-run] %s\n' "$(_ts)" "$BI_NAME" "$*" >&"$BI_LOG_FD"
  fi
}

# run_cmd CMD...: a local command that changes something (printed, not run, with --dry-run).
run_cmd() {
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    _dry "$(quote_cmd "$@")"
    return 0
  fi
  log_info "run: $(quote_cmd "$@")"
  "$@"
}

# pulumi_cmd ARGS...: a pulumi command that changes something (printed only with --dry-run), run
# in the Pulumi project directory. Seams: PULUMI (default `pulumi`), BI_PULUMI_CWD.
pulumi_cmd() {
  local -a cmd
  read -r -a cmd <<<"${PULUMI:-pulumi}"
  command -v "${cmd[0]}" >/dev/null 2>&1 || [[ "$BI_DRY_RUN" == 1 ]] ||
    die "the pulumi CLI ('${cmd[0]}') is not on PATH"
  run_cmd "${cmd[@]}" --cwd "${BI_PULUMI_CWD:-$BI_REPO_ROOT}" "$@"
}

# stack_environment STACK: the environment a stack belongs to, by the rule of config/schema.ts
# stackIdentity: `<env>-blue` / `<env>-green` are slot stacks of <env>, any other name is the env
# stack itself (an `org/project/` prefix is dropped).
stack_environment() {
  local name=${1##*/}
  if [[ "$name" =~ ^(.+)-(blue|green)$ ]]; then
    printf '%s\n' "${BASH_REMATCH[1]}"
  else
    printf '%s\n' "$name"
  fi
}

# policy_pack_config STACK: the absolute path of policies/config/<env>.json for STACK's
# environment (prod-green -> policies/config/prod.json); dies naming the file and the stack when
# it does not exist. Call it before changing anything, so a missing file stops the runbook early.
policy_pack_config() {
  local stack=$1 root env file
  root=${BI_PULUMI_CWD:-$BI_REPO_ROOT}
  [[ "$root" == /* ]] || root="$PWD/$root"
  env=$(stack_environment "$stack")
  file="$root/policies/config/$env.json"
  [[ -f "$file" ]] ||
    die "stack '$stack' (environment '$env') has no policy pack config: $file does not exist; every pulumi up applies the policy pack with its environment's config, as .github/workflows/deploy.yml does"
  # Pulumi does not install a local pack's dependencies; resolve them as the pack's node would.
  node -e 'require.resolve("@pulumi/policy", { paths: [process.argv[1]] })' "$root/policies" 2>/dev/null ||
    die "the policy pack's dependencies are not installed: @pulumi/policy does not resolve from $root/policies; run 'npm ci' in $root (or 'npm ci --prefix policies')"
  printf '%s\n' "$file"
}

# pulumi_up STACK [UP_ARGS...]: `pulumi up` of STACK with the policy pack and its environment's config, like
# the deploy workflow: --policy-pack <root>/policies --policy-pack-config <root>/policies/config/<env>.json.
# The paths are absolute (root = the --cwd directory). Printed only with --dry-run.
pulumi_up() {
  local stack=$1 config
  shift
  config=$(policy_pack_config "$stack") || return $?
  # ${config%/config/*}: <root>/policies/config/<env>.json -> <root>/policies
  pulumi_cmd up --yes --skip-preview --policy-pack "${config%/config/*}" --policy-pack-config "$config" "$@" -s "$stack"
}

_docker() {
  local host
  host=$(output_field .dockerHost) || exit $?
  command -v docker >/dev/null 2>&1 || die "the docker CLI is not on PATH (needed to reach $host)"
  docker -H "$host" "$@"
}

# docker_host_check: ONE bounded question to the Docker host (`docker version`, through -H: SSH
# included) before a runbook talks to it, in the main shell. A host that cannot be reached is
# named as the cause, once (exit 1: the host, the output that names it, docker's own error),
# instead of every check or step failing on its own ("missing" containers, a lock that "cannot be
# taken"). Nothing to do on the local seam; printed only with --dry-run; asked once per run.
# BI_DOCKER_TIMEOUT: seconds to wait for the answer (default 20: an SSH login can be slow).
BI_DOCKER_HOST_OK=0
docker_host_check() {
  local host timeout=${BI_DOCKER_TIMEOUT:-20} out status=0 reason
  [[ "$BI_SEAM" == docker && "$BI_DOCKER_HOST_OK" != 1 ]] || return 0
  if ! is_uint "$timeout" || ((timeout < 1)); then
    die "BI_DOCKER_TIMEOUT must be whole seconds of at least 1, not $(printf '%q' "$timeout")"
  fi
  host=$(output_field .dockerHost) || exit $?
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    _dry "docker -H $host version --format '{{.Server.Version}}' (the Docker host must answer within ${timeout}s)"
    return 0
  fi
  command -v docker >/dev/null 2>&1 || die "the docker CLI is not on PATH (needed to reach $host)"
  out=$(timeout --kill-after=5 "$timeout" docker -H "$host" version --format '{{.Server.Version}}' </dev/null 2>&1) ||
    status=$?
  if [[ $status -eq 0 ]]; then
    BI_DOCKER_HOST_OK=1
    return 0
  fi
  if [[ $status -eq 124 || $status -eq 137 ]]; then
    reason="no answer within ${timeout}s (BI_DOCKER_TIMEOUT)"
  else
    # docker's own words, its last line ("error during connect: ...", "Cannot connect to ..."),
    # printable characters only.
    reason=$(grep -v '^[[:space:]]*$' <<<"$out" | tail -n 1 | LC_ALL=C tr -cd '[:print:]' | cut -c1-600)
    reason=${reason:-docker version exited $status}
  fi
  die "cannot reach the Docker host $host (stack output .dockerHost in $OUTPUTS_SOURCE): $reason. Nothing was run on it. Check that the host is up and reachable from here (ssh:// needs your key in the agent) and that dockerHost names it"
}

_local_dir() {
  local container=$1
  [[ -n "${BI_LOCAL_ROOT:-}" ]] || die "BI_SEAM=local needs BI_LOCAL_ROOT (a directory with one subdirectory per container)"
  [[ "$container" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "container name '$container' is not a valid name"
  [[ -d "$BI_LOCAL_ROOT/$container" ]] ||
    die "local seam: no directory $BI_LOCAL_ROOT/$container for container '$container'"
  printf '%s\n' "$BI_LOCAL_ROOT/$container"
}

# run_in [-q] [-u USER] [-e NAME]... [-i] CONTAINER CMD [ARG...]: THE seam. See the header.
run_in() {
  local user="" interactive=0 quiet=0
  local -a envs=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -q)
        quiet=1
        shift
        ;;
      -u)
        user=$2
        shift 2
        ;;
      -e)
        envs+=("$2")
        shift 2
        ;;
      -i)
        interactive=1
        shift
        ;;
      *) break ;;
    esac
  done
  [[ $# -ge 2 ]] || die "run_in needs a container and a command"
  local container=$1
  shift
  local -a docker_args=(exec)
  [[ $interactive == 1 ]] && docker_args+=(-i)
  [[ -n "$user" ]] && docker_args+=(-u "$user")
  local name
  for name in "${envs[@]+"${envs[@]}"}"; do
    docker_args+=(-e "$name")
  done
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    if [[ "$BI_SEAM" == local ]]; then
      _dry "(local seam, container $container) $(quote_cmd "$@")"
    else
      _dry "docker -H $(output_field .dockerHost) $(quote_cmd "${docker_args[@]}" "$container" "$@")"
    fi
    return 0
  fi
  [[ $quiet == 1 ]] || log_info "in $container: $(quote_cmd "$@")"
  case "$BI_SEAM" in
    docker) _docker "${docker_args[@]}" "$container" "$@" ;;
    local)
      local dir
      dir=$(_local_dir "$container") || exit $?
      (
        if [[ -f "$dir/env" ]]; then
          # Like docker exec: a variable passed with -e wins over the container's environment.
          local -a passed=()
          for name in "${envs[@]+"${envs[@]}"}"; do
            [[ -v "$name" ]] && passed+=("$name=${!name}")
          done
          set -a
          # shellcheck disable=SC1091 # written by the test per container
          . "$dir/env"
          for name in "${passed[@]+"${passed[@]}"}"; do
            export "${name%%=*}=${name#*=}"
          done
          set +a
        fi
        if [[ -n "$user" && "$(id -u)" == 0 && "$user" != root && "$user" != 0 ]]; then
          exec runuser -u "$user" -- env "PATH=$PATH" "$@"
        fi
        exec "$@"
      )
      ;;
    *) die "BI_SEAM must be docker or local, not '$BI_SEAM'" ;;
  esac
}

# container_ctl start|stop|restart|kill CONTAINER
container_ctl() {
  local action=$1 container=$2
  case "$action" in
    start | stop | restart | kill) ;;
    *) die "container_ctl: unknown action '$action' (start|stop|restart|kill)" ;;
  esac
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    if [[ "$BI_SEAM" == local ]]; then
      _dry "(local seam) $action container $container"
    else
      _dry "docker -H $(output_field .dockerHost) $action $container"
    fi
    return 0
  fi
  log_info "$action container $container"
  case "$BI_SEAM" in
    docker) _docker "$action" "$container" >/dev/null ;;
    local)
      local dir
      dir=$(_local_dir "$container") || exit $?
      if [[ -x "$dir/$action" ]]; then
        "$dir/$action"
      elif [[ "$action" == restart && -x "$dir/stop" && -x "$dir/start" ]]; then
        "$dir/stop" && "$dir/start"
      else
        die "local seam: $dir/$action is missing (container '$container')"
      fi
      ;;
    *) die "BI_SEAM must be docker or local, not '$BI_SEAM'" ;;
  esac
}

# container_health CONTAINER: prints healthy|unhealthy|starting|running|stopped|missing
# (a dry run prints the inspect it would run, and "unknown").
BI_HEALTH_FORMAT='{{if not .State.Running}}stopped{{else if .State.Health}}{{.State.Health.Status}}{{else}}running{{end}}'
container_health() {
  local container=$1 status
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    # Printed, not asked: there is no health to report.
    if [[ "$BI_SEAM" == local ]]; then
      _dry "(local seam) $BI_LOCAL_ROOT/$container/health"
    else
      _dry "docker -H $(output_field .dockerHost) $(quote_cmd inspect --format "$BI_HEALTH_FORMAT" "$container")"
    fi
    echo unknown
    return 0
  fi
  case "$BI_SEAM" in
    docker)
      if ! status=$(_docker inspect --format "$BI_HEALTH_FORMAT" "$container" 2>/dev/null); then
        status=missing
      fi
      printf '%s\n' "$status"
      ;;
    local)
      local dir
      dir=$(_local_dir "$container") || exit $?
      if [[ -x "$dir/health" ]] && "$dir/health" >/dev/null 2>&1; then
        echo healthy
      else
        echo unhealthy
      fi
      ;;
    *) die "BI_SEAM must be docker or local, not '$BI_SEAM'" ;;
  esac
}

# container_state CONTAINER: "RUNNING PID STATUS" from ONE inspect (one consistent answer, not
# fields from several), checked against that shape before anyone compares it; exit 1 (logged) when
# the inspect fails (a flaky link, no such container) or answers anything else.
container_state() {
  local container=$1 state="" dir
  case "$BI_SEAM" in
    docker)
      if ! state=$(_docker inspect --type container --format '{{.State.Running}} {{.State.Pid}} {{.State.Status}}' \
        "$container" 2>&1); then
        log_error "docker inspect of $container failed: $(printf '%q' "${state:0:300}")"
        return 1
      fi
      ;;
    local)
      dir=$(_local_dir "$container") || exit $?
      if [[ -x "$dir/state" ]]; then
        state=$("$dir/state") || {
          log_error "local seam: $dir/state failed"
          return 1
        }
      elif [[ -f "$dir/state" ]]; then
        state=$(<"$dir/state")
      else
        log_error "local seam: no $dir/state (a file or script giving 'RUNNING PID STATUS', e.g. 'false 0 exited')"
        return 1
      fi
      ;;
    *) die "BI_SEAM must be docker or local, not '$BI_SEAM'" ;;
  esac
  if [[ ! "$state" =~ ^(true|false)\ (0|[1-9][0-9]{0,9})\ (created|running|paused|restarting|removing|exited|dead)$ ]]; then
    log_error "the state of $container is not 'RUNNING PID STATUS': $(printf '%q' "${state:0:300}")"
    return 1
  fi
  printf '%s\n' "$state"
}

# container_stopped CONTAINER: true only when one inspect shows CONTAINER not running, with pid 0
# and status exited or created. Running, paused, restarting, a process id left, or no clear answer
# all count as "may be live": false, with the reason logged. Printed only with --dry-run.
container_stopped() {
  local container=$1 state running pid status
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    if [[ "$BI_SEAM" == local ]]; then
      _dry "(local seam) check that $container is stopped: its state must say not running, pid 0"
    else
      _dry "docker -H $(output_field .dockerHost) inspect --type container --format '{{.State.Running}} {{.State.Pid}} {{.State.Status}}' $container (must say: false 0 exited|created)"
    fi
    return 0
  fi
  state=$(container_state "$container") || {
    log_error "cannot tell whether $container is stopped: not touching its data"
    return 1
  }
  read -r running pid status <<<"$state"
  if [[ "$running" == false && "$pid" == 0 && ("$status" == exited || "$status" == created) ]]; then
    log_info "$container is stopped (running=false, pid 0, status $status)"
    return 0
  fi
  log_error "$container is not stopped (running=$running, pid $pid, status $status): not touching its data"
  return 1
}

# present_containers NAME...: the names of containers that exist (one per line). On a new host
# the stack state still names the old host's containers, which there is nothing to do with.
present_containers() {
  local c
  for c in "$@"; do
    if [[ "$BI_SEAM" == docker && "$BI_DRY_RUN" != 1 && "$(container_health "$c")" == missing ]]; then
      log_info "container $c does not exist on this host"
      continue
    fi
    printf '%s\n' "$c"
  done
}

# wait_healthy CONTAINER TIMEOUT_SECONDS: polls the health (at most TIMEOUT seconds), logs how long
# it took; exit 1 with the last status when the time is up. A container without a healthcheck
# counts as healthy once running (logged as a warning).
wait_healthy() {
  local container=$1 timeout=$2 start status="" elapsed
  require_uint "wait_healthy's timeout" "$timeout" "the caller ($container)"
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    _dry "wait until $container is healthy (at most ${timeout}s)"
    return 0
  fi
  start=$(now_ms)
  while :; do
    status=$(container_health "$container")
    elapsed=$(($(now_ms) - start))
    if [[ "$status" == healthy ]]; then
      log_info "$container healthy after $(fmt_ms "$elapsed")"
      return 0
    fi
    if [[ "$status" == running ]]; then
      log_warn "$container has no healthcheck; running after $(fmt_ms "$elapsed")"
      return 0
    fi
    if ((elapsed >= timeout * 1000)); then
      log_error "$container not healthy after ${timeout}s (last status: $status)"
      return 1
    fi
    sleep "${BI_POLL_SECONDS:-1}"
  done
}

# fmt_ms MILLISECONDS -> "12.345s"
fmt_ms() {
  local ms=$1
  # A clock stepped back (NTP) makes an elapsed time negative: show 0, do not stop the runbook.
  [[ "$ms" =~ ^-[0-9]{1,18}$ ]] && ms=0
  require_uint "fmt_ms's milliseconds" "$ms" "the caller"
  printf '%d.%03ds' "$((ms / 1000))" "$((ms % 1000))"
}

# step NAME CMD...: runs CMD, records NAME with its duration in the timeline; a failure is recorded
# and returned (the caller decides whether to stop).
step() {
  local name=$1 start status=0 elapsed
  shift
  log_info "step: $name"
  start=$(now_ms)
  "$@" || status=$?
  elapsed=$(($(now_ms) - start))
  local at
  at=$(fmt_ms $((start - BI_START_MS)))
  if [[ $status -eq 0 && "$BI_DRY_RUN" == 1 ]]; then
    # Printed, not run: a dry run observed no result.
    BI_TIMELINE+=("$(printf '+%-10s %-10s dry   %s' "$at" "$(fmt_ms "$elapsed")" "$name")")
  elif [[ $status -eq 0 ]]; then
    BI_TIMELINE+=("$(printf '+%-10s %-10s ok    %s' "$at" "$(fmt_ms "$elapsed")" "$name")")
  else
    BI_TIMELINE+=("$(printf '+%-10s %-10s FAIL  %s (exit %d)' "$at" "$(fmt_ms "$elapsed")" "$name" "$status")")
  fi
  return $status
}

# Prints the timeline (start offset, duration, result, step) on stdout and into the log.
timeline_print() {
  local title=${1:-timeline} line total
  total=$(fmt_ms $(($(now_ms) - BI_START_MS)))
  {
    printf '%s (total %s)\n' "$title" "$total"
    printf '  %-11s %-10s %-5s %s\n' start duration state step
    for line in "${BI_TIMELINE[@]+"${BI_TIMELINE[@]}"}"; do
      printf '  %s\n' "$line"
    done
    if [[ "$BI_DRY_RUN" == 1 ]]; then
      printf '  dry run: the steps marked dry were printed ([dry-run] lines), not run\n'
    fi
  } | bi_tee_log
}

# log_done MESSAGE: the closing line of a runbook that did its work ("every service healthy",
# "backups done"). A dry run did none of it and observed nothing: it says so instead.
log_done() {
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    log_info "dry run: nothing was changed, started or checked; the [dry-run] lines above are what $BI_NAME would run"
  else
    log_info "$*"
  fi
}
