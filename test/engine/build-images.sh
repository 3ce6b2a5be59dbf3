#!/usr/bin/env bash
# Builds the images the real-engine tests (L6) need, without a registry:
#
#   test/engine/build-images.sh [--project] [--rebuild]
#
#   1. a Docker engine (test/engine/dockerd.sh starts one when none answers);
#   2. the Debian bookworm base image (test/engine/images/base/build.sh: mmdebstrap + docker import,
#      cached under its content key);
#   3. every stand-in directory test/engine/images/<name>/ (all but base) holding a Dockerfile and a
#      `tags` file (the references to tag, one per line, e.g. redis:7.2.6-bookworm), in dependency
#      order: a stand-in whose Dockerfile's FROM / ARG / COPY lines name another stand-in's tag, or
#      whose optional `after` file names another stand-in directory, comes after it; otherwise by
#      name. Each is built with --build-arg BASE_IMAGE=<the keyed base image> and labelled
#        backend-infra.standin=true
#        org.opencontainers.image.description=backend-infra test stand-in, never for a real deploy
#        backend-infra.standin.key=<content key>
#      The content key hashes the base image ID, every file of the directory, the images of the
#      stand-ins it depends on, and the output of `prepare key` when the directory has an
#      executable `prepare`. When the first tag already carries that key, the build is skipped;
#      otherwise Docker's layer cache still reuses the unchanged steps.
#      `prepare` brings inputs from outside the repository (downloads, host toolchains): it is run
#      as `prepare key` (print what identifies them) and `prepare stage DIR`; such a directory is
#      built from a copy under $ENGINE_DIR/context/<name> with the staged files, removed afterwards.
#   4. with --project: the project's own images FROM the stand-ins, with the Dockerfiles, contexts
#      and build arguments a real deploy uses (components/postgres.ts, backup-runner.ts,
#      backend-slot.ts; defaults from Pulumi.yaml), tagged backend-infra-test/check-<name>. This only
#      proves they build; a stack builds its own through Pulumi.
#
# Builder: BuildKit, as @pulumi/docker's Image builds by default (the engine's own BuildKit through
# the Engine API). A docker CLI of 23 or later without the buildx plugin cannot use it; then a
# 20.10-era CLI is looked for (/usr/bin/docker of Debian's docker.io), else the classic builder is
# used and the summary says so. BUILDER=buildkit|classic forces one.
#
# Output: each step's time, a summary table; times of builds are kept in
# $ENGINE_DIR/build-times.tsv so later (cached) runs still show what the first run took.
# Exit 1 naming the image, with the last lines of its build log ($ENGINE_DIR/logs/<name>.log).
#
# Environment: ENGINE_DIR (default <repo>/.engine), BUILDER, DOCKER (the docker CLI to use).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
images_dir=$here/images
ENGINE_DIR=${ENGINE_DIR:-$root/.engine}
export ENGINE_DIR
logs=$ENGINE_DIR/logs
times_file=$ENGINE_DIR/build-times.tsv
description="backend-infra test stand-in, never for a real deploy"

project=0
rebuild=0
usage() { sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    --project) project=1 ;;
    --rebuild) rebuild=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build-images: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

