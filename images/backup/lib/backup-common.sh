# shellcheck shell=bash
# Shared functions of the backup runner commands (images/backup/bin/*). Sourced, never run.
# Contract: images/backup/README.md.

BACKUP_CMD="$(basename "$0")"
export PGBACKREST_CONFIG="${PGBACKREST_CONFIG:-/etc/pgbackrest/pgbackrest.conf}"
export PGBACKREST_STANZA="${PGBACKREST_STANZA:-main}"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
TEXTFILE_DIR="${TEXTFILE_DIR:-/var/lib/node_exporter/textfile}"
RETENTION_DAYS="${RETENTION_DAYS:-30}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
# Every PostgreSQL session these commands open (psql, pg_dump, pgBackRest, pg_isready) starts with
# the search path pinned to the system catalog: objects the application creates can never shadow a
# function or operator a superuser or maintenance query calls (the CVE-2018-1058 pattern). Ours
# comes last, so a PGOPTIONS from the environment cannot undo it.
export PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c search_path=pg_catalog,pg_temp"

log() { printf '%s: %s %s\n' "$BACKUP_CMD" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
usage_error() {
  log "usage error: $*"
  [[ -n ${USAGE:-} ]] && printf 'usage: %s\n' "$USAGE" >&2
  exit 2
}
require_cmd() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || die "required command '$cmd' is not installed (not on PATH)"
  done
}
# ---------- values from outside the script ----------
# Bash evaluates a variable's value as an expression inside arithmetic ($(( )), (( )), [[ -gt ]],
# array subscripts), and a subscript like x[$(cmd)] runs cmd. A value read from a command, a file,
# the database or a listing is therefore checked with is_uint / require_uint BEFORE any arithmetic
# or numeric comparison (tools/lint-shell-arith.mjs enforces it).

# is_uint VALUE: a whole number in plain decimal, no sign, no leading zero (bash reads 010 as
# octal), at most 18 digits (fits bash's 64-bit arithmetic).
is_uint() { [[ $1 =~ ^(0|[1-9][0-9]{0,17})$ ]]; }
# require_uint NAME VALUE SOURCE: dies (exit 1) naming the value and where it came from.
require_uint() {
  is_uint "$2" || die "$1 from $3 is not a whole number: $(printf '%q' "$2")"
}
# require_int NAME VALUE: a whole number from the environment or the command line (usage error).
require_int() {
  is_uint "$2" || usage_error "$1 must be a whole number, got $(printf '%q' "$2")"
}
# require_days NAME VALUE: a retention in days, at least 1 (0 would delete every file but the newest).
require_days() {
  require_int "$1" "$2"
  [[ $2 -ge 1 ]] || usage_error "$1 must be at least 1 (days), got '$2': a retention of 0 days would delete every file but the newest"
}
utc_stamp() { date -u +%Y%m%dT%H%M%SZ; }
file_size() { stat -c %s -- "$1"; }

# ---------- metrics (node_exporter textfile collector) ----------

# textfile_write NAME: writes stdin to $TEXTFILE_DIR/NAME through a temp file in the same directory
# (not matching *.prom) + rename, so node_exporter never reads a partial file.
textfile_write() {
  local file="$TEXTFILE_DIR/$1" tmp
  mkdir -p -- "$TEXTFILE_DIR" || { log "ERROR: cannot create TEXTFILE_DIR $TEXTFILE_DIR"; return 1; }
  tmp=$(mktemp "$TEXTFILE_DIR/.$1.XXXXXX") || {
    log "ERROR: cannot create a temp file in TEXTFILE_DIR $TEXTFILE_DIR"
    return 1
  }
  if ! cat >"$tmp"; then
    rm -f -- "$tmp"
    log "ERROR: cannot write metrics to $tmp"
    return 1
  fi
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$file" || {
    rm -f -- "$tmp"
    log "ERROR: cannot rename metrics file into $file"
    return 1
  }
}

# prev_metric FILE PREFIX_REGEX: the value of the first line of FILE matching PREFIX_REGEX, when
# it is a whole number (what metric_write writes); 0 with a log line otherwise, so a tampered file
# cannot carry a fake success time or size into the next one.
prev_metric() {
  local value
  value=$(sed -n "s/$2//p" "$1" | head -1)
  if [[ -n $value ]] && ! is_uint "$value"; then
    log "WARNING: ignoring the value $(printf '%q' "$value") in $1: not a whole number"
    value=0
  fi
  printf '%s\n' "${value:-0}"
}

