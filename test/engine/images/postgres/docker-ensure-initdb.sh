#!/usr/bin/env bash
# backend-infra test stand-in for the official postgres image's docker-ensure-initdb.sh: initialises
# PGDATA the way the entrypoint does on a first start (same environment variables, init files),
# without starting the server afterwards. As docker-enforce-initdb.sh (a symlink) it fails when
# PGDATA already holds a cluster. Arguments are postgres arguments (`postgres` may be left out).
set -Eeo pipefail
# Found on PATH (/usr/local/bin), as the official script finds it.
# shellcheck disable=SC1091
. docker-entrypoint.sh

if [ "$#" -eq 0 ] || [ "$1" != postgres ]; then
  set -- postgres "$@"
fi
pg_standin_env
pg_standin_dirs
if [ "$(id -u)" = 0 ]; then
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi
if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
  pg_standin_init "$@"
else
  case "$0" in
    *enforce*)
      echo >&2 "$0: error: $PGDATA already holds a database cluster"
      exit 1
      ;;
    *) echo >&2 "$0: $PGDATA already holds a database cluster; nothing to do" ;;
  esac
fi
