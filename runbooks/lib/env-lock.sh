# shellcheck shell=bash
# The environment lock: ONE per environment, on the Docker host. Every runbook that changes state
# (deploy, canary, rollback, disaster-recovery, backup-now) takes it, and so does the deploy
# workflow around its `pulumi up` (runbooks/env-lock). A second taker waits up to --lock-wait
# seconds (default 0), then refuses with exit 4, naming the holder. Loaded by lib/common.sh.
#
# Where it lives: a directory `.env-lock` in the backup runner's dump volume (BACKUP_DIR, /backups),
# reached with `docker -H <dockerHost> exec -u postgres <backups.runnerContainer> sh -c ...`. The
# runner exists in every environment, and a volume survives the container being restarted or
# replaced while the lock is held. With BI_SEAM=local the "docker host" is BI_LOCAL_ROOT and the
# lock is $BI_LOCAL_ROOT/.env-lock. `mkdir` is atomic; the directory holds `owner`: a random
# token, then "user@host, runbook NAME, pid N, since TIME".
#
# The holder touches the directory every BI_LOCK_REFRESH_SECONDS (20) from a background process,
# so only a lock whose holder is gone (killed, its machine or network lost) grows older than
# BI_LOCK_TTL_SECONDS (120); the next taker takes it over (serialised by `.env-lock.break`, as in
# tools/switch-lock.ts) and logs whose lock it was. Ages are measured with the Docker host's clock.
# The lock is released when the runbook exits, however it exits (EXIT trap; INT/TERM/HUP exit).
#
#   bi_uses_env_lock            before bi_parse_common: this runbook takes the lock (--lock-wait)
#   env_lock_acquire [LABEL]    takes it (LABEL names the runbook in the owner line); --dry-run:
#                               only says it would. Nested: when BI_ENV_LOCK_OWNER is the token of
#                               the current holder (set by `runbooks/env-lock run|acquire`), the
#                               runbook runs under that lock without taking or releasing it.
#   env_lock_reload_outputs     after env_lock_acquire: re-reads the outputs of --stack, so what
#                               the runbook decides is read under the lock
#   env_lock_release            releases it now (the EXIT trap calls it too)
#   env_lock_status             prints "free" or "held AGE_SECONDS HOLDER"
# Values read back from the lock (ages, the holder line) are data: numbers are checked with is_uint
# and the holder line is reduced to printable characters before it is shown.

BI_TAKES_LOCK=0
BI_LOCK_WAIT=0
BI_LOCK_TOKEN=""
BI_LOCK_MAIN=""
BI_LOCK_REFRESHER=""
BI_LOCK_STARTED_MS=""
BI_LOCK_PENDING=""
BI_LOCK_SKIPPED=0
# Exit status of a runbook that did not get the lock.
BI_LOCK_BUSY_EXIT=4

