#!/usr/bin/env bash
# Builds the Pulumi toolchain this project's real-engine level needs, from Go modules:
#   pulumi                  the CLI (upstream main package of github.com/pulumi/pulumi/pkg/v3)
#   pulumi-language-nodejs  the Node.js language host (upstream v3.68.0 behind a wrapper that adds RunPlugin)
#   pulumi-resource-random, -tls, -docker   the resource plugins (bridged Terraform providers)
#   pulumi-resource-command                 a test-only stand-in (tools/toolchain/command: the
#                                           proxy refuses pulumi-command's provider module)
# into a cache outside the work tree, keyed by the versions and by the build inputs
# (this script and everything under tools/toolchain). A warm run only checks and prints.
#
#   bash tools/toolchain/build.sh               build if needed, print versions; last line: bin dir
#   bash tools/toolchain/build.sh --print-env   build if needed (progress on stderr), then print
#                                               `export PATH=...` and `export PULUMI_HOME=...`
#   bash tools/toolchain/build.sh --rebuild     forget this key's cache entry and build again
#
# See tools/toolchain/README.md for what is built, from which modules, and why.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

MODE=build
REBUILD=0
for arg in "$@"; do
  case "$arg" in
    --print-env) MODE="env" ;;
    --rebuild) REBUILD=1 ;;
    -h | --help)
      sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "toolchain: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

# In --print-env mode stdout carries only the exports; everything else goes to stderr.
if [[ $MODE == env ]]; then
  exec 3>&1 1>&2
else
  exec 3>&1
fi

say() { printf 'toolchain: %s\n' "$*"; }
die() {
  printf 'toolchain: ERROR: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Versions. The plugin versions are the ones the Node.js SDKs in package.json ask the engine
# for; the module versions are the nearest the Go module proxy serves (README.md says why).
# ---------------------------------------------------------------------------------------------
sdk_version() { # the exact version package.json pins for an npm package
  sed -n "s/^ *\"$1\": *\"\\([0-9][0-9.]*\\)\",\\{0,1\\} *\$/\\1/p" "$REPO/package.json" | head -n 1
}
RANDOM_VERSION="$(sdk_version '@pulumi\/random')"
TLS_VERSION="$(sdk_version '@pulumi\/tls')"
DOCKER_VERSION="$(sdk_version '@pulumi\/docker')"
COMMAND_VERSION="$(sdk_version '@pulumi\/command')"
NODE_SDK_VERSION="$(sdk_version '@pulumi\/pulumi')"
for v in RANDOM_VERSION TLS_VERSION DOCKER_VERSION COMMAND_VERSION NODE_SDK_VERSION; do
  [[ -n ${!v} ]] || die "could not read the pinned version for $v from $REPO/package.json"
done

gomod_version() { # the version a go.mod under tools/toolchain requires for a module
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$HERE/$1/go.mod"
}
PULUMI_VERSION="$(gomod_version cli github.com/pulumi/pulumi/pkg/v3)"
LANGHOST_VERSION="$(gomod_version langhost github.com/pulumi/pulumi/sdk/v3)"
WRAPPER_SDK_VERSION="$(gomod_version langwrap github.com/pulumi/pulumi/sdk/v3)"
BRIDGE_VERSION="$(gomod_version providers github.com/pulumi/pulumi-terraform-bridge/v3)"
UP_RANDOM="$(gomod_version providers github.com/terraform-providers/terraform-provider-random)"
UP_TLS="$(gomod_version providers github.com/hashicorp/terraform-provider-tls)"
UP_DOCKER="$(gomod_version providers github.com/terraform-providers/terraform-provider-docker)"
for v in PULUMI_VERSION LANGHOST_VERSION WRAPPER_SDK_VERSION BRIDGE_VERSION UP_RANDOM UP_TLS UP_DOCKER; do
  [[ -n ${!v} ]] || die "could not read $v from the go.mod files under $HERE"
done

# ---------------------------------------------------------------------------------------------
# Go environment: pinned here so that the user's settings cannot change the build.
# ---------------------------------------------------------------------------------------------
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || die "Go is not installed (expected Go >= 1.26 at /usr/local/go)"
unset GOFLAGS GOOS GOARCH GOAMD64 GOEXPERIMENT GOPRIVATE GONOPROXY GONOSUMDB GOINSECURE GOWORK GOBIN
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=readonly
export GOPROXY="${BACKEND_INFRA_GOPROXY:-https://proxy.golang.org}"
GO_VERSION="$(go env GOVERSION)"
case "$GO_VERSION" in
  go1.2[6-9]* | go1.[3-9][0-9]*) ;;
  *) die "Go $GO_VERSION is too old: these modules need Go >= 1.26 (/usr/local/go)" ;;
esac

