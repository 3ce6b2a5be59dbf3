# shellcheck shell=bash
# Listing of backup files (Redis RDB snapshots, logical dumps) in the backup runner, for
# backup-list and disaster-recovery. Source after lib/common.sh. The listing runs INSIDE the
# runner container through the seam, with the runner's own S3 settings: for S3 it calls
# `aws_s3` from the runner's images/backup/lib/backup-common.sh (endpoint, CA bundle, TLS
# verification), so there is one implementation of how to reach the bucket.
#
#   backup_files redis|logical local|s3   -> "STAMP LOCATION" lines, oldest first
#       STAMP = YYYYMMDDTHHMMSSZ from the file name (redis-<STAMP>.rdb, <db>-<STAMP>.dump)
#       LOCATION = a path in the runner, or s3://bucket/key
#   newest_backup_file redis|logical local|s3 [MAX_STAMP]  -> LOCATION of the newest (<= MAX_STAMP)
#   stamp_of_time "2026-11-28 09:14:00+00"  -> 20261128T091400Z

# The shell snippet run in the runner. $1 = kind (redis|logical), $2 = local|s3.
# shellcheck disable=SC2016 # expanded by the runner's shell, not here
BI_LIST_SNIPPET='
set -euo pipefail
kind=$1 from=$2
case $kind in
  redis) sub=redis pattern="redis-*.rdb" ;;
  logical) sub=logical pattern="*.dump" ;;
esac
if [[ $from == local ]]; then
  dir="${BACKUP_DIR:-/backups}/$sub"
  [[ -d $dir ]] || exit 0
  find "$dir" -maxdepth 1 -type f -name "$pattern" -printf "%f %p\n"
else
  bin=$(command -v backup-pg) || { echo "backup-pg is not on PATH in the runner" >&2; exit 1; }
  # shellcheck source=/dev/null
  . "$(dirname "$(readlink -f "$bin")")/../lib/backup-common.sh"
  [[ -n ${S3_BUCKET:-} ]] || { echo "S3_BUCKET is not set in the runner: no S3 copies of $kind backups" >&2; exit 1; }
  prefix="${S3_PREFIX:-}$sub/"
  # `aws s3 ls` exits 1 for an empty prefix without a message; a real failure says why on stderr.
  errors=$(mktemp)
  if ! listing=$(aws_s3 s3 ls "s3://$S3_BUCKET/$prefix" 2>"$errors"); then
    if [[ -s $errors ]]; then
      cat "$errors" >&2
      rm -f "$errors"
      exit 1
    fi
    listing=""
  fi
  rm -f "$errors"
  [[ -n $listing ]] || exit 0
  printf "%s\n" "$listing" | while read -r _date _time _size name; do
    [[ -n ${name:-} ]] || continue
    case $name in $pattern) printf "%s s3://%s/%s%s\n" "$name" "$S3_BUCKET" "$prefix" "$name" ;; esac
  done
fi
'

backup_files() {
  local kind=$1 from=$2 out
  [[ "$kind" == redis || "$kind" == logical ]] || die "backup_files: kind must be redis or logical, not '$kind'"
  [[ "$from" == local || "$from" == s3 ]] || die "backup_files: from must be local or s3, not '$from'"
  local runner
  runner=$(output_field .backups.runnerContainer) || return 1
  out=$(run_in -u postgres "$runner" bash -c "$BI_LIST_SNIPPET" list-backups "$kind" "$from") || return 1
  # Keep only names that carry a UTC stamp; sort by it.
  sed -n 's/^[^ ]*-\([0-9]\{8\}T[0-9]\{6\}Z\)\.\(rdb\|dump\) \(.*\)$/\1 \3/p' <<<"$out" | sort
}

newest_backup_file() {
  local kind=$1 from=$2 max=${3:-99999999T999999Z} list
  list=$(backup_files "$kind" "$from") || return 1
  awk -v max="$max" '$1 <= max { line = $2 } END { if (line != "") print line }' <<<"$list"
}

stamp_of_time() {
  local value=$1
  [[ "$value" =~ [+-][0-9]{2}$ ]] && value="${value}:00"
  date -u -d "$value" +%Y%m%dT%H%M%SZ
}
