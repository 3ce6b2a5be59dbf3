# shellcheck shell=bash
# PostgreSQL sessions the runbooks open in the Postgres container, through the seam (run_in).
# Load after lib/common.sh.
#
# Every session starts with the search path pinned (PGOPTIONS=$BI_PG_OPTIONS, passed into the
# container with `-e PGOPTIONS`): objects the application creates can never shadow a function or
# operator that a superuser or maintenance query calls (the CVE-2018-1058 pattern). Functions in
# the SQL below are schema-qualified on top of that.
#
#   pg_superuser_psql CONTAINER PORT DATABASE PSQL_ARGS...
#       psql as the postgres OS user over the container's socket (peer authentication: the
#       superuser); stdin is passed through. Only for statements that need the superuser.
#   pg_apply_verify_role CONTAINER PORT DATABASE
#       runs the container's own 30-verify-role.sql (components/postgres.ts VERIFY_ROLE_SQL) as the
#       superuser: creates or brings back to spec the read-only verify role, with the password in
#       the container's environment (VERIFY_DB_PASSWORD). Idempotent; a cluster restored from a
#       backup older than the role gets it here.
#   pg_verify_tables CONTAINER PORT DATABASE
#       one line per user table, "verify postgres table=NAME rows=N md5=HEX", read in one
#       read-only snapshot as the verify role (pg_read_all_data, BYPASSRLS; never the superuser)
#       over TCP with its password from the container's environment.

# The options every session of a runbook starts with (libpq PGOPTIONS).
BI_PG_OPTIONS='-c search_path=pg_catalog,pg_temp'

pg_superuser_psql() {
  local container=$1 port=$2 database=$3
  shift 3
  PGOPTIONS=$BI_PG_OPTIONS run_in -i -u postgres -e PGOPTIONS "$container" \
    psql -X -v ON_ERROR_STOP=1 -qAt -p "$port" -d "$database" "$@"
}

pg_apply_verify_role() {
  local container=$1 port=$2 database=$3
  # shellcheck disable=SC2016 # expanded by the container's shell, with the container's environment
  PGOPTIONS=$BI_PG_OPTIONS run_in -u postgres -e PGOPTIONS "$container" sh -c '
    [ -n "${VERIFY_DB_USER:-}" ] || { echo "VERIFY_DB_USER is not set in this container: run pulumi up of the env stack first" >&2; exit 2; }
    exec psql -X -v ON_ERROR_STOP=1 -q -p "$1" -d "$2" -f "${INITDB_DIR:-/docker-entrypoint-initdb.d}/30-verify-role.sql"' \
    verify-role "$port" "$database" >/dev/null
}

# The per-table query: name (letters, digits, `_` and `.` as they are, anything else JSON-escaped,
# so no tab or newline reaches the shell), row count, md5 of the rows' text in order. Rows are
# turned into text by pg_catalog.record_out, never a `::text` cast: the application owns its
# tables' row types and may define a cast from them. Generated per table with format(%I) and run
# by psql's \gexec; nothing the database returns is parsed as SQL or as shell.
PG_VERIFY_SQL=$(
  cat <<'SQL'
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SELECT pg_catalog.format(
    'SELECT %L, pg_catalog.count(*), pg_catalog.md5(COALESCE(pg_catalog.string_agg(r, pg_catalog.chr(10) ORDER BY r), '''')) '
      'FROM (SELECT pg_catalog.textin(pg_catalog.record_out(x)) AS r FROM %I.%I x) s',
    CASE WHEN t.name ~ '^[A-Za-z0-9_.]+$' THEN t.name ELSE pg_catalog.to_json(t.name)::text END,
    t.nspname, t.relname)
  FROM (SELECT n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence <> 't'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%') t
  ORDER BY t.name
\gexec
COMMIT;
SQL
)

pg_verify_tables() {
  local container=$1 port=$2 database=$3 lines table rows sum
  # shellcheck disable=SC2016 # expanded by the container's shell, with the container's environment
  lines=$(PGOPTIONS=$BI_PG_OPTIONS run_in -i -e PGOPTIONS "$container" sh -c '
    [ -n "${VERIFY_DB_USER:-}" ] || { echo "VERIFY_DB_USER is not set in this container: run pulumi up of the env stack first" >&2; exit 2; }
    PGPASSWORD=${VERIFY_DB_PASSWORD:-} exec psql -X -v ON_ERROR_STOP=1 -qAt -F "	" -h 127.0.0.1 -p "$1" -U "$VERIFY_DB_USER" -d "$2"' \
    verify-tables "$port" "$database" <<<"$PG_VERIFY_SQL") || return 1
  while IFS=$'\t' read -r table rows sum; do
    [[ -n "$table" ]] || continue
    if ! is_uint "$rows" || [[ ! "$sum" =~ ^[0-9a-f]{32}$ ]]; then
      log_error "postgres verification: table $table: not a row count and md5: $(printf '%q' "$rows $sum")"
      return 1
    fi
    printf 'verify postgres table=%s rows=%s md5=%s\n' "$table" "$rows" "$sum"
  done <<<"$lines"
}
