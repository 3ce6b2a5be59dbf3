#!/usr/bin/env bash
# The Debian bookworm base image every stand-in is built FROM, made without a registry:
# mmdebstrap (minbase + ca-certificates, trimmed like debian:bookworm-slim) -> tar -> docker import.
#
#   test/engine/images/base/build.sh        prints the image reference on stdout
#
# Cached under a content key: the sha256 of this script (which holds every mmdebstrap parameter)
# and of the parameter list itself. The image is tagged
#   backend-infra-test/debian:bookworm-<key>   and   backend-infra-test/debian:bookworm
# and labelled backend-infra.base.key=<key>. When the keyed tag exists, nothing is built.
# The Debian archive moves on (point releases, security updates) without changing the key: delete
# the keyed tag (or set BASE_REBUILD=1) to take a new snapshot.
#
# Environment: ENGINE_DIR (default <repo>/.engine; the temporary tarball goes there),
# BASE_REBUILD=1 (build even when the keyed image exists), DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR,
# BASE_HOST_CA_DIR (the host's added CA certificates, default /usr/local/share/ca-certificates).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../../.." && pwd)
engine_dir=${ENGINE_DIR:-$root/.engine}
repo=backend-infra-test/debian
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

say() { printf 'base: %s\n' "$*" >&2; }

# Every parameter that shapes the root filesystem. Like debian:bookworm-slim: minbase, no
# documentation, man pages or translations (copyright files stay), no recommends pulled in later.
params=(
  --variant=minbase
  --include=ca-certificates
  # merged /usr as debootstrap sets it up (usr-is-merged), not the usrmerge package, which would
  # pull in perl and make the image unlike debian:bookworm-slim
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --format=tar
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/linda/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --aptopt='APT::Install-Recommends "false"'
  --aptopt='Acquire::Languages "none"'
  bookworm
)
sources=(
  "deb $mirror bookworm main"
  "deb $mirror bookworm-updates main"
  "deb $security bookworm-security main"
)

# CA certificates the host adds to its trust store (Debian: /usr/local/share/ca-certificates/*.crt)
# go into the image too: on a machine whose egress re-signs TLS (the CI machines here do), builds
# FROM these images (go install, npm ci) must trust what the host trusts. A plain machine has none,
# and then nothing is added.
host_ca_dir=${BASE_HOST_CA_DIR:-/usr/local/share/ca-certificates}
host_cas=()
if [ -d "$host_ca_dir" ]; then
  while IFS= read -r -d '' ca; do
    host_cas+=("$ca")
  done < <(find "$host_ca_dir" -maxdepth 1 -type f -name '*.crt' -print0 | LC_ALL=C sort -z)
fi
ca_hooks=()
if [ "${#host_cas[@]}" -gt 0 ]; then
  # shellcheck disable=SC2016 # $1 is mmdebstrap's hook argument (the root), expanded by its shell
  ca_hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates/host"')
  ca_hooks+=(--customize-hook="copy-in ${host_cas[*]} /usr/local/share/ca-certificates/host/")
  # shellcheck disable=SC2016
  ca_hooks+=(--customize-hook='chroot "$1" update-ca-certificates')
fi

key=$(
  {
    sha256sum "$here/build.sh" | cut -d' ' -f1
    printf '%s\n' "${params[@]}" "${sources[@]}"
    if [ "${#host_cas[@]}" -gt 0 ]; then sha256sum "${host_cas[@]}" | cut -d' ' -f1; fi
  } | sha256sum | cut -c1-16
)
tag="$repo:bookworm-$key"

if [ "${BASE_REBUILD:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  docker tag "$tag" "$repo:bookworm"
  say "cached: $tag ($(docker image inspect -f '{{.Id}}' "$tag" | cut -c8-19))"
  printf '%s\n' "$tag"
  exit 0
fi

command -v mmdebstrap >/dev/null 2>&1 || {
  say "ERROR: mmdebstrap is not installed (Debian: apt-get install mmdebstrap)"
  exit 1
}
mkdir -p "$engine_dir"
tarball=$(mktemp "$engine_dir/base-rootfs.XXXXXX.tar")
trap 'rm -f "$tarball"' EXIT
start=$SECONDS
say "building $tag with mmdebstrap (minbase, bookworm + updates + security) ..."
[ "${#host_cas[@]}" -eq 0 ] || say "adding the host's CA certificates: ${host_cas[*]}"
mmdebstrap --quiet "${params[@]}" "${ca_hooks[@]}" "$tarball" "${sources[@]}"
say "root filesystem: $(du -h "$tarball" | cut -f1) in $((SECONDS - start)) s; importing"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --change "LABEL backend-infra.base.key=$key" \
  --change 'LABEL org.opencontainers.image.description="backend-infra test base (Debian bookworm via mmdebstrap), never for a real deploy"' \
  --change 'LABEL backend-infra.standin=true' \
  --change "LABEL backend-infra.base.host-cas=${#host_cas[@]}" \
  --message "mmdebstrap minbase bookworm, key $key" \
  "$tarball" "$tag" >/dev/null
docker tag "$tag" "$repo:bookworm"
say "built $tag in $((SECONDS - start)) s"
printf '%s\n' "$tag"