# metric_write KIND ok|fail DURATION_SECONDS [SIZE_BYTES]
# Writes $TEXTFILE_DIR/backup_KIND.prom through a temp file + rename. On failure the previous
# success timestamp and size are kept (read from the old file) so freshness alerts stay right.
metric_write() {
  local kind=$1 result=$2 duration=$3 size=${4:-}
  [[ $kind =~ ^[a-z][a-z0-9_]*$ ]] || usage_error "metric kind must match [a-z][a-z0-9_]*, got '$kind'"
  # backup_runner.prom is the runner's first start (metric_first_start), not a job's.
  [[ $kind != runner ]] || usage_error "metric kind 'runner' is reserved for the runner's first start"
  [[ $result == ok || $result == fail ]] || usage_error "metric result must be ok or fail, got '$result'"
  local file="$TEXTFILE_DIR/backup_${kind}.prom"
  local prev_ts=0 prev_size=0 prev_drill=0 now status success_ts last_size
  if [[ -r $file ]]; then
    prev_ts=$(prev_metric "$file" '^backup_last_success_timestamp_seconds{[^}]*} ')
    prev_size=$(prev_metric "$file" '^backup_last_size_bytes{[^}]*} ')
    prev_drill=$(prev_metric "$file" '^restore_drill_last_success_timestamp_seconds ')
  fi
  now=$(date +%s)
  if [[ $result == ok ]]; then
    status=1 success_ts=$now last_size=${size:-${prev_size:-0}}
  else
    status=0 success_ts=${prev_ts:-0} last_size=${prev_size:-0}
  fi
  {
    printf '# HELP backup_last_status 1 if the last run of this backup job succeeded, 0 if it failed.\n'
    printf '# TYPE backup_last_status gauge\n'
    printf 'backup_last_status{kind="%s"} %s\n' "$kind" "$status"
    printf '# HELP backup_last_success_timestamp_seconds Unix time of the last successful run.\n'
    printf '# TYPE backup_last_success_timestamp_seconds gauge\n'
    printf 'backup_last_success_timestamp_seconds{kind="%s"} %s\n' "$kind" "${success_ts:-0}"
    printf '# HELP backup_last_duration_seconds Duration of the last run in seconds.\n'
    printf '# TYPE backup_last_duration_seconds gauge\n'
    printf 'backup_last_duration_seconds{kind="%s"} %s\n' "$kind" "$duration"
    printf '# HELP backup_last_size_bytes Size of the last successful backup in bytes.\n'
    printf '# TYPE backup_last_size_bytes gauge\n'
    printf 'backup_last_size_bytes{kind="%s"} %s\n' "$kind" "${last_size:-0}"
    if [[ $kind == restore_drill ]]; then
      local drill_ts=${prev_drill:-0}
      [[ $result == ok ]] && drill_ts=$now
      printf '# HELP restore_drill_last_success_timestamp_seconds Unix time of the last successful restore drill.\n'
      printf '# TYPE restore_drill_last_success_timestamp_seconds gauge\n'
      printf 'restore_drill_last_success_timestamp_seconds %s\n' "$drill_ts"
    fi
  } | textfile_write "backup_${kind}.prom"
}

# metric_first_start: writes $TEXTFILE_DIR/backup_runner.prom with the runner's first start, once.
# The file lives in the textfile volume, so a restarted or replaced runner keeps the first value;
# the absence alerts of the weekly jobs count from it.
metric_first_start() {
  [[ -s $TEXTFILE_DIR/backup_runner.prom ]] && return 0
  {
    printf '# HELP backup_runner_first_start_timestamp_seconds Unix time the backup runner first started on this textfile volume.\n'
    printf '# TYPE backup_runner_first_start_timestamp_seconds gauge\n'
    printf 'backup_runner_first_start_timestamp_seconds %s\n' "$(date +%s)"
  } | textfile_write backup_runner.prom
}

# ---------- job lifecycle: lock, timing, metrics, cleanup ----------

JOB_KIND=""
JOB_START_NS=0
JOB_SIZE=""
JOB_CLEANUP=()

# Exit status of a job that did not run because the same job (or one sharing its lock) still
# runs: EX_TEMPFAIL. No metrics are written: the running job reports, and the freshness alerts
# catch one that hangs.
JOB_BUSY_EXIT=75