# The lock's operations, run where the lock lives (POSIX sh: the runner's /bin/sh is dash).
#   $1 op, $2 lock directory (empty: ${BACKUP_DIR:-/backups}/.env-lock), then per op:
#   acquire TOKEN OWNER_LINE TTL -> acquired | acquired-stale MTIME NOW + old owner | busy MTIME NOW + owner
#   refresh TOKEN                -> refreshed | lost
#   release TOKEN                -> released | free | not-ours MTIME NOW + owner
#   status                       -> free | held MTIME NOW + owner
#   break                        -> free | broken MTIME NOW + old owner
# Times are the host's epoch seconds; the owner file follows on the next lines.
# shellcheck disable=SC2016 # expanded by the shell where the lock lives
BI_LOCK_SNIPPET='
set -eu
op=$1 dir=$2
shift 2
[ -n "$dir" ] || dir="${BACKUP_DIR:-/backups}/.env-lock"
num() { case $1 in "" | *[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
mtime() { num "$(stat -c %Y "$1" 2>/dev/null || :)"; }
owner() { head -c 1024 "$dir/owner" 2>/dev/null || :; }
mine() { [ -d "$dir" ] && [ "$(head -n 1 "$dir/owner" 2>/dev/null || :)" = "$1" ]; }
now=$(num "$(date +%s)")
case $op in
  acquire)
    token=$1 line=$2 ttl=$(num "$3")
    parent=$(dirname "$dir")
    if [ ! -d "$parent" ] || [ ! -w "$parent" ]; then
      echo "$parent is not a writable directory for uid $(id -u)" >&2
      exit 1
    fi
    take() { mkdir "$dir" 2>/dev/null && printf "%s\n%s\n" "$token" "$line" >"$dir/owner"; }
    if take; then echo acquired; exit 0; fi
    if mine "$token"; then touch "$dir"; echo acquired; exit 0; fi
    m=$(mtime "$dir")
    if [ -d "$dir" ] && [ $((now - m)) -ge "$ttl" ]; then
      # A breaker killed inside these lines leaves .break behind: it is stale after a minute.
      b=$(mtime "$dir.break")
      if [ -d "$dir.break" ] && [ $((now - b)) -ge 60 ]; then rmdir "$dir.break" 2>/dev/null || :; fi
      if mkdir "$dir.break" 2>/dev/null; then
        # Checked again under .break: another taker may have taken it over meanwhile.
        now=$(num "$(date +%s)")
        m=$(mtime "$dir")
        if [ -d "$dir" ] && [ $((now - m)) -ge "$ttl" ]; then
          old=$(owner)
          rm -rf "$dir"
          if take; then
            rmdir "$dir.break" 2>/dev/null || :
            printf "acquired-stale %s %s\n%s\n" "$m" "$now" "$old"
            exit 0
          fi
        fi
        rmdir "$dir.break" 2>/dev/null || :
      fi
    fi
    if take; then echo acquired; exit 0; fi
    printf "busy %s %s\n" "$(mtime "$dir")" "$now"
    owner
    ;;
  refresh)
    if mine "$1"; then touch "$dir"; echo refreshed; else echo lost; fi
    ;;
  release)
    if mine "$1"; then
      rm -rf "$dir"
      echo released
    elif [ -d "$dir" ]; then
      printf "not-ours %s %s\n" "$(mtime "$dir")" "$now"
      owner
    else
      echo free
    fi
    ;;
  status)
    if [ -d "$dir" ]; then
      printf "held %s %s\n" "$(mtime "$dir")" "$now"
      owner
    else
      echo free
    fi
    ;;
  break)
    if [ -d "$dir" ]; then
      m=$(mtime "$dir")
      old=$(owner)
      rm -rf "$dir"
      printf "broken %s %s\n%s\n" "$m" "$now" "$old"
    else
      echo free
    fi
    ;;
  *) echo "unknown lock operation $op" >&2; exit 2 ;;
esac
'

# bi_uses_env_lock: called by a runbook that changes state, before bi_parse_common (which then
# accepts --lock-wait SECONDS).
# shellcheck disable=SC2034 # read by bi_parse_common (common.sh)
bi_uses_env_lock() { BI_TAKES_LOCK=1; }

# Seconds without a refresh after which a lock is stale; seconds between refreshes.
# lint-shell-arith: prints a checked whole number
_env_lock_ttl() {
  local ttl=${BI_LOCK_TTL_SECONDS:-120}
  if ! is_uint "$ttl" || ((ttl < 2)); then
    die "BI_LOCK_TTL_SECONDS must be whole seconds of at least 2, not $(printf '%q' "$ttl")"
  fi
  printf '%s\n' "$ttl"
}

# lint-shell-arith: prints a checked whole number
_env_lock_refresh_seconds() {
  local every=${BI_LOCK_REFRESH_SECONDS:-20}
  if ! is_uint "$every" || ((every < 1)); then
    die "BI_LOCK_REFRESH_SECONDS must be whole seconds of at least 1, not $(printf '%q' "$every")"
  fi
  printf '%s\n' "$every"
}

