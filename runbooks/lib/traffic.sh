# shellcheck shell=bash
# Blue/green helpers shared by runbooks/deploy, canary, rollback and status. Load after common.sh.
#
# The traffic split is owned by the env stack: config `trafficActive` + `trafficCanaryPercent`,
# applied by `pulumi up -s <env>` (its TrafficSwitch resource runs tools/traffic-switch.ts, which
# refuses to send traffic to an unhealthy slot). These helpers only drive pulumi and read state.
#
# pulumi_cmd / pulumi_up (common.sh) run pulumi; every `pulumi up` applies the policy pack.
# Seams for tests: PULUMI (default `pulumi`), SWITCH_CLI (default `node <repo>/dist/tools/traffic-switch.js`).

# shellcheck source=runbooks/lib/sync.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync.sh"

# other_colour blue|green -> the other one.
other_colour() {
  case "$1" in
    blue) echo green ;;
    green) echo blue ;;
    *) die "'$1' is not a slot colour (blue or green)" ;;
  esac
}

# The env stack name: --stack, else the environment named in the outputs file.
env_stack() {
  if [[ -n "$BI_STACK" ]]; then
    printf '%s\n' "$BI_STACK"
  else
    output_field .environment
  fi
}

# switch_cli ARGS...: the traffic-switch CLI against the edge container of the env stack.
switch_cli() {
  local -a cli
  local container host admin
  read -r -a cli <<<"${SWITCH_CLI:-node $BI_REPO_ROOT/dist/tools/traffic-switch.js}"
  container=$(output_field .edge.container) || exit $?
  host=$(output_field .dockerHost) || exit $?
  admin=$(output_field_or .edge.adminTcp 127.0.0.1:9999)
  if [[ "${cli[0]}" == node && ! -f "${cli[1]:-}" ]]; then
    die "${cli[1]:-the switch CLI} is missing: run \`npm run build\` in $BI_REPO_ROOT first"
  fi
  "${cli[@]}" "$@" --docker-container "$container" --docker-host "$host" --admin-tcp "$admin"
}

# switch_cli_counted ARGS...: switch_cli with the running replicas counted on the env's app network
# (--replicas-from-docker), when the outputs name it.
switch_cli_counted() {
  local net
  net=$(output_field_or .networks.app "")
  switch_cli "$@" ${net:+--replicas-from-docker "$net"}
}

# edge_healthy_count COLOUR: servers of COLOUR the edge has UP with a passing health check (live).
edge_healthy_count() {
  local status
  status=$(switch_cli status) || die "cannot read the edge's server state (traffic-switch status failed)"
  jq -r --arg c "$1" \
    '[.servers[] | select((.name | startswith($c)) and (.status | test("^UP( |$)")) and (.check | test("^L7OK")))] | length' \
    <<<"$status"
}

# wait_edge_healthy COLOUR TIMEOUT_SECONDS: waits until the edge has a healthy server of COLOUR.
wait_edge_healthy() {
  local colour=$1 timeout=$2 start count=0
  require_uint "wait_edge_healthy's timeout" "$timeout" "the caller"
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    _dry "wait until the edge has a healthy $colour server (traffic-switch status, at most ${timeout}s)"
    return 0
  fi
  start=$(now_ms)
  while :; do
    count=$(edge_healthy_count "$colour")
    require_uint "healthy $colour server count" "$count" "traffic-switch status"
    if ((count > 0)); then
      log_info "edge: $count healthy $colour server(s)"
      return 0
    fi
    if (($(now_ms) - start >= timeout * 1000)); then
      log_error "edge: no healthy $colour server after ${timeout}s"
      return 1
    fi
    sleep "${BI_POLL_SECONDS:-2}"
  done
}

# slot_containers COLOUR: the container names of a slot stack (one per line); dies when none.
slot_containers() {
  local list
  list=$(slot_list "$1" .containers) || exit $?
  [[ -n "$list" ]] || die "slot $1 has no containers in its stack outputs: deploy it first"
  printf '%s\n' "$list"
}

