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

# The shell snippet run in the runner. $1 = kind (redis|logical), $2 = local|s3. Only names of
# the shape the runner writes are listed (redis-<STAMP>.rdb, <db>-<STAMP>.dump), checked whole:
# a file or object name is data (anyone with write access to the bucket picks it), and a name
# with a blank or a newline would otherwise split into rows of its own. Local names are read
# NUL-separated; S3 keys come from `s3api list-objects-v2` as JSON (jq), not from the text of
# `aws s3 ls`.
# shellcheck disable=SC2016 # expanded by the runner's shell, not here
BI_LIST_SNIPPET='
set -euo pipefail
kind=$1 from=$2
case $kind in
  redis) sub=redis pattern="redis-*.rdb" name="redis-[0-9]{8}T[0-9]{6}Z[.]rdb" ;;
  logical) sub=logical pattern="*.dump" name="[A-Za-z0-9_]+-[0-9]{8}T[0-9]{6}Z[.]dump" ;;
esac
if [[ $from == local ]]; then
  dir="${BACKUP_DIR:-/backups}/$sub"
  [[ -d $dir ]] || exit 0
  while IFS= read -r -d "" file; do
    if [[ $file =~ ^$name$ ]]; then printf "%s %s/%s\n" "$file" "$dir" "$file"; fi
  done < <(find "$dir" -maxdepth 1 -type f -name "$pattern" -printf "%f\0")
else
  bin=$(command -v backup-pg) || { echo "backup-pg is not on PATH in the runner" >&2; exit 1; }
  # shellcheck source=/dev/null
  . "$(dirname "$(readlink -f "$bin")")/../lib/backup-common.sh"
  [[ -n ${S3_BUCKET:-} ]] || { echo "S3_BUCKET is not set in the runner: no S3 copies of $kind backups" >&2; exit 1; }
  prefix="${S3_PREFIX:-}$sub/"
  listing=$(aws_s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$prefix" --output json)
  [[ -n $listing ]] || exit 0
  # \A and \z: whole-string anchors (jq regexes are Oniguruma, where ^ and $ match at newlines).
  jq -r --arg prefix "$prefix" --arg bucket "$S3_BUCKET" --arg re "\\A$name\\z" \
    "(.Contents // [])[] | .Key | select(startswith(\$prefix)) | ltrimstr(\$prefix) | select(test(\$re))
      | \"\\(.) s3://\\(\$bucket)/\\(\$prefix)\\(.)\"" <<<"$listing"
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