# Where the lock lives, for messages.
env_lock_where() {
  if [[ "$BI_SEAM" == local ]]; then
    printf '%s\n' "local seam: ${BI_LOCAL_ROOT:-<BI_LOCAL_ROOT unset>}/.env-lock"
  else
    printf '%s\n' "$(output_field_or .backups.runnerContainer '<backups.runnerContainer>'):$(output_field_or .backups.dumpsDir '<backups.dumpsDir>')/.env-lock on $(output_field_or .dockerHost '<dockerHost>')"
  fi
}

# _env_lock_sh OP ARGS...: runs BI_LOCK_SNIPPET where the lock lives, prints its answer.
_env_lock_sh() {
  local op=$1 runner
  shift
  case "$BI_SEAM" in
    docker)
      runner=$(output_field .backups.runnerContainer) || exit $?
      _docker exec -u postgres "$runner" sh -c "$BI_LOCK_SNIPPET" env-lock "$op" "" "$@"
      ;;
    local)
      [[ -n "${BI_LOCAL_ROOT:-}" && -d "$BI_LOCAL_ROOT" ]] ||
        die "BI_SEAM=local needs BI_LOCAL_ROOT (the fake docker host, where the environment lock lives)"
      sh -c "$BI_LOCK_SNIPPET" env-lock "$op" "$BI_LOCAL_ROOT/.env-lock" "$@"
      ;;
    *) die "BI_SEAM must be docker or local, not '$BI_SEAM'" ;;
  esac
}

# _env_lock_ask OP ARGS...: _env_lock_sh with only its answer on stdout; what docker, ssh or the
# shell say on stderr ("Warning: Permanently added ... to known hosts", an error) is logged.
_env_lock_ask() {
  local status=0
  _env_lock_sh "$@" 2> >(_env_lock_log_stderr >&2) || status=$?
  # The logger has written everything before the caller reports (bash sets $! to it).
  wait "$!" 2>/dev/null || :
  return "$status"
}

_env_lock_log_stderr() {
  local line
  while IFS= read -r line; do
    log_warn "environment lock ($(env_lock_where)): $(LC_ALL=C tr -cd '[:print:]' <<<"$line" | cut -c1-300)"
  done
}

# _env_lock_holder TEXT: the owner line of an answer (its 3rd line), printable characters only.
_env_lock_holder() {
  local holder
  holder=$(sed -n 3p <<<"$1" | LC_ALL=C tr -cd '[:print:]' | cut -c1-200)
  printf '%s\n' "${holder:-unknown holder (no owner line)}"
}

# _env_lock_token_of TEXT: the token line of an answer (its 2nd line), when it is one.
_env_lock_token_of() {
  local token
  token=$(sed -n 2p <<<"$1")
  [[ "$token" =~ ^[0-9a-f]{24}$ ]] && printf '%s\n' "$token"
  return 0
}

# _env_lock_age HEAD: seconds since the lock was last refreshed, from "WORD MTIME NOW".
# lint-shell-arith: prints a checked whole number
_env_lock_age() {
  local word mtime now
  read -r word mtime now <<<"$1"
  require_uint "the lock's refresh time" "$mtime" "the environment lock ($word)"
  require_uint "the lock host's time" "$now" "the environment lock ($word)"
  if ((now > mtime)); then
    printf '%s\n' "$((now - mtime))"
  else
    printf '0\n'
  fi
}

_env_lock_new_token() {
  local token
  token=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  [[ "$token" =~ ^[0-9a-f]{24}$ ]] || die "cannot make a lock token from /dev/urandom"
  printf '%s\n' "$token"
}