# job_start KIND [LOCK [WAIT_SECONDS]]: takes the lock LOCK (default KIND), waiting up to
# WAIT_SECONDS (default 0), then arranges for metrics to be written however the job ends.
job_start() {
  JOB_KIND=$1
  local lock=${2:-$1} wait=${3:-0}
  require_int "lock wait seconds" "$wait"
  local lock_dir="${BACKUP_LOCK_DIR:-$BACKUP_DIR}"
  mkdir -p -- "$lock_dir" 2>/dev/null || true
  # The lock comes before the EXIT trap: a run that finds the job busy must not report a failure.
  exec 9>>"$lock_dir/.lock-$lock" || die "cannot create lock file $lock_dir/.lock-$lock"
  if ! flock -w "$wait" 9; then
    log "another job holding $lock_dir/.lock-$lock is still running (waited ${wait}s): $JOB_KIND not started"
    exit "$JOB_BUSY_EXIT"
  fi
  JOB_START_NS=$(date +%s%N)
  trap 'job_finish $?' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Registers a path removed when the job ends (on success and failure).
job_cleanup_path() { JOB_CLEANUP+=("$1"); }

job_finish() {
  local rc=$1 path duration
  trap - EXIT
  set +e
  # A command may define job_on_exit (e.g. to stop a scratch server) before paths are removed.
  if declare -F job_on_exit >/dev/null; then job_on_exit; fi
  for path in "${JOB_CLEANUP[@]}"; do
    [[ -n $path && -e $path ]] && rm -rf -- "$path"
  done
  duration=$(awk -v s="$JOB_START_NS" -v e="$(date +%s%N)" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')
  if [[ $rc == 0 ]]; then
    if ! metric_write "$JOB_KIND" ok "$duration" "$JOB_SIZE"; then
      log "ERROR: $JOB_KIND succeeded but its metrics could not be written: reporting failure"
      exit 1
    fi
    log "$JOB_KIND succeeded in ${duration}s${JOB_SIZE:+ (size $JOB_SIZE bytes)}"
  else
    metric_write "$JOB_KIND" fail "$duration" || log "ERROR: could not write failure metrics either"
    log "FAILED: $JOB_KIND exited $rc after ${duration}s; previous backups are untouched"
  fi
  exit "$rc"
}

# ---------- pgBackRest ----------

# Sets PGBR_REPOS to the repositories configured in the pgBackRest config (1 and, when an S3
# repo exists, 2). Not meant for $(...): its die must end the calling script.
load_pgbr_repos() {
  [[ -r $PGBACKREST_CONFIG ]] || die "PGBACKREST_CONFIG $PGBACKREST_CONFIG is not readable"
  PGBR_REPOS=(1)
  if grep -Eq '^repo2-' "$PGBACKREST_CONFIG" || [[ -n ${PGBACKREST_REPO2_TYPE:-} ]]; then PGBR_REPOS+=(2); fi
}

# repo number for --from local|s3
repo_for() {
  case $1 in
    local | 1) echo 1 ;;
    s3 | 2) echo 2 ;;
    *) usage_error "--from expects local or s3, got '$1'" ;;
  esac
}

# wal_fetch_for_repo REPO: the archive-get mode a restore from REPO uses by default. From repo1 (a
# local volume) `sync`: each archive-get call fetches its segment itself (~15 ms each, measured).
# From S3 `async`: the config's archive-async prefetches segments in parallel ahead of replay, which
# hides S3 latency on long replays but costs 100-400 ms of spool polling per call (about 1 s per
# restore for the first segment and the end-of-WAL probes, measured with pgBackRest 2.45).
wal_fetch_for_repo() {
  if [[ $1 == 1 ]]; then echo sync; else echo async; fi
}

# restore_command_option sync|async PG_DATA REPO: prints the `pgbackrest restore` option that sets
# the restored server's restore_command (nothing for async: pgBackRest's generated one reads
# archive-async from the config). The sync command is the one pgBackRest generates plus
# --no-archive-async: --repo only for repo2 (from repo1 a segment missing there is still looked
# up in S3, so a gap in repo1 cannot end a recovery early).
restore_command_option() {
  local mode=$1 data=$2 repo=$3 path repo_option=""
  case $mode in
    async) return 0 ;;
    sync) ;;
    *) usage_error "--wal-fetch expects sync or async, got '$mode'" ;;
  esac
  # restore_command is one line in postgresql.auto.conf, split on blanks by the shell.
  for path in "$PGBACKREST_CONFIG" "$data"; do
    case $path in
      *[[:space:]\'\"\\]*) die "path '$path' contains blanks, quotes or backslashes: restore_command cannot carry it" ;;
    esac
  done
  [[ $repo == 1 ]] || repo_option=" --repo=$repo"
  printf '%s\n' "--recovery-option=restore_command=pgbackrest --config=$PGBACKREST_CONFIG --pg1-path=$data$repo_option --stanza=$PGBACKREST_STANZA --no-archive-async archive-get %f \"%p\""
}

