# shellcheck shell=bash
# Listing of backup files (Redis RDB snapshots, logical dumps) in the backup runner, for
# backup-list and disaster-recovery. Source after lib/common.sh. The listing runs INSIDE the
# runner container through the seam, with the runner's own S3 settings: for S3 it calls
# `aws_s3` from the runner's images/backup/lib/backup-common.sh (endpoint, CA bundle, TLS
# verification), so there is one implementation of how to reach the bucket.
#
#   backup_files redis|logical local|s3   -> "STAMP LOCATION VERIFIED" lines, oldest first
#       STAMP = YYYYMMDDTHHMMSSZ when the file was written: its modification time (local) or the
#               object's LastModified (S3), both set by the file system or S3, never the name
#       LOCATION = a path in the runner, or s3://bucket/key
#       VERIFIED = manifest (a checksum manifest NAME.manifest.json sits beside it, written by the
#               backup job; the restore checks the file against it) or none
#   newest_backup_file redis|logical local|s3 [MAX_STAMP]  -> LOCATION of the newest backup with a
#       manifest, written at or before MAX_STAMP
#   stamp_of_time "2026-11-28 09:14:00+00"  -> 20261128T091400Z
#   run_in_restore_identity [run_in options] CONTAINER CMD...  run_in, with the read-only restore
#       identity's S3 keys passed to the container

# The shell snippet run in the runner. $1 = kind (redis|logical), $2 = local|s3. Only names of
# the shape the runner writes are listed (redis-<STAMP>.rdb, <db>-<STAMP>.dump), checked whole:
# a file or object name is data (anyone with write access to the bucket picks it), and a name
# with a blank or a newline would otherwise split into rows of its own. The name only filters:
# the order comes from the time S3 or the file system recorded, so a name stamped in the future
# does not become "the newest". Local names are read NUL-separated; S3 keys come from
# `s3api list-objects-v2` as JSON (jq), not from the text of `aws s3 ls`.
# shellcheck disable=SC2016 # expanded by the runner's shell, not here
BI_LIST_SNIPPET='
set -euo pipefail
kind=$1 from=$2
case $kind in
  redis) sub=redis pattern="redis-*.rdb" name="redis-[0-9]{8}T[0-9]{6}Z[.]rdb" ;;
  logical) sub=logical pattern="*.dump" name="[A-Za-z0-9_]+-[0-9]{8}T[0-9]{6}Z[.]dump" ;;
esac
manifest=.manifest.json
if [[ $from == local ]]; then
  dir="${BACKUP_DIR:-/backups}/$sub"
  [[ -d $dir ]] || exit 0
  while IFS= read -r -d "" entry; do
    mtime=${entry%% *} file=${entry#* }
    [[ $file =~ ^$name$ && $mtime =~ ^[0-9]{1,12}$ ]] || continue
    verified=none
    [[ -f $dir/$file$manifest ]] && verified=manifest
    TZ=UTC printf "%(%Y%m%dT%H%M%SZ)T %s/%s %s\n" "$mtime" "$dir" "$file" "$verified"
  done < <(find "$dir" -maxdepth 1 -type f -name "$pattern" -printf "%Ts %f\0")
else
  bin=$(command -v backup-pg) || { echo "backup-pg is not on PATH in the runner" >&2; exit 1; }
  # shellcheck source=/dev/null
  . "$(dirname "$(readlink -f "$bin")")/../lib/backup-common.sh"
  [[ -n ${S3_BUCKET:-} ]] || { echo "S3_BUCKET is not set in the runner: no S3 copies of $kind backups" >&2; exit 1; }
  prefix="${S3_PREFIX:-}$sub/"
  listing=$(aws_s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$prefix" --output json)
  [[ -n $listing ]] || exit 0
  # \A and \z: whole-string anchors (jq regexes are Oniguruma, where ^ and $ match at newlines).
  # LastModified: "2026-12-07T20:01:02.000Z" (AWS) or "...+00:00"; seconds are enough to order.
  program=$(cat <<"JQ"
(.Contents // []) as $all
| ($all | map({key: .Key, value: true}) | from_entries) as $keys
| $all[]
| select(.Key | startswith($prefix))
| select(.Key | ltrimstr($prefix) | test($re))
| (.LastModified | sub("[.][0-9]+"; "") | sub("[+]00:00\\z"; "Z") | fromdateiso8601
    | strftime("%Y%m%dT%H%M%SZ")) as $stamp
| "\($stamp) s3://\($bucket)/\(.Key) \(if $keys[.Key + $manifest] then "manifest" else "none" end)"
JQ
  )
  jq -r --arg prefix "$prefix" --arg bucket "$S3_BUCKET" --arg re "\\A$name\\z" --arg manifest "$manifest" "$program" <<<"$listing"
fi
'

backup_files() {
  local kind=$1 from=$2 out
  [[ "$kind" == redis || "$kind" == logical ]] || die "backup_files: kind must be redis or logical, not '$kind'"
  [[ "$from" == local || "$from" == s3 ]] || die "backup_files: from must be local or s3, not '$from'"
  local runner
  runner=$(output_field .backups.runnerContainer) || return 1
  out=$(run_in_restore_identity -u postgres "$runner" bash -c "$BI_LIST_SNIPPET" list-backups "$kind" "$from") || return 1
  # Only well-formed rows (the snippet prints nothing else on stdout); oldest first.
  grep -E '^[0-9]{8}T[0-9]{6}Z [^ ]+ (manifest|none)$' <<<"$out" | sort || true
}

newest_backup_file() {
  local kind=$1 from=$2 max=${3:-99999999T999999Z} list
  list=$(backup_files "$kind" "$from") || return 1
  awk -v max="$max" '$1 <= max && $3 == "manifest" { line = $2 } END { if (line != "") print line }' <<<"$list"
}

stamp_of_time() {
  local value=$1
  [[ "$value" =~ [+-][0-9]{2}$ ]] && value="${value}:00"
  date -u -d "$value" +%Y%m%dT%H%M%SZ
}

# Restores read S3 with the environment's read-only restore identity (backups.restoreAccessKeyId,
# .restoreSecretAccessKey), not the runner's writer key: a restore cannot change a backup even if
# what it restores is hostile. The keys are exported only inside the subshell that runs run_in and
# reach the container by NAME (`docker exec -e NAME`), never on a command line.
run_in_restore_identity() {
  local id secret
  id=$(output_field .backups.restoreAccessKeyId) || return 1
  secret=$(output_field .backups.restoreSecretAccessKey) || return 1
  if [[ -z "$id" || -z "$secret" || "$secret" == "[secret]" ]]; then
    log_error "backups.restoreAccessKeyId / backups.restoreSecretAccessKey in the stack outputs are empty or hidden: read them with pulumi stack output --json --show-secrets"
    return 1
  fi
  (
    export AWS_ACCESS_KEY_ID="$id" AWS_SECRET_ACCESS_KEY="$secret"
    export PGBACKREST_REPO2_S3_KEY="$id" PGBACKREST_REPO2_S3_KEY_SECRET="$secret"
    run_in -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e PGBACKREST_REPO2_S3_KEY \
      -e PGBACKREST_REPO2_S3_KEY_SECRET "$@"
  )
}