# smoke_slot COLOUR: every container of the slot is healthy and answers /health 200 and /ping with
# its own colour (the right slot runs the new build).
smoke_slot() {
  local colour=$1 container probe upstream port
  local -a containers
  mapfile -t containers < <(slot_containers "$colour")
  upstream=$(slot_field "$colour" .upstream) || exit $?
  port=${upstream##*:}
  [[ "$port" =~ ^[0-9]+$ ]] || die "slot $colour output upstream '$upstream' is not host:port"
  # Runs inside the backend container (node is there; curl is not).
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  probe='const [colour, port] = process.argv.slice(1); const u = (p) => `http://127.0.0.1:${port}${p}`;
Promise.all([fetch(u("/health")), fetch(u("/ping"))]).then(([h, p]) => {
  const c = p.headers.get("x-backend-colour");
  console.log(`health ${h.status} ping ${p.status} colour ${c}`);
  process.exit(h.status === 200 && p.status === 200 && c === colour ? 0 : 1);
}, (e) => { console.error(e.message); process.exit(1); });'
  for container in "${containers[@]}"; do
    wait_healthy "$container" "${BI_HEALTH_TIMEOUT:-180}" || return 1
    run_in "$container" node -e "$probe" "$colour" "$port" || {
      log_error "smoke test failed in $container"
      return 1
    }
  done
  wait_edge_healthy "$colour" "${BI_HEALTH_TIMEOUT:-180}"
}

# BI_ONLY_TRAFFIC=1 (--only-traffic): the env stack's up is limited to the traffic switch's command,
# with `pulumi up --target URN`. An escape hatch for an emergency from a checkout that may not match
# what runs: every other change of the env stack stays pending, including the alert rules that name
# the active slot (their reload carries the checkout's prometheus.yml, and its dependents would pull
# in the Prometheus and Grafana containers). The URN is the TrafficSwitch's command
# (components/traffic-switch.ts).
BI_ONLY_TRAFFIC=0

# traffic_switch_urn ENV_STACK: the URN of the env stack's switch command.
traffic_switch_urn() {
  # shellcheck disable=SC2016 # the $ is the URN's parent-type separator, not an expansion
  printf 'urn:pulumi:%s::backend-infra::backend-infra:edge:TrafficSwitch$command:local:Command::traffic-apply\n' "${1##*/}"
}

# parse_only_traffic ARG: true (and sets BI_ONLY_TRAFFIC) when ARG is --only-traffic.
parse_only_traffic() {
  [[ "$1" == --only-traffic ]] || return 1
  BI_ONLY_TRAFFIC=1
}

# set_traffic ENV_STACK ACTIVE CANARY_PERCENT: config + pulumi up of the env stack (the switch),
# with the policy pack. The policy config is checked first: a missing one must not leave config
# set that no pulumi up applied. When a config set or the up fails, the config goes back to what
# the loaded outputs say the stack runs, so no later `pulumi up` applies a switch this runbook
# reported as failed.
set_traffic() {
  local stack=$1 active=$2 percent=$3 was_active was_percent status
  policy_pack_config "$stack" >/dev/null || return $?
  was_active=$(output_field .traffic.active) || return $?
  was_percent=$(output_field_or .traffic.canaryPercent 0)
  # Explicit returns: callers run this under `step ... ||`, where errexit is off.
  local -a only=()
  if [[ "$BI_ONLY_TRAFFIC" == 1 ]]; then
    only=(--target "$(traffic_switch_urn "$stack")")
    log_warn "--only-traffic: only the traffic switch of $stack is updated; its other pending changes, the alert rules' active slot among them, wait for the next full pulumi up -s $stack"
  fi
  set_traffic_config "$stack" "$active" "$percent" && pulumi_up "$stack" "${only[@]+"${only[@]}"}" && return 0
  status=$?
  # The up can fail after the switch ran (a later resource): putting the config back would make
  # the next up switch back to what was just left.
  if [[ "$BI_DRY_RUN" != 1 ]] && edge_serves_target "$active" "$percent"; then
    log_error "pulumi up of $stack failed, but the edge already serves $active with a $percent% canary: the config stays trafficActive=$active trafficCanaryPercent=$percent; fix the failure and run pulumi up -s $stack again"
    return "$status"
  fi
  log_error "the switch failed; setting the config of $stack back to trafficActive=$was_active trafficCanaryPercent=$was_percent"
  if ! set_traffic_config "$stack" "$was_active" "$was_percent"; then
    log_error "could not restore the config of $stack: set trafficActive=$was_active and trafficCanaryPercent=$was_percent before the next pulumi up"
  fi
  return "$status"
}

# edge_serves_target ACTIVE PERCENT: true when the edge's weights are exactly what the switch would
# set for this target now (a dry run of the switch that finds nothing to change). False when they
# differ or the edge cannot be asked.
edge_serves_target() {
  local out
  out=$( (switch_cli_counted apply --active "$1" --canary-percent "$2" --dry-run --no-persist --wait-healthy 0) 2>/dev/null) ||
    return 1
  jq -e '.action == "dry-run" and (.commands | length) == 0' <<<"$out" >/dev/null 2>&1
}

# check_outputs_file_current: with --outputs, the file may predate a switch made since (a saved
# copy, another operator): deploy, canary and rollback would then pick the wrong idle slot or undo
# a canary. The edge is asked (traffic-switch status, read only, so dry runs ask too):
#   - which colours its weights give traffic to, over all server slots (a crashed slot whose
#     servers DNS dropped still counts), against the file's active colour and canary;
#   - when both get traffic, which gets the larger share once every running replica is up
#     (replicaShare, from Docker's replica counts), against the file's active colour.
# A mismatch stops the runbook. An edge that cannot be asked, or gives no server a weight, only
# warns: a rollback must not depend on it, and the switch's own health gate still runs.
check_outputs_file_current() {
  [[ -n "$BI_OUTPUTS_FILE" ]] || return 0
  local file_active file_canary idle live c file_gets live_gets majority expected stale=""
  file_active=$(output_field .traffic.active) || exit $?
  file_canary=$(output_field_or .traffic.canaryPercent 0)
  if ! is_uint "$file_canary" || ((file_canary > 100)); then
    die "$BI_OUTPUTS_FILE: traffic.canaryPercent is not a whole number from 0 to 100: $(printf '%q' "$file_canary")"
  fi
  idle=$(other_colour "$file_active")
  if ! live=$( (switch_cli_counted status) 2>/dev/null) ||
    ! jq -e '.receives | has("blue") and has("green")' <<<"$live" >/dev/null 2>&1; then
    log_warn "cannot ask the edge what it serves; trusting $BI_OUTPUTS_FILE ($file_active active, canary $file_canary%)"
    return 0
  fi
  if jq -e '.receives.blue == false and .receives.green == false' <<<"$live" >/dev/null; then
    log_warn "the edge gives no server a weight; cannot check $BI_OUTPUTS_FILE against it"
    return 0
  fi
  for c in blue green; do
    if [[ $c == "$file_active" ]]; then file_gets=$((file_canary < 100)); else file_gets=$((file_canary > 0)); fi
    live_gets=$(jq -r --arg c "$c" 'if .receives[$c] then 1 else 0 end' <<<"$live")
    if [[ "$file_gets" != "$live_gets" ]]; then
      stale+="${stale:+, }$c $([[ $file_gets == 1 ]] && echo "gets traffic in the file, none at the edge" || echo "gets none in the file, traffic at the edge")"
    fi
  done
  if [[ -z "$stale" && "$file_canary" != 0 && "$file_canary" != 50 && "$file_canary" != 100 ]]; then
    majority=$(jq -r '.replicaShare // empty | if .blue > .green then "blue" elif .green > .blue then "green" else empty end' <<<"$live")
    if ((file_canary < 50)); then expected=$file_active; else expected=$idle; fi
    if [[ -n "$majority" && "$majority" != "$expected" ]]; then
      stale="the edge gives most traffic to $majority, the file to $expected"
    fi
  fi
  [[ -z "$stale" ]] ||
    die "$BI_OUTPUTS_FILE is out of date ($file_active active, canary $file_canary%): $stale. Save the outputs again (pulumi stack output --json --show-secrets) or use --stack"
  log_info "the edge serves what $BI_OUTPUTS_FILE says ($file_active active, canary $file_canary%)"
}

# edge_state_summary: what the edge serves now, asked live. After a failed switch neither the
# config nor the outputs can say: the switch may have run before a later step failed.
edge_state_summary() {
  local status
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    printf 'not asked (dry run)\n'
    return 0
  fi
  if status=$( (switch_cli status) 2>/dev/null) &&
    jq -re '"\(.active) active, blue \(.share.blue)% / green \(.share.green)%"' <<<"$status" 2>/dev/null; then
    return 0
  fi
  printf 'unknown (traffic-switch status failed; check with runbooks/status --live)\n'
}

# verify_traffic ENV_STACK ACTIVE CANARY_PERCENT: re-reads the env stack outputs and checks them.
verify_traffic() {
  local stack=$1 active=$2 percent=$3 got_active got_percent
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    _dry "check that stack $stack reports traffic.active=$active traffic.canaryPercent=$percent"
    return 0
  fi
  # Fresh outputs from pulumi (an --outputs file was read before the switch).
  # shellcheck disable=SC2034 # the cache of outputs.sh
  OUTPUTS_JSON=""
  outputs_load --stack "$stack"
  got_active=$(output_field .traffic.active)
  got_percent=$(output_field_or .traffic.canaryPercent 0)
  if [[ "$got_active" != "$active" || "$got_percent" != "$percent" ]]; then
    log_error "stack $stack reports active=$got_active canary=$got_percent%, expected active=$active canary=$percent%"
    return 1
  fi
  log_info "traffic: active=$got_active canary=$got_percent% weights=$(output_field .traffic.weights)"
}