# _env_lock_runner_missing: true when the outputs name no backup runner, or the Docker host says
# (in a successful answer) that no such container exists. A failed inspect is NOT "missing".
_env_lock_runner_missing() {
  local runner err
  [[ "$BI_SEAM" == docker ]] || return 1
  output_has .backups.runnerContainer || return 0
  runner=$(output_field .backups.runnerContainer) || exit $?
  if err=$(_docker inspect --type container --format '{{.Id}}' "$runner" 2>&1 >/dev/null); then
    return 1
  fi
  [[ "$err" == *"No such container"* || "$err" == *"No such object"* ]] && return 0
  die "cannot ask $(output_field .dockerHost) whether the backup runner $runner exists (it holds the environment lock): $err"
}

# env_lock_acquire [LABEL] [allow-new]: takes the lock or dies (exit 4) naming the holder.
# allow-new: when there is no backup runner yet (a stack never deployed, a new host before its
# first pulumi up), goes on without a lock (nothing else can hold one there), says so and sets
# BI_LOCK_SKIPPED=1.
env_lock_acquire() {
  local label=${1:-$BI_NAME} allow_new=${2:-} env answer head token line ttl start waited=0 age holder said=0
  env=$(output_field_or .environment unknown)
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    log_info "dry run: would take the environment lock of $env ($(env_lock_where)), waiting at most ${BI_LOCK_WAIT}s"
    return 0
  fi
  [[ -z "$BI_LOCK_TOKEN" ]] || return 0
  if [[ -n "${BI_ENV_LOCK_OWNER:-}" ]]; then
    if [[ "$BI_ENV_LOCK_OWNER" =~ ^[0-9a-f]{24}$ ]] && answer=$(_env_lock_ask status) &&
      [[ "${answer%%$'\n'*}" == held\ * && "$(_env_lock_token_of "$answer")" == "$BI_ENV_LOCK_OWNER" ]]; then
      log_info "environment lock of $env: held by the caller ($(_env_lock_holder "$answer"); BI_ENV_LOCK_OWNER), not taken again"
      return 0
    fi
    log_warn "BI_ENV_LOCK_OWNER is set, but the environment lock of $env is not held by it: taking the lock"
  fi
  if [[ "$allow_new" == allow-new ]] && _env_lock_runner_missing; then
    log_warn "no backup runner for $env on $(output_field_or .dockerHost '?') yet (never deployed, or a new host): nothing can hold the environment lock there; going on without it"
    # shellcheck disable=SC2034 # read by the caller
    BI_LOCK_SKIPPED=1
    return 0
  fi
  ttl=$(_env_lock_ttl)
  _env_lock_refresh_seconds >/dev/null
  token=$(_env_lock_new_token)
  line="$(id -un 2>/dev/null || echo "uid $(id -u)")@$(hostname 2>/dev/null || uname -n), runbook $label, pid $$, since $(_ts)"
  start=$(now_ms)
  # The traps come first: a signal between taking the lock and recording it must not leave it.
  BI_LOCK_PENDING=$token
  BI_LOCK_MAIN=$BASHPID
  trap '_env_lock_on_exit' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  while :; do
    answer=$(_env_lock_ask acquire "$token" "$line" "$ttl") ||
      die "cannot take the environment lock of $env ($(env_lock_where); its error is above). The backup runner must be running: it holds the lock"
    head=${answer%%$'\n'*}
    case "$head" in
      acquired) break ;;
      acquired-stale\ *)
        age=$(_env_lock_age "$head")
        log_warn "took over a stale environment lock of $env: not refreshed for ${age}s (more than ${ttl}s); it was held by $(_env_lock_holder "$answer")"
        break
        ;;
      busy\ *)
        age=$(_env_lock_age "$head")
        holder=$(_env_lock_holder "$answer")
        waited=$(($(now_ms) - start))
        if ((waited >= BI_LOCK_WAIT * 1000)); then
          die "environment $env is locked by $holder (last refreshed ${age}s ago; lock $(env_lock_where)); waited ${BI_LOCK_WAIT}s. Try again once it is done, or wait for it with --lock-wait SECONDS; a lock not refreshed for ${ttl}s is taken over, and runbooks/env-lock break removes one whose holder you know is gone" "$BI_LOCK_BUSY_EXIT"
        fi
        if [[ $said == 0 ]]; then
          log_info "waiting up to ${BI_LOCK_WAIT}s for the environment lock of $env, held by $holder"
          said=1
        fi
        sleep "${BI_LOCK_POLL_SECONDS:-2}"
        ;;
      *) die "the environment lock of $env ($(env_lock_where)) gave an unexpected answer: $(printf '%q' "$head")" ;;
    esac
  done
  BI_LOCK_TOKEN=$token
  BI_LOCK_PENDING=""
  BI_LOCK_STARTED_MS=$(now_ms)
  # Runbooks started from here run under this lock.
  export BI_ENV_LOCK_OWNER=$token
  _env_lock_start_refresher watch
  log_info "environment lock of $env taken ($(env_lock_where)) as: $line"
}