# ---------- S3 (logical dumps, RDB files) ----------

s3_enabled() { [[ -n ${S3_BUCKET:-} ]]; }

aws_s3() {
  require_cmd aws
  local args=(--region "${S3_REGION:-us-east-1}")
  if [[ -n ${S3_ENDPOINT:-} ]]; then
    args+=(--endpoint-url "$S3_ENDPOINT")
    # Newer AWS SDKs add checksum trailers that S3-compatible servers (MinIO, test endpoints)
    # may not accept; only send them when required.
    export AWS_REQUEST_CHECKSUM_CALCULATION="${AWS_REQUEST_CHECKSUM_CALCULATION:-when_required}"
    export AWS_RESPONSE_CHECKSUM_VALIDATION="${AWS_RESPONSE_CHECKSUM_VALIDATION:-when_required}"
  fi
  [[ -n ${S3_CA_BUNDLE:-} ]] && args+=(--ca-bundle "$S3_CA_BUNDLE")
  if [[ ${S3_VERIFY_TLS:-true} == false ]]; then
    args+=(--no-verify-ssl)
    export PYTHONWARNINGS=ignore
  fi
  aws "${args[@]}" "$@"
}

# s3_upload FILE KEY: uploads and proves the object exists with the same size.
s3_upload() {
  local file=$1 key=$2 sse=${S3_SSE:-} size remote
  [[ -z $sse && -n ${S3_KMS_KEY_ID:-} ]] && sse=aws:kms
  local extra=()
  case ${sse:-none} in
    none) ;;
    aws:kms)
      extra+=(--sse aws:kms)
      [[ -n ${S3_KMS_KEY_ID:-} ]] && extra+=(--sse-kms-key-id "$S3_KMS_KEY_ID")
      ;;
    AES256) extra+=(--sse AES256) ;;
    *) usage_error "S3_SSE must be aws:kms, AES256 or none, got '$sse'" ;;
  esac
  size=$(file_size "$file")
  log "uploading $file ($size bytes) to s3://$S3_BUCKET/$key"
  [[ -n ${S3_UPLOAD_METADATA:-} ]] && extra+=(--metadata "$S3_UPLOAD_METADATA")
  aws_s3 s3 cp --only-show-errors "${extra[@]}" -- "$file" "s3://$S3_BUCKET/$key" ||
    die "upload of $file to s3://$S3_BUCKET/$key failed"
  remote=$(aws_s3 s3api head-object --bucket "$S3_BUCKET" --key "$key" --query ContentLength --output text) ||
    die "uploaded object s3://$S3_BUCKET/$key cannot be read back"
  [[ $remote == "$size" ]] || die "uploaded object s3://$S3_BUCKET/$key has $remote bytes, expected $size"
}

