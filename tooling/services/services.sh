#!/usr/bin/env bash
# Starts, stops or reports every local service (or the ones named):
#   services.sh up|down|status [kafka] [redis] [s3] [gcs] [bigtable]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL=(kafka redis s3 gcs bigtable)
action="${1:-}"
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for name in "${names[@]}"; do
  [ -f "$HERE/$name.sh" ] || { echo "kstreams services: unknown service '$name' (known: ${ALL[*]})" >&2; exit 2; }
done
case "$action" in
  up)
    for name in "${names[@]}"; do bash "$HERE/$name.sh" start; done
    source "$HERE/env.sh"
    echo "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS REDIS_URL=$REDIS_URL S3_ENDPOINT=$S3_ENDPOINT"
    echo "GCS_ENDPOINT=$GCS_ENDPOINT BIGTABLE_EMULATOR_HOST=$BIGTABLE_EMULATOR_HOST"
    ;;
  down) for name in "${names[@]}"; do bash "$HERE/$name.sh" stop; done ;;
  status)
    status=0
    for name in "${names[@]}"; do bash "$HERE/$name.sh" status || status=1; done
    exit "$status"
    ;;
  *)
    echo "usage: $0 up|down|status [${ALL[*]}]" >&2
    exit 2
    ;;
esac