# ---------------------------------------------------------------------------------------------
# Cache key: versions + Go version + every build input under tools/toolchain (not the README).
# ---------------------------------------------------------------------------------------------
INPUTS_HASH="$(
  cd "$HERE"
  {
    printf '%s\n' "$GO_VERSION" "$RANDOM_VERSION" "$TLS_VERSION" "$DOCKER_VERSION"
    find . -type f ! -name README.md ! -name '*.log' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)"
KEY="pulumi-${PULUMI_VERSION}-${INPUTS_HASH}"
CACHE_ROOT="${BACKEND_INFRA_CACHE:-$HOME/.cache/backend-infra}/toolchain"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"            # pulumi, pulumi-language-nodejs: what goes on PATH
LIBEXEC="$OUT/libexec"    # pulumi-language-nodejs-upstream: the host the wrapper runs
PLUGBIN="$OUT/plugins"    # the resource plugins as built (not on PATH: the engine would prefer
#                           a plugin on PATH to the installed one, with a warning each time)
TOOLS="$OUT/tools"        # pulumi-tfgen, the schema generator
PHOME="$OUT/pulumi-home"  # PULUMI_HOME whose plugins/ holds the installed resource plugins
WORK="$CACHE_ROOT/work-$KEY"
LOG="$OUT/build.log"

PLUGINS=(random tls docker)   # bridged
ALL_PLUGINS=("${PLUGINS[@]}" command)
plugin_version() {
  case "$1" in
    random) echo "$RANDOM_VERSION" ;;
    tls) echo "$TLS_VERSION" ;;
    docker) echo "$DOCKER_VERSION" ;;
    command) echo "$COMMAND_VERSION" ;;
  esac
}

print_env() {
  # shellcheck disable=SC2016 # $PATH is for the shell that evaluates these lines
  printf 'export PATH=%q:"$PATH"\n' "$BIN" >&3
  printf 'export PULUMI_HOME=%q\n' "$PHOME" >&3
}

# Runs one build step; on failure prints which step failed and the tail of its output.
step() {
  local name="$1"
  shift
  local t0=$SECONDS
  say "$name ..."
  if ! "$@" >>"$LOG" 2>&1; then
    echo "toolchain: ERROR: step failed: $name" >&2
    echo "toolchain: command: $*" >&2
    echo "toolchain: last lines of $LOG:" >&2
    tail -n 40 "$LOG" | sed 's/^/    /' >&2
    exit 1
  fi
  say "$name: done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------
# Check: does a complete build for this key exist and answer with the right versions?
# ---------------------------------------------------------------------------------------------
verify() {
  local ok=0 got want
  got="$("$BIN/pulumi" version 2>/dev/null || true)"
  [[ $got == "$PULUMI_VERSION" ]] || {
    echo "toolchain: pulumi version says '$got', want '$PULUMI_VERSION'" >&2
    ok=1
  }
  [[ -x "$BIN/pulumi-language-nodejs" && -x "$LIBEXEC/pulumi-language-nodejs-upstream" ]] || {
    echo "toolchain: missing $BIN/pulumi-language-nodejs or $LIBEXEC/pulumi-language-nodejs-upstream" >&2
    ok=1
  }
  for p in "${ALL_PLUGINS[@]}"; do
    want="$(plugin_version "$p")"
    got="$("$PHOME/plugins/resource-$p-v$want/pulumi-resource-$p" -version 2>/dev/null || true)"
    [[ $got == "$want" ]] || {
      echo "toolchain: installed plugin resource-$p-v$want says its version is '$got', want '$want'" >&2
      ok=1
    }
  done
  return $ok
}

report() {
  say "cache entry: $OUT"
  say "pulumi                 $("$BIN/pulumi" version)   (github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION; @pulumi/pulumi in package.json: $NODE_SDK_VERSION)"
  say "pulumi-language-nodejs $LANGHOST_VERSION   (github.com/pulumi/pulumi/sdk/v3@$LANGHOST_VERSION, nodejs/cmd/pulumi-language-nodejs; RunPlugin added by langwrap, sdk/v3@$WRAPPER_SDK_VERSION)"
  local p
  for p in "${ALL_PLUGINS[@]}"; do
    say "$(printf 'pulumi-resource-%-6s %s' "$p" "$("$PHOME/plugins/resource-$p-v$(plugin_version "$p")/pulumi-resource-$p" -version)")   (bridge $BRIDGE_VERSION + upstream $(upstream_of "$p"))"
  done
  say "plugins (PULUMI_HOME=$PHOME):"
  PULUMI_HOME="$PHOME" PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" plugin ls 2>&1 | sed 's/^/    /'
  say "cold build took $(cat "$OUT/cold-build-seconds") s (on $(cat "$OUT/built-on"))"
}

upstream_of() {
  case "$1" in
    random) echo "github.com/terraform-providers/terraform-provider-random@$UP_RANDOM" ;;
    tls) echo "github.com/hashicorp/terraform-provider-tls@$UP_TLS" ;;
    docker) echo "github.com/kreuzwerker/terraform-provider-docker@$UP_DOCKER" ;;
    command) echo "the stand-in in tools/toolchain/command (pulumi-command's module is refused)" ;;
  esac
}