say() { printf 'build-images: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
mkdir -p "$logs"

run_start=$SECONDS
summary=()
built_count=0
# add_row NAME STATUS SECONDS IMAGE
add_row() { summary+=("$(printf '%-18s %-7s %5s s  %s' "$1" "$2" "$3" "$4")"); }
record_time() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$times_file"; }
# recorded_time NAME KEY: seconds of the build that produced this key, when one was recorded here.
recorded_time() {
  [ -f "$times_file" ] || return 0
  awk -F'\t' -v n="$1" -v k="$2" '$1 == n && $2 == k { s = $3 } END { if (s != "") print s }' "$times_file"
}

# ---- 1. engine
step_start=$SECONDS
"$here/dockerd.sh" || die "no Docker engine"
say "engine ready ($((SECONDS - step_start)) s)"

# ---- builder
docker_cli=${DOCKER:-docker}
client_major() { "$1" version --format '{{.Client.Version}}' 2>/dev/null | sed -E 's/^([0-9]+).*/\1/'; }
builder=${BUILDER:-}
if [ -z "$builder" ]; then
  if "$docker_cli" buildx version >/dev/null 2>&1; then
    builder=buildkit
  elif [ "$(client_major "$docker_cli")" -lt 23 ] 2>/dev/null; then
    builder=buildkit
  elif [ -x /usr/bin/docker ] && [ "$(client_major /usr/bin/docker)" -lt 23 ] 2>/dev/null; then
    say "$(command -v "$docker_cli") is $("$docker_cli" version --format '{{.Client.Version}}') without buildx: building with /usr/bin/docker ($(client_major /usr/bin/docker).x), which reaches the engine's BuildKit"
    docker_cli=/usr/bin/docker
    builder=buildkit
  else
    builder=classic
  fi
fi
case "$builder" in
  buildkit) build_env=(env DOCKER_BUILDKIT=1) build_flags=(--progress=plain) ;;
  classic) build_env=(env DOCKER_BUILDKIT=0) build_flags=() ;;
  *) die "BUILDER must be buildkit or classic, got '$builder'" ;;
esac
say "builder: $builder ($docker_cli $("$docker_cli" version --format '{{.Client.Version}}'), engine $("$docker_cli" version --format '{{.Server.Version}}'))"

# docker_build NAME LOG ARGS...: one build, its output in LOG; on failure the last lines and exit 1.
docker_build() {
  local name=$1 log=$2
  shift 2
  if ! "${build_env[@]}" "$docker_cli" build "${build_flags[@]}" "$@" >"$log" 2>&1; then
    say "ERROR: building $name failed; last lines of $log:"
    tail -n 40 "$log" | sed 's/^/  | /' >&2
    exit 1
  fi
}