_env_lock_on_exit() {
  local answer
  [[ "$BASHPID" == "$BI_LOCK_MAIN" ]] || return 0
  # A second Ctrl-C must not cut the release short (the lock would wait to go stale).
  trap '' INT TERM HUP
  if [[ -n "$BI_LOCK_PENDING" ]]; then
    # Ended while taking it (refused, or a signal): removed only if this token got it.
    if answer=$(_env_lock_ask release "$BI_LOCK_PENDING") && [[ "${answer%%$'\n'*}" == released ]]; then
      log_info "environment lock released (this runbook ended while taking it)"
    fi
    return 0
  fi
  env_lock_release || true
}

# _env_lock_start_refresher watch|detached [MAX_SECONDS]: refreshes the lock in the background.
#   watch:    until this runbook's process is gone (a runbook killed with SIGKILL leaves a lock
#             that goes stale, never one refreshed for ever).
#   detached: for `env-lock acquire`, until the lock is released or taken over, or MAX_SECONDS.
# It holds none of the runbook's output pipes (a caller waiting for them would wait for it); its
# warnings go to the log file.
_env_lock_start_refresher() {
  local mode=$1 max=${2:-0} main=$BASHPID every
  every=$(_env_lock_refresh_seconds)
  require_uint "the longest hold" "$max" "the caller"
  (
    trap - EXIT INT HUP
    sleeper=""
    trap '[[ -n "$sleeper" ]] && kill "$sleeper" 2>/dev/null; exit 0' TERM
    [[ "$mode" == detached ]] && trap '' HUP INT
    begun=$(now_ms)
    while :; do
      sleep "$every" &
      sleeper=$!
      wait "$sleeper" || :
      sleeper=""
      if [[ "$mode" == watch ]] && ! kill -0 "$main" 2>/dev/null; then exit 0; fi
      if ((max > 0 && $(now_ms) - begun >= max * 1000)); then
        log_warn "environment lock: held for ${max}s (--hold-max): no longer refreshed; it goes stale after $(_env_lock_ttl)s"
        exit 0
      fi
      if ! answer=$(_env_lock_ask refresh "$BI_LOCK_TOKEN"); then
        log_warn "environment lock: refresh failed ($(env_lock_where)); retrying in ${every}s"
        continue
      fi
      if [[ "${answer%%$'\n'*}" != refreshed ]]; then
        [[ "$mode" == detached ]] || log_warn "environment lock: it is no longer ours (taken over or broken); stopped refreshing"
        exit 0
      fi
    done
  ) </dev/null >/dev/null 2>&1 &
  BI_LOCK_REFRESHER=$!
}

# env_lock_release: releases the lock this process took (nothing for a nested or a dry run).
env_lock_release() {
  [[ -n "$BI_LOCK_TOKEN" ]] || return 0
  if [[ -n "$BI_LOCK_REFRESHER" ]]; then
    kill "$BI_LOCK_REFRESHER" 2>/dev/null || :
    wait "$BI_LOCK_REFRESHER" 2>/dev/null || :
    BI_LOCK_REFRESHER=""
  fi
  local status=0
  env_lock_release_token "$BI_LOCK_TOKEN" || status=$?
  BI_LOCK_TOKEN=""
  unset BI_ENV_LOCK_OWNER
  return "$status"
}