# The mapping in providers/bridged must name every token and property the Node.js SDK uses.
check_schema() {
  local p="$1" schema="$2" sdk="${BACKEND_INFRA_NODE_MODULES:-$REPO/node_modules}/@pulumi/$1" allow=""
  if ! command -v node >/dev/null 2>&1 || [[ ! -f "$sdk/package.json" ]]; then
    say "schema check for $p skipped: no node or no $sdk (run npm ci first)"
    return 0
  fi
  # docker:index/image:Image is implemented natively in pulumi-docker, not bridged (README.md).
  [[ $p == docker ]] && allow="docker:index/image:Image,CacheFrom,DockerBuild,Registry"
  step "check the $p schema against $sdk" node "$HERE/check-sdk-schema.mjs" "$schema" "$sdk" --allow-missing "$allow"
}

if [[ $REBUILD == 1 ]]; then
  rm -rf "$OUT" "$WORK"
fi

if [[ -f "$OUT/.complete" ]]; then
  T0=$SECONDS
  if verify; then
    report
    say "warm run: checked in $((SECONDS - T0)) s"
    if [[ $MODE == env ]]; then print_env; else echo "$BIN" >&3; fi
    exit 0
  fi
  say "cache entry $KEY is incomplete or wrong: rebuilding it"
fi

# ---------------------------------------------------------------------------------------------
# Cold build. Sequential on purpose: two cores, and each link of these binaries takes GBs.
# ---------------------------------------------------------------------------------------------
START=$SECONDS
GOCACHE_DIR="$(go env GOCACHE)"
if [[ -d $GOCACHE_DIR && -n "$(ls -A "$GOCACHE_DIR" 2>/dev/null)" ]]; then
  GO_CACHES="the Go build cache was not empty at the start"
else
  GO_CACHES="the Go build cache was empty at the start"
fi
rm -rf "$OUT" "$WORK"
mkdir -p "$BIN" "$LIBEXEC" "$PLUGBIN" "$TOOLS" "$PHOME/plugins" "$WORK"
: >"$LOG"
say "building $KEY (log: $LOG)"
say "versions: pulumi $PULUMI_VERSION, language host $LANGHOST_VERSION, bridge $BRIDGE_VERSION," \
  "random $RANDOM_VERSION, tls $TLS_VERSION, docker $DOCKER_VERSION"

LDV=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

# 1. The CLI: upstream's own main package, built inside tools/toolchain/cli (whose go.mod
#    pins pkg/v3 and copies pkg/v3's replace of atotto/clipboard).
step "download modules for pulumi (github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION)" \
  bash -c "cd '$HERE/cli' && go mod download"
step "build pulumi (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION)" \
  bash -c "cd '$HERE/cli' && go build -trimpath -ldflags '-s -w -X $LDV=$PULUMI_VERSION' -o '$BIN/pulumi' github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"

# 2. The Node.js language host (see README.md: the proxy serves no newer one).
step "download modules for pulumi-language-nodejs (github.com/pulumi/pulumi/sdk/v3@$LANGHOST_VERSION)" \
  bash -c "cd '$HERE/langhost' && go mod download"
step "build pulumi-language-nodejs (github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs@$LANGHOST_VERSION)" \
  bash -c "cd '$HERE/langhost' && go build -trimpath -ldflags '-s -w -X $LDV=$LANGHOST_VERSION' -o '$LIBEXEC/pulumi-language-nodejs-upstream' github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
step "download modules for the language host wrapper (github.com/pulumi/pulumi/sdk/v3@$WRAPPER_SDK_VERSION)" \
  bash -c "cd '$HERE/langwrap' && go mod download"
step "build pulumi-language-nodejs wrapper (tools/toolchain/langwrap: forwards to the $LANGHOST_VERSION host, adds RunPlugin)" \
  bash -c "cd '$HERE/langwrap' && go build -trimpath -ldflags '-s -w' -o '$BIN/pulumi-language-nodejs' ."

