#!/usr/bin/env bash
# backend-infra test stand-in for the official postgres image's entrypoint (docker-library/postgres
# 15/bookworm), written for this stand-in from that image's documented behaviour. Never used by a
# real deploy. What it does, as the official one:
#
# - `docker-entrypoint.sh -c x=y` runs `postgres -c x=y`; any other command than `postgres` (or
#   postgres with --help/--version/--describe-config/-V) is exec'ed untouched.
# - Started as root: creates PGDATA and /var/run/postgresql, hands files not owned by postgres to
#   it, and runs itself again as postgres (gosu). Started as any other uid (`--user 999:999`): no
#   chown, it runs directly (initdb needs that uid to own PGDATA; an unknown uid gets a passwd
#   entry through nss_wrapper).
# - First start (no $PGDATA/PG_VERSION): requires POSTGRES_PASSWORD (or
#   POSTGRES_HOST_AUTH_METHOD=trust); initdb --username=$POSTGRES_USER with the password and
#   $POSTGRES_INITDB_ARGS (shell words, evaluated like the official script does) and
#   $POSTGRES_INITDB_WALDIR; appends `host all all all <method>` to pg_hba.conf, <method> being
#   POSTGRES_HOST_AUTH_METHOD or the server's password_encryption (arguments after `postgres`
#   count); starts a temporary socket-only server with the same arguments, creates POSTGRES_DB
#   (default $POSTGRES_USER), runs /docker-entrypoint-initdb.d/* in name order (*.sh executed when
#   executable, else sourced; *.sql, *.sql.gz, *.sql.xz, *.sql.zst through psql with ON_ERROR_STOP;
#   anything else ignored), stops the temporary server.
# - Every VAR above also reads VAR_FILE (Docker secrets); both set is an error.
# - Finally exec's the command, so postgres is PID 1 (or the child of the container's init).
#
# Sourced (`. docker-entrypoint.sh`), it only defines the functions (docker-ensure-initdb.sh uses
# them).
set -Eeo pipefail

# read_env VAR [DEFAULT]: VAR from the environment, else from the file named by VAR_FILE, else DEFAULT.
read_env() {
  local name=$1 default=${2:-}
  local file_name="${name}_FILE"
  local value=${!name:-} file=${!file_name:-}
  if [ -n "$value" ] && [ -n "$file" ]; then
    printf >&2 'error: %s and %s are both set; give only one\n' "$name" "$file_name"
    exit 1
  fi
  if [ -z "$value" ] && [ -n "$file" ]; then
    value=$(<"$file")
  fi
  export "$name=${value:-$default}"
  unset "$file_name"
}

pg_standin_env() {
  read_env POSTGRES_PASSWORD
  read_env POSTGRES_USER postgres
  read_env POSTGRES_DB "$POSTGRES_USER"
  read_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  : "${PGDATA:=/var/lib/postgresql/data}"
  export PGDATA
  DATABASE_ALREADY_EXISTS=
  if [ -s "$PGDATA/PG_VERSION" ]; then
    DATABASE_ALREADY_EXISTS=true
  fi
}

# Directories; ownership only when running as root (a --user start cannot chown and need not).
pg_standin_dirs() {
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA" 2>/dev/null || :
  mkdir -p /var/run/postgresql 2>/dev/null || :
  chmod 3775 /var/run/postgresql 2>/dev/null || :
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    [ "$(id -u)" != 0 ] || find "$POSTGRES_INITDB_WALDIR" ! -user postgres -exec chown postgres '{}' +
    chmod 0700 "$POSTGRES_INITDB_WALDIR"
  fi
  if [ "$(id -u)" = 0 ]; then
    find "$PGDATA" ! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql ! -user postgres -exec chown postgres '{}' +
  fi
}

pg_standin_check_env() {
  if [ "${#POSTGRES_PASSWORD}" -ge 100 ]; then
    echo >&2 "WARNING: POSTGRES_PASSWORD has 100 or more characters; psql via PGPASSWORD may not cope with it."
  fi
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'EOF'
Error: the database is not initialised and no superuser password is given.
       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value,
       or POSTGRES_HOST_AUTH_METHOD=trust (allows every connection without a password; not recommended).
EOF
    exit 1
  fi
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
    echo >&2 "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every host connection gets in without a password."
  fi
}

