#!/bin/sh
# backend-infra test stand-in for the official haproxy image's entrypoint (docker-library/haproxy
# 2.6), written for this stand-in from that image's documented behaviour. Never used by a real
# deploy.
# - A first argument that is an option (`-f x.cfg`) means haproxy.
# - `haproxy ...` runs as `haproxy -W -db ...`: master-worker mode (SIGUSR2 reloads, SIGUSR1 is
#   the soft stop) in the foreground.
set -e

if [ "${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi

if [ "$1" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi

exec "$@"