# env_lock_release_token TOKEN: removes the lock when TOKEN holds it. Returns 0 when released or
# already free, 4 when another holds it (named), 1 when the lock cannot be reached.
env_lock_release_token() {
  local answer head held=""
  if ! answer=$(_env_lock_ask release "$1"); then
    log_error "could not release the environment lock ($(env_lock_where); its error is above). It is taken over once not refreshed for $(_env_lock_ttl)s, or remove it with runbooks/env-lock break"
    return 1
  fi
  head=${answer%%$'\n'*}
  [[ -z "$BI_LOCK_STARTED_MS" ]] || held=" (held $(fmt_ms $(($(now_ms) - BI_LOCK_STARTED_MS))))"
  case "$head" in
    released) log_info "environment lock released$held" ;;
    free) log_warn "the environment lock was already gone at release (broken with runbooks/env-lock break, or taken over and released since)" ;;
    not-ours\ *)
      log_warn "the environment lock is not held by this token (taken over?): it is held by $(_env_lock_holder "$answer") (last refreshed $(_env_lock_age "$head")s ago); not released"
      return "$BI_LOCK_BUSY_EXIT"
      ;;
    *)
      log_error "the environment lock gave an unexpected answer on release: $(printf '%q' "$head")"
      return 1
      ;;
  esac
}

# env_lock_detach MAX_SECONDS: keeps the lock this process took after it exits (runbooks/env-lock
# acquire): a detached refresher takes over (at most MAX_SECONDS), and the EXIT trap no longer
# releases it.
env_lock_detach() {
  [[ -n "$BI_LOCK_TOKEN" ]] || return 0
  if [[ -n "$BI_LOCK_REFRESHER" ]]; then
    kill "$BI_LOCK_REFRESHER" 2>/dev/null || :
    wait "$BI_LOCK_REFRESHER" 2>/dev/null || :
  fi
  _env_lock_start_refresher detached "$1"
  trap - EXIT INT TERM HUP
}

# env_lock_break: removes the lock whoever holds it; logs whose it was.
env_lock_break() {
  local answer head
  answer=$(_env_lock_ask break) || die "cannot reach the environment lock ($(env_lock_where); its error is above)"
  head=${answer%%$'\n'*}
  case "$head" in
    free) log_info "the environment lock was free: nothing to break" ;;
    broken\ *) log_warn "broke the environment lock held by $(_env_lock_holder "$answer") (last refreshed $(_env_lock_age "$head")s ago)" ;;
    *) die "the environment lock gave an unexpected answer: $(printf '%q' "$head")" ;;
  esac
}

# env_lock_reload_outputs: with --stack, reads the outputs again once the lock is held: another
# runbook may have changed the environment between the first read and the lock.
env_lock_reload_outputs() {
  [[ -n "$BI_STACK" && -n "$BI_LOCK_TOKEN" ]] || return 0
  # shellcheck disable=SC2034 # the caches of outputs.sh
  OUTPUTS_JSON=""
  # shellcheck disable=SC2034
  BI_SLOT_OUTPUTS_JSON=()
  outputs_load
}

# env_lock_status: prints "free" or "held AGE_SECONDS HOLDER".
env_lock_status() {
  local answer head
  answer=$(_env_lock_ask status) || die "cannot read the environment lock ($(env_lock_where); its error is above)"
  head=${answer%%$'\n'*}
  case "$head" in
    free) printf 'free\n' ;;
    held\ *) printf 'held %s %s\n' "$(_env_lock_age "$head")" "$(_env_lock_holder "$answer")" ;;
    *) die "the environment lock gave an unexpected answer: $(printf '%q' "$head")" ;;
  esac
}
