#!/bin/sh
# Entrypoint of the Grafana stand-in (backend-infra tests): runs the stand-in server. Arguments
# are accepted for compatibility and ignored (settings come from GF_* variables).
set -eu
exec python3 /usr/share/grafana/bin/grafana-standin
