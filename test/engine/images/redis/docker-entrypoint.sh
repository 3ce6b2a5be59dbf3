#!/bin/sh
# backend-infra test stand-in for the official redis image's entrypoint (docker-library/redis
# 7.2/bookworm), written for this stand-in from that image's documented behaviour. Never used by a
# real deploy.
# - A first argument that is an option (`--port 1`) or a config file (`x.conf`) means redis-server.
# - redis-server started as root: hands the working directory (/data) to the redis user and runs
#   again as redis (gosu). Any other uid (`--user 999:999`) runs it directly.
# - umask 0077 unless the caller set another one than the default 0022 (data files private).
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . ! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi

if [ "$(umask)" = 0022 ]; then
  umask 0077
fi

exec "$@"
