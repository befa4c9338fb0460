#!/usr/bin/env bash
# A GCS server: fake-gcs-server, in memory (or on disk with GCS_BACKEND=filesystem), on
# http://127.0.0.1:$GCS_PORT (default 4443).
SERVICE=gcs
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FAKE_GCS_MODULE="github.com/fsouza/fake-gcs-server@v1.56.1"
BINARY="$KSTREAMS_CACHE_DIR/bin/fake-gcs-server"

check_service() { curl -sf "http://127.0.0.1:$GCS_PORT/storage/v1/b" >/dev/null; }

start_service() {
  require_free_port "$GCS_PORT" "the GCS server" GCS_PORT
  go_install fake-gcs-server "$FAKE_GCS_MODULE"
  # GCS_BACKEND=filesystem keeps the objects in $SERVICE_DIR/data across a stop and start (outage
  # tests of a private instance need that); the default keeps them in memory.
  local backend=(-backend memory)
  if [[ "${GCS_BACKEND:-memory}" == filesystem ]]; then
    mkdir -p "$SERVICE_DIR/data"
    backend=(-backend filesystem -filesystem-root "$SERVICE_DIR/data")
  fi
  launch "$BINARY" -scheme http -host 127.0.0.1 -port "$GCS_PORT" "${backend[@]}" \
    -public-host "127.0.0.1:$GCS_PORT" -external-url "http://127.0.0.1:$GCS_PORT" -log-level warn
  wait_until 30 "answering HTTP" check_service
  say "ready on http://127.0.0.1:$GCS_PORT (log: $LOG_FILE)"
}

main "$@"
