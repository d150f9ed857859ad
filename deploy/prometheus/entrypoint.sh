#!/bin/sh
# Starts Prometheus with the credentials SOLLOL's scrape targets ask for, taken from the
# environment (never written into the image or the repository):
#   SOLLOL_METRICS_TOKEN   the gateway's /metrics bearer token (required once API keys are on)
#   FLOWER_USER_PASSWORD   user:password of Flower's basic auth
# The secrets go to files readable only by Prometheus's user; the scrape config names the files.
set -eu
data="${PROMETHEUS_DATA:-/prometheus}"
template="${PROMETHEUS_TEMPLATE:-/etc/prometheus/prometheus.yml}"
auth="${FLOWER_USER_PASSWORD:-}"
user="${auth%%:*}"
case "$user" in
  *[!A-Za-z0-9._@-]*) echo "FLOWER_USER_PASSWORD: the user name may use letters, digits and . _ @ -" >&2; exit 2 ;;
esac
umask 077
printf '%s' "${SOLLOL_METRICS_TOKEN:-}" > "$data/sollol-metrics-token"
printf '%s' "${auth#*:}" > "$data/flower-password"
sed -e "s|@DATA@|$data|g" -e "s|@FLOWER_USER@|$user|g" "$template" > "$data/prometheus.yml"
exec "${PROMETHEUS_BIN:-/bin/prometheus}" --config.file="$data/prometheus.yml" \
  --storage.tsdb.path="$data" "$@"