# s3_download s3://BUCKET/KEY DEST: downloads the version that head-object names (when the bucket
# keeps versions), so the bytes checked afterwards are the bytes of that one version.
s3_download() {
  local url=$1 dest=$2 bucket key version
  [[ $url =~ ^s3://([^/]+)/(.+)$ ]] || usage_error "expected s3://BUCKET/KEY, got '$url'"
  bucket=${BASH_REMATCH[1]} key=${BASH_REMATCH[2]}
  version=$(aws_s3 s3api head-object --bucket "$bucket" --key "$key" --query VersionId --output text) ||
    die "cannot read s3://$bucket/$key (missing, or no read access)"
  local args=(--bucket "$bucket" --key "$key")
  # "None" (aws text output for null): an unversioned bucket.
  if [[ $version =~ ^[A-Za-z0-9._-]{1,1024}$ && $version != None && $version != null ]]; then
    args+=(--version-id "$version")
    log "downloading $url (version $version)"
  else
    log "downloading $url"
  fi
  aws_s3 s3api get-object "${args[@]}" "$dest" >/dev/null || die "download of $url failed"
  [[ -s $dest ]] || die "downloaded $url is empty"
}

# ---------- checksum manifests ----------
# Every RDB file and logical dump gets a manifest NAME.manifest.json, written by the backup job once
# the file is complete and checked: {"file", "sha256", "size", "created"}. It sits beside the file
# locally and beside the object in S3 (written after the object, so a manifest means a complete
# upload). A restore picks its file by time stamps the file system or S3 set (mtime, LastModified),
# never by the name, and restores only what matches its manifest: a name planted with a future
# stamp, a truncated upload or an object replaced after its backup is refused.
MANIFEST_SUFFIX=.manifest.json

sha256_of() {
  local sum
  sum=$(sha256sum -- "$1") || die "cannot read $1 to checksum it"
  printf '%s\n' "${sum%% *}"
}

# manifest_write FILE: writes FILE.manifest.json (atomically) and prints its path.
manifest_write() {
  local file=$1 manifest=$1$MANIFEST_SUFFIX sum size
  require_cmd jq sha256sum
  sum=$(sha256_of "$file")
  size=$(file_size "$file")
  require_uint "size of $file" "$size" "stat"
  jq -n --arg file "$(basename -- "$file")" --arg sha256 "$sum" --argjson size "$size" \
    --arg created "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    '{version: 1, file: $file, sha256: $sha256, size: $size, created: $created}' >"$manifest.partial" ||
    die "cannot write the manifest $manifest"
  mv -- "$manifest.partial" "$manifest" || die "cannot rename $manifest.partial to $manifest"
  printf '%s\n' "$manifest"
}

# manifest_check FILE MANIFEST NAME: FILE (a download, or a local backup) matches MANIFEST, which
# must describe a file called NAME. Dies naming what differs.
manifest_check() {
  local file=$1 manifest=$2 name=$3 fields want_name want_sum want_size sum size
  require_cmd jq sha256sum
  [[ -s $manifest ]] || die "no checksum manifest for $name: restore only what a backup job completed (or pass --unverified for a file made by hand)"
  fields=$(jq -r 'if (type == "object" and .version == 1) then [.file, .sha256, (.size | tostring)] | @tsv else empty end' -- "$manifest" 2>/dev/null) ||
    die "the manifest of $name is not JSON"
  [[ -n $fields ]] || die "the manifest of $name is not a version 1 manifest (file, sha256, size)"
  IFS=$'\t' read -r want_name want_sum want_size <<<"$fields" || true
  [[ $want_name == "$name" ]] || die "the manifest of $name describes $(printf '%q' "$want_name"), not $name"
  [[ $want_sum =~ ^[0-9a-f]{64}$ ]] || die "the manifest of $name has no valid sha256"
  require_uint "size in the manifest of $name" "$want_size" "$manifest"
  size=$(file_size "$file")
  require_uint "size of $file" "$size" "stat"
  [[ $size == "$want_size" ]] || die "$name has $size bytes, its manifest says $want_size: refusing to restore it"
  sum=$(sha256_of "$file")
  [[ $sum == "$want_sum" ]] || die "$name does not match the sha256 in its manifest: refusing to restore it"
  log "$name matches its manifest (sha256 $sum, $size bytes)"
}

# s3_upload_backup FILE KEY: the object (its checksum as user metadata, for whoever browses the
# bucket), then the manifest manifest_write left beside FILE.
s3_upload_backup() {
  local file=$1 key=$2 manifest=$1$MANIFEST_SUFFIX
  [[ -s $manifest ]] || die "no manifest $manifest to upload with $file"
  S3_UPLOAD_METADATA="sha256=$(sha256_of "$file")" s3_upload "$file" "$key"
  s3_upload "$manifest" "$key$MANIFEST_SUFFIX"
}

# ---------- local files ----------

# newest_file DIR GLOB: the newest regular file matching GLOB in DIR (empty when none). NUL-separated
# end to end: a file name holding a newline is one name, not two.
newest_file() {
  local dir=$1 glob=$2 newest=""
  [[ -d $dir ]] || return 0
  IFS= read -r -d '' newest < <(find "$dir" -maxdepth 1 -type f -name "$glob" ! -name "*$MANIFEST_SUFFIX" -printf '%T@ %p\0' | sort -z -n -r) || true
  [[ -z $newest ]] || printf '%s\n' "${newest#* }"
}

# prune_local DIR DAYS GLOB [NAME]: deletes matching files older than DAYS, never the newest one.
# DAYS must be at least 1 (NAME, default RETENTION_DAYS, names it in the error): with 0, every
# file but the newest would go.
prune_local() {
  local dir=$1 days=$2 glob=${3:-*} name=${4:-RETENTION_DAYS} newest count=0 file
  require_days "$name" "$days"
  [[ -d $dir ]] || die "cannot prune $dir: not a directory"
  # Read here, not through $(newest_file): a command substitution would drop a trailing newline
  # of the name, and the newest file would no longer match itself below.
  newest=""
  # A file's manifest goes with it, and is never counted as a file of its own.
  IFS= read -r -d '' newest < <(find "$dir" -maxdepth 1 -type f -name "$glob" ! -name "*$MANIFEST_SUFFIX" -printf '%T@ %p\0' | sort -z -n -r) || true
  newest=${newest#* }
  while IFS= read -r -d '' file; do
    [[ $file == "$newest" ]] && continue
    rm -f -- "$file" "$file$MANIFEST_SUFFIX" || die "cannot delete $file"
    count=$((count + 1))
  done < <(find "$dir" -maxdepth 1 -type f -name "$glob" ! -name "*$MANIFEST_SUFFIX" -mtime "+$((days - 1))" -print0)
  # Leftovers of interrupted runs, and manifests whose file is gone.
  find "$dir" -maxdepth 1 -type f -name '*.partial' -mmin +1440 -delete
  while IFS= read -r -d '' file; do
    [[ -e ${file%"$MANIFEST_SUFFIX"} ]] || rm -f -- "$file"
  done < <(find "$dir" -maxdepth 1 -type f -name "*$MANIFEST_SUFFIX" -mmin +1440 -print0)
  log "pruned $count file(s) older than $days days from $dir"
}

# check_dump FILE: the table of contents is readable (pg_restore --list) AND every data block
# decompresses (a full pg_restore to /dev/null): --list alone only reads the header, so a
# truncated dump would pass it.
check_dump() {
  local dump=$1 err
  err=$(pg_restore --list -- "$dump" 2>&1 >/dev/null) || {
    log "pg_restore --list failed for $dump: $(tail -2 <<<"$err")"
    return 1
  }
  err=$(pg_restore --file=/dev/null -- "$dump" 2>&1) || {
    log "pg_restore cannot read all of $dump: $(tail -2 <<<"$err")"
    return 1
  }
  [[ -z $err ]] || {
    log "pg_restore reported problems reading $dump: $(tail -2 <<<"$err")"
    return 1
  }
}

# resolve_source FILE|s3://...|--latest DIR GLOB DEST_DIR [unverified]: a readable local file
# (downloaded into DEST_DIR) that matches its checksum manifest. --latest is the newest by mtime in
# DIR. "unverified" skips the manifest (a file made by hand); the restore says so.
resolve_source() {
  local source=$1 dir=$2 glob=$3 dest_dir=$4 unverified=${5:-} name manifest
  if [[ $source == --latest ]]; then
    source=$(newest_file "$dir" "$glob")
    [[ -n $source ]] || die "no file matching $glob in $dir"
    log "newest file (by modification time): $source"
  fi
  name=$(basename -- "$source")
  manifest=$source$MANIFEST_SUFFIX
  if [[ $source == s3://* ]]; then
    local dest="$dest_dir/$name"
    s3_download "$source" "$dest"
    if [[ $unverified != unverified ]]; then
      [[ $source =~ ^s3://([^/]+)/(.+)$ ]]
      aws_s3 s3api get-object --bucket "${BASH_REMATCH[1]}" --key "${BASH_REMATCH[2]}$MANIFEST_SUFFIX" \
        "$dest$MANIFEST_SUFFIX" >/dev/null ||
        die "cannot read the checksum manifest $source$MANIFEST_SUFFIX: restore only what a backup job completed (or pass --unverified for a file made by hand)"
    fi
    source=$dest manifest=$dest$MANIFEST_SUFFIX
  fi
  [[ -f $source && -r $source ]] || die "$source is not a readable file"
  [[ -s $source ]] || die "$source is empty"
  if [[ $unverified == unverified ]]; then
    log "WARNING: restoring $name without checking a manifest (--unverified)"
  else
    manifest_check "$source" "$manifest" "$name"
  fi
  printf '%s\n' "$source"
}
