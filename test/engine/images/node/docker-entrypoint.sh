#!/bin/sh
# backend-infra test stand-in for the official node image's entrypoint (nodejs/docker-node),
# written for this stand-in from that image's documented behaviour. Never used by a real deploy.
# The command runs under node when its first word is an option (`--version`), is not a command
# on PATH (`app.js`), or is a file that is not executable; otherwise it is exec'ed as given.
set -e

if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1" || true)" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi

exec "$@"