pg_standin_initdb() {
  local uid wrapper
  uid=$(id -u)
  if ! getent passwd "$uid" >/dev/null 2>&1; then
    # initdb wants the current uid in the passwd database: fake one entry with nss_wrapper.
    for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so /lib/*/libnss_wrapper.so; do
      [ -s "$wrapper" ] || continue
      NSS_WRAPPER_PASSWD=$(mktemp)
      NSS_WRAPPER_GROUP=$(mktemp)
      export LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
      printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$(id -g)" "$PGDATA" >"$NSS_WRAPPER_PASSWD"
      printf 'postgres:x:%s:\n' "$(id -g)" >"$NSS_WRAPPER_GROUP"
      break
    done
  fi
  # shellcheck disable=SC2034 # used inside the eval below
  local -a extra=()
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    # shellcheck disable=SC2034
    extra=(--waldir "$POSTGRES_INITDB_WALDIR")
  fi
  # POSTGRES_INITDB_ARGS is shell words (quotes allowed), as in the official image: hence eval.
  # The password goes through a pipe, never argv; "\n" so an empty password is still a line.
  eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "${extra[@]}" "$@"'
  if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
    rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  fi
}

# pg_standin_hba postgres ARGS...: the host rule, with the method the server's settings imply.
pg_standin_hba() {
  [ "${1:-}" != postgres ] || shift
  local method=$POSTGRES_HOST_AUTH_METHOD
  if [ -z "$method" ]; then
    method=$(postgres -C password_encryption "$@")
  fi
  POSTGRES_HOST_AUTH_METHOD=$method
  {
    echo
    [ "$method" != trust ] || echo "# warning: trust lets every host connection in without a password"
    echo "host all all all $method"
  } >>"$PGDATA/pg_hba.conf"
}

# psql as the superuser over the socket, in POSTGRES_DB (PG_STANDIN_DB overrides it); "$@" are
# extra psql arguments.
pg_standin_sql() {
  local db=${PG_STANDIN_DB:-$POSTGRES_DB}
  local -a cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  [ -z "$db" ] || cmd+=(--dbname "$db")
  PGHOST='' PGHOSTADDR='' "${cmd[@]}" "$@"
}

pg_standin_temp_start() {
  [ "${1:-}" != postgres ] || shift
  # Socket only: nothing outside the container sees a server before init is done.
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

pg_standin_temp_stop() {
  PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

pg_standin_create_db() {
  local db=$POSTGRES_DB exists
  exists=$(PG_STANDIN_DB=postgres pg_standin_sql --set db="$db" --tuples-only \
    <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
  if [ -z "${exists//[[:space:]]/}" ]; then
    PG_STANDIN_DB=postgres pg_standin_sql --set db="$db" <<<'CREATE DATABASE :"db";'
  fi
}

pg_standin_init_files() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          echo "$0: running $f"
          "$f"
        else
          echo "$0: sourcing $f"
          # shellcheck disable=SC1090 # the init scripts are the user's
          . "$f"
        fi
        ;;
      *.sql) echo "$0: running $f"; pg_standin_sql -f "$f" ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | pg_standin_sql ;;
      *.sql.xz) echo "$0: running $f"; xzcat "$f" | pg_standin_sql ;;
      *.sql.zst) echo "$0: running $f"; zstd -dc "$f" | pg_standin_sql ;;
      *) echo "$0: ignoring $f" ;;
    esac
  done
}

# The whole first-start initialisation; "$@" = the postgres command line.
pg_standin_init() {
  pg_standin_check_env
  # Fails early (and visibly) when the init directory is unreadable.
  ls /docker-entrypoint-initdb.d/ >/dev/null
  pg_standin_initdb
  pg_standin_hba "$@"
  export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
  pg_standin_temp_start "$@"
  pg_standin_create_db
  pg_standin_init_files /docker-entrypoint-initdb.d/*
  pg_standin_temp_stop
  unset PGPASSWORD
  printf '\nPostgreSQL init process complete; ready for start up.\n\n'
}

# True when the postgres arguments only ask for help or a version (no server starts).
pg_standin_wants_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --describe-config | -V | --version) return 0 ;;
    esac
  done
  return 1
}

pg_standin_main() {
  if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
  fi
  if [ "$1" = postgres ] && ! pg_standin_wants_help "$@"; then
    pg_standin_env
    pg_standin_dirs
    if [ "$(id -u)" = 0 ]; then
      exec gosu postgres "${BASH_SOURCE[0]}" "$@"
    fi
    if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
      pg_standin_init "$@"
    else
      printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
    fi
  fi
  exec "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  pg_standin_main "$@"
fi