image_id() { "$docker_cli" image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
short_id() { image_id "$1" | cut -c8-19; }

# ---- 2. base
step_start=$SECONDS
base_had_key=0
base_key_tag=$("$images_dir/base/build.sh" 2>"$logs/base.log") || {
  say "ERROR: the base image failed; last lines of $logs/base.log:"
  tail -n 40 "$logs/base.log" | sed 's/^/  | /' >&2
  exit 1
}
sed 's/^/  /' "$logs/base.log" >&2
base_seconds=$((SECONDS - step_start))
base_key=${base_key_tag##*-}
if grep -q '^base: cached' "$logs/base.log"; then
  base_had_key=1
  first=$(recorded_time base "$base_key")
  add_row base cached "$base_seconds" "$base_key_tag $(short_id "$base_key_tag")${first:+ (built in $first s)}"
else
  record_time base "$base_key" "$base_seconds"
  built_count=$((built_count + 1))
  add_row base built "$base_seconds" "$base_key_tag $(short_id "$base_key_tag")"
fi
base_id=$(image_id "$base_key_tag")

# ---- 3. stand-ins
declare -A tags_of=() deps_of=()
names=()
for dir in "$images_dir"/*/; do
  name=$(basename "$dir")
  [ "$name" != base ] || continue
  if [ ! -f "$dir/Dockerfile" ] || [ ! -f "$dir/tags" ]; then
    say "skipping $dir: a stand-in directory needs a Dockerfile and a tags file"
    continue
  fi
  tags_of[$name]=$(grep -Ev '^[[:space:]]*(#|$)' "$dir/tags" | tr -d '[:blank:]' | tr '\n' ' ')
  [ -n "${tags_of[$name]// /}" ] || die "$dir/tags lists no reference"
  names+=("$name")
done

# Dependencies: another stand-in's tag on a FROM / ARG / COPY line, or its name in `after`.
for name in "${names[@]}"; do
  deps=""
  refs=$(grep -E '^[[:space:]]*(FROM|ARG|COPY)[[:space:]]' "$images_dir/$name/Dockerfile" || true)
  for other in "${names[@]}"; do
    [ "$other" != "$name" ] || continue
    for ref in ${tags_of[$other]}; do
      if grep -qF -- "$ref" <<<"$refs"; then
        deps="$deps $other"
        break
      fi
    done
  done
  if [ -f "$images_dir/$name/after" ]; then
    while read -r other _; do
      case "$other" in '' | '#'*) continue ;; esac
      [ -n "${tags_of[$other]:-}" ] || die "$images_dir/$name/after names '$other', which is no stand-in directory"
      deps="$deps $other"
    done <"$images_dir/$name/after"
  fi
  deps_of[$name]=$deps
done

# Topological order, by name among the ready ones.
order=()
declare -A placed=()
while [ "${#order[@]}" -lt "${#names[@]}" ]; do
  progress=0
  for name in "${names[@]}"; do
    [ -z "${placed[$name]:-}" ] || continue
    ready=1
    for dep in ${deps_of[$name]}; do
      [ -n "${placed[$dep]:-}" ] || ready=0
    done
    if [ "$ready" = 1 ]; then
      order+=("$name")
      placed[$name]=1
      progress=1
      break
    fi
  done
  if [ "$progress" = 0 ]; then
    stuck=()
    for name in "${names[@]}"; do
      [ -n "${placed[$name]:-}" ] || stuck+=("$name (after:${deps_of[$name]})")
    done
    die "stand-ins depend on each other in a cycle: ${stuck[*]}"
  fi
done
say "stand-ins in build order: ${order[*]}"

# content_key NAME: sha256 over the base image, the directory's files, the dependencies' images
# and `prepare key`.
content_key() {
  local name=$1 dir=$images_dir/$1 dep
  {
    echo "backend-infra stand-in key v1"
    echo "base $base_id"
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    for dep in ${deps_of[$name]}; do
      echo "dep $dep $(image_id "$(first_tag "$dep")")"
    done
    if [ -x "$dir/prepare" ]; then
      echo "prepare"
      "$dir/prepare" key
    fi
  } | sha256sum | cut -c1-16
}
first_tag() { local t; read -r t _ <<<"${tags_of[$1]}"; printf '%s\n' "$t"; }

for name in "${order[@]}"; do
  step_start=$SECONDS
  dir=$images_dir/$name
  key=$(content_key "$name") || die "$name: could not compute its content key (prepare key failed?)"
  first=$(first_tag "$name")
  read -r -a tags <<<"${tags_of[$name]}"
  current=$("$docker_cli" image inspect -f '{{ index .Config.Labels "backend-infra.standin.key" }}' "$first" 2>/dev/null || true)
  if [ "$rebuild" = 0 ] && [ "$current" = "$key" ]; then
    for tag in "${tags[@]}"; do
      "$docker_cli" tag "$first" "$tag"
    done
    was=$(recorded_time "$name" "$key")
    say "$name: cached (key $key) ${tags[*]}"
    add_row "$name" cached "$((SECONDS - step_start))" "${tags[*]} $(short_id "$first")${was:+ (built in $was s)}"
    continue
  fi
  context=$dir
  if [ -x "$dir/prepare" ]; then
    context=$ENGINE_DIR/context/$name
    rm -rf "$context"
    mkdir -p "$context"
    cp -a "$dir/." "$context/"
    say "$name: staging its inputs (prepare stage)"
    "$dir/prepare" stage "$context" 2>>"$logs/$name.prepare.log" || {
      say "ERROR: $name: prepare stage failed; last lines of $logs/$name.prepare.log:"
      tail -n 20 "$logs/$name.prepare.log" | sed 's/^/  | /' >&2
      exit 1
    }
  fi
  say "$name: building ${tags[*]} (key $key, log $logs/$name.log)"
  tag_args=()
  for tag in "${tags[@]}"; do
    tag_args+=(-t "$tag")
  done
  docker_build "$name" "$logs/$name.log" \
    --build-arg "BASE_IMAGE=$base_key_tag" \
    --label "backend-infra.standin=true" \
    --label "org.opencontainers.image.description=$description" \
    --label "backend-infra.standin.key=$key" \
    "${tag_args[@]}" -f "$context/Dockerfile" "$context"
  [ "$context" = "$dir" ] || rm -rf "$context"
  seconds=$((SECONDS - step_start))
  record_time "$name" "$key" "$seconds"
  built_count=$((built_count + 1))
  say "$name: built in $seconds s"
  add_row "$name" built "$seconds" "${tags[*]} $(short_id "$first")"
done

# ---- 4. the project's images FROM the stand-ins
# pulumi_default KEY: the config default in Pulumi.yaml (what a stack without that key uses).
pulumi_default() {
  awk -v key="$1" '
    $0 ~ "^  " key ":[[:space:]]*$" { inside = 1; next }
    inside && /^  [^ ]/ { exit }
    inside && /^    default:/ { sub(/^    default:[[:space:]]*/, ""); gsub(/"/, ""); print; exit }
  ' "$root/Pulumi.yaml"
}
# dockerfile_arg FILE NAME: the default of `ARG NAME=...` in a Dockerfile.
dockerfile_arg() { sed -n -E "s/^ARG $2=([^[:space:]]+).*/\1/p" "$1" | head -n1; }
need_image() {
  "$docker_cli" image inspect "$1" >/dev/null 2>&1 ||
    die "$2 needs $1, which no stand-in provides (add it to a stand-in's tags file)"
}

if [ "$project" = 1 ]; then
  pg_base=$(pulumi_default postgresBaseImage)
  redis_image=$(pulumi_default redisImage)
  if [ -z "$pg_base" ] || [ -z "$redis_image" ]; then
    die "cannot read the postgresBaseImage / redisImage defaults from Pulumi.yaml"
  fi
  node_image=$(dockerfile_arg "$root/examples/backend/Dockerfile" NODE_IMAGE)
  golang_image=$(dockerfile_arg "$root/images/backup/Dockerfile" GOLANG_IMAGE)
  need_image "$pg_base" images/postgres
  need_image "$redis_image" images/backup
  need_image "$node_image" examples/backend
  if [ -n "$golang_image" ]; then need_image "$golang_image" images/backup; fi

  # name, context, build args: as components/postgres.ts, backup-runner.ts and backend-slot.ts pass them.
  project_builds=(
    "postgres|images/postgres|POSTGRES_BASE_IMAGE=$pg_base"
    "backup|images/backup|POSTGRES_BASE_IMAGE=$pg_base REDIS_IMAGE=$redis_image"
    "backend|examples/backend|"
  )
  for entry in "${project_builds[@]}"; do
    IFS='|' read -r name context args <<<"$entry"
    step_start=$SECONDS
    tag=backend-infra-test/check-$name
    arg_flags=()
    for a in $args; do
      arg_flags+=(--build-arg "$a")
    done
    say "project $context: building $tag (${args:-no build args}, log $logs/check-$name.log)"
    docker_build "$context" "$logs/check-$name.log" "${arg_flags[@]}" -t "$tag" \
      -f "$root/$context/Dockerfile" "$root/$context"
    seconds=$((SECONDS - step_start))
    say "project $context: built in $seconds s"
    add_row "check-$name" checked "$seconds" "$tag $(short_id "$tag") from $context (docker build; its layer cache decides what reruns)"
  done
fi

# ---- summary
total=$((SECONDS - run_start))
{
  echo
  echo "build-images: summary (builder $builder; logs in $logs)"
  printf '  %s\n' "${summary[@]}"
  if [ "$base_had_key" = 0 ]; then
    echo "  first run on this machine (base image built): $total s in all"
    printf 'first-run\t-\t%s\t%s\n' "$total" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$times_file"
  else
    first_run=$(awk -F'\t' '$1 == "first-run" { s = $3 } END { print s }' "$times_file" 2>/dev/null || true)
    echo "  this run: $total s ($built_count built); first run on this machine: ${first_run:-not recorded} s"
  fi
  [ "$builder" = buildkit ] || echo "  NOTE: classic builder; @pulumi/docker builds with BuildKit, which this run did not exercise"
} >&2
