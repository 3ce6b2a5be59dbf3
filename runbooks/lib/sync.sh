# shellcheck shell=bash
# The stack config the runbooks change (traffic split, slot images), and setting it back to what
# runs. Load after common.sh.

# set_traffic_config ENV_STACK ACTIVE CANARY_PERCENT: the two config keys of the traffic split.
set_traffic_config() {
  pulumi_cmd config set trafficActive "$2" -s "$1" &&
    pulumi_cmd config set trafficCanaryPercent "$3" -s "$1"
}

# sync_live_config ENV_STACK: sets the config the runbooks change to what the stacks run now, read
# from their outputs: trafficActive and trafficCanaryPercent of ENV_STACK, and backendImage of
# each slot stack that runs an image pinned by digest. Stack config files are local: another
# checkout (CI, a colleague's) holds what was committed, and an up from it would switch traffic
# back or redeploy an old image. Local builds (a tag, no digest) are left to the checkout.
sync_live_config() {
  local stack=$1 active percent colour image
  active=$(output_field_or .traffic.active "")
  if [[ -z "$active" ]]; then
    log_info "stack $stack reports no traffic yet (before its first up): nothing to sync"
    return 0
  fi
  percent=$(output_field_or .traffic.canaryPercent 0)
  set_traffic_config "$stack" "$active" "$percent" || return 1
  for colour in blue green; do
    # A slot stack that does not exist yet has no outputs: its config stays as it is.
    image=$( (slot_field_or "$colour" .image "") 2>/dev/null || true)
    if [[ "$image" != *@sha256:* ]]; then
      log_info "slot $colour: ${image:-no stack outputs}; its backendImage stays as configured"
      continue
    fi
    pulumi_cmd config set backendImage "$image" -s "$stack-$colour" || return 1
  done
  if [[ "$BI_DRY_RUN" == 1 ]]; then
    log_info "dry run: the config of $stack was not changed (the [dry-run] lines are what would be set)"
  else
    log_info "config of $stack synced to what runs: trafficActive=$active trafficCanaryPercent=$percent"
  fi
}
