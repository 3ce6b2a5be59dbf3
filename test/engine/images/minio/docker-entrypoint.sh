#!/bin/sh
# Entrypoint of the MinIO stand-in (backend-infra tests), with the official image's documented
# behaviour: arguments that do not start with `minio` are run as `minio ARGS` (so the program's
# `server DIR --address :9000 --certs-dir /certs` works), anything else is executed as given.
set -e
if [ "${1}" != "minio" ] && [ -n "${1}" ]; then
  set -- minio "$@"
fi
exec "$@"
