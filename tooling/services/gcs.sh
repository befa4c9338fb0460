#!/usr/bin/env bash
# A GCS server: fake-gcs-server, in memory, on http://127.0.0.1:$GCS_PORT (default 4443).
SERVICE=gcs
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FAKE_GCS_MODULE="github.com/fsouza/fake-gcs-server@v1.56.1"
BINARY="$KSTREAMS_CACHE_DIR/bin/fake-gcs-server"

check_service() { curl -sf "http://127.0.0.1:$GCS_PORT/storage/v1/b" >/dev/null; }

start_service() {
  require_free_port "$GCS_PORT" "the GCS server" GCS_PORT
  go_install fake-gcs-server "$FAKE_GCS_MODULE"
  launch "$BINARY" -scheme http -host 127.0.0.1 -port "$GCS_PORT" -backend memory \
    -public-host "127.0.0.1:$GCS_PORT" -external-url "http://127.0.0.1:$GCS_PORT" -log-level warn
  wait_until 30 "answering HTTP" check_service
  say "ready on http://127.0.0.1:$GCS_PORT (log: $LOG_FILE)"
}

main "$@"