# 3. The bridged providers. The sources are copied to a work dir so that the generated
#    schema.json / bridge-metadata.json (embedded into each plugin) never touch the repo.
cp -R "$HERE/providers" "$WORK/providers"
# Pulumi's SDKv2 fork at the version the bridge pins predates terraform-plugin-go v0.31 (which
# the upstream docker provider needs): build against a copy of it with one added method
# (patches/terraform-plugin-sdk-v2; README.md says why). The module cache stays untouched.
FORK_VERSION="$(awk '$1 == "replace" && $2 == "github.com/hashicorp/terraform-plugin-sdk/v2" { print $5 }' "$HERE/providers/go.mod")"
[[ -n $FORK_VERSION ]] || die "providers/go.mod has no replace of github.com/hashicorp/terraform-plugin-sdk/v2"
step "download github.com/pulumi/terraform-plugin-sdk/v2@$FORK_VERSION (Pulumi's SDKv2 fork)" \
  bash -c "cd '$WORK/providers' && go mod download -json github.com/pulumi/terraform-plugin-sdk/v2@$FORK_VERSION >'$WORK/fork.json'"
FORK_DIR="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$WORK/fork.json")"
[[ -d $FORK_DIR ]] || die "go mod download gave no directory for github.com/pulumi/terraform-plugin-sdk/v2@$FORK_VERSION"
cp -R "$FORK_DIR" "$WORK/sdkv2"
chmod -R u+w "$WORK/sdkv2"
cp -R "$HERE/patches/terraform-plugin-sdk-v2/." "$WORK/sdkv2/"
(cd "$WORK/providers" && go mod edit -replace=github.com/hashicorp/terraform-plugin-sdk/v2=../sdkv2)
PV=backend-infra/tools/toolchain/providers/bridged
PLD="-s -w -X $PV.RandomVersion=$RANDOM_VERSION -X $PV.TLSVersion=$TLS_VERSION -X $PV.DockerVersion=$DOCKER_VERSION -X $PV.DockerUpstreamVersion=$UP_DOCKER"
step "download modules for the providers (bridge $BRIDGE_VERSION, upstream providers)" \
  bash -c "cd '$WORK/providers' && go mod download"
step "build pulumi-tfgen (schema generator: bridge $BRIDGE_VERSION + random, tls, docker)" \
  bash -c "cd '$WORK/providers' && go build -trimpath -ldflags '$PLD' -o '$TOOLS/pulumi-tfgen' ./cmd/pulumi-tfgen"
for p in "${PLUGINS[@]}"; do
  dir="$WORK/providers/cmd/pulumi-resource-$p"
  step "generate schema for $p ($(upstream_of "$p"))" \
    bash -c "cd '$WORK' && '$TOOLS/pulumi-tfgen' $p schema --out '$dir' --skip-docs --skip-examples"
  [[ -s "$dir/schema.json" && -s "$dir/bridge-metadata.json" ]] ||
    die "pulumi-tfgen $p wrote no schema.json/bridge-metadata.json into $dir (see $LOG)"
  mkdir -p "$OUT/schemas/$p"
  cp "$dir/schema.json" "$dir/bridge-metadata.json" "$OUT/schemas/$p/"
  check_schema "$p" "$dir/schema.json"
  step "build pulumi-resource-$p v$(plugin_version "$p")" \
    bash -c "cd '$WORK/providers' && go build -trimpath -ldflags '$PLD' -o '$PLUGBIN/pulumi-resource-$p' ./cmd/pulumi-resource-$p"
done

step "build pulumi-resource-command v$COMMAND_VERSION (test-only stand-in, tools/toolchain/command)" \
  bash -c "cd '$HERE/command' && go build -trimpath -ldflags '-s -w -X main.version=$COMMAND_VERSION' -o '$PLUGBIN/pulumi-resource-command' ."

# 4. Install the plugins into PULUMI_HOME/plugins with the CLI itself, so the layout and
#    marker files are exactly what this engine expects (works with
#    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true: nothing is downloaded).
for p in "${ALL_PLUGINS[@]}"; do
  step "install plugin resource $p v$(plugin_version "$p") into $PHOME/plugins" \
    env PULUMI_HOME="$PHOME" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    "$BIN/pulumi" plugin install resource "$p" "$(plugin_version "$p")" --file "$PLUGBIN/pulumi-resource-$p"
done

rm -rf "$WORK"
ELAPSED=$((SECONDS - START))
echo "$ELAPSED" >"$OUT/cold-build-seconds"
printf '%s, %s cores, %s; %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" "$GO_VERSION" "$GO_CACHES" >"$OUT/built-on"
{
  echo "pulumi=$PULUMI_VERSION"
  echo "pulumi-language-nodejs=$LANGHOST_VERSION (+ langwrap, sdk/v3@$WRAPPER_SDK_VERSION)"
  echo "pulumi-terraform-bridge=$BRIDGE_VERSION"
  for p in "${ALL_PLUGINS[@]}"; do echo "pulumi-resource-$p=$(plugin_version "$p") upstream=$(upstream_of "$p")"; done
} >"$OUT/versions.txt"

verify || die "the build finished but the binaries do not report the expected versions (see above)"
touch "$OUT/.complete"
say "cold build finished in $ELAPSED s"
report
if [[ $MODE == env ]]; then print_env; else echo "$BIN" >&3; fi
