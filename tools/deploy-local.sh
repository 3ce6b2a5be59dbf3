#!/usr/bin/env bash
# Deploys the "local" env stack and its active slot on this machine's Docker engine, with
# Pulumi state in ./.pulumi (file backend) and a passphrase secrets provider. Run through
# `npm run deploy:local`. It checks its prerequisites first (the project's npm packages, the
# Pulumi CLI, the docker CLI and an engine that answers), each with a one-line reason and exit 1,
# and only then builds dist/ (when a source changed since the last build).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'deploy:local: %s\n' "$*" >&2; exit 1; }

[ -d node_modules/@pulumi/pulumi ] || die "the project's npm packages are not installed: run 'npm ci' first"
command -v pulumi >/dev/null 2>&1 ||
  die "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/). Without it, 'npm run plan -- local' shows the offline plan."
command -v docker >/dev/null 2>&1 ||
  die "the docker CLI is not installed (https://docs.docker.com/engine/install/)"
docker info >/dev/null 2>&1 ||
  die "no Docker engine answers at ${DOCKER_HOST:-the default socket} (is the daemon running and may this user reach it?)"

node tools/build.mjs --if-stale || die "the build failed (tsc's messages are above)"

mkdir -p .pulumi
export PULUMI_BACKEND_URL="file://$PWD/.pulumi"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  # Only the local stack's generated secrets are protected by this; say so instead of prompting.
  export PULUMI_CONFIG_PASSPHRASE="local-only-not-secret"
  echo "deploy:local: PULUMI_CONFIG_PASSPHRASE is unset; using a fixed local-only passphrase"
fi

for stack in local "local-$(sed -n 's/^ *backend-infra:trafficActive: *//p' Pulumi.local.yaml | grep . || echo blue)"; do
  echo "==> pulumi up -s $stack"
  pulumi stack select --create --secrets-provider passphrase "$stack"
  pulumi up --yes --skip-preview -s "$stack"
done

echo "==> outputs of the local env stack"
pulumi stack output --json -s local
