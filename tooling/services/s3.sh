#!/usr/bin/env bash
# An S3 server: versitygw (Apache-2.0) with its POSIX backend, on 127.0.0.1:$S3_PORT (default 7070).
# Credentials: $S3_ACCESS_KEY / $S3_SECRET_KEY (default kstreams / kstreams-secret).
SERVICE=s3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSITYGW_MODULE="github.com/versity/versitygw/cmd/versitygw@v1.8.0"
BINARY="$KSTREAMS_CACHE_DIR/bin/versitygw"

# Any HTTP answer means it serves: an anonymous request gets an S3 XML error.
check_service() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/" | grep -qE '^[2-5][0-9][0-9]$'; }

start_service() {
  require_free_port "$S3_PORT" "the S3 server" S3_PORT
  go_install versitygw "$VERSITYGW_MODULE"
  mkdir -p "$SERVICE_DIR/data"
  launch env ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
    "$BINARY" --port "127.0.0.1:$S3_PORT" posix "$SERVICE_DIR/data"
  wait_until 30 "answering HTTP" check_service
  say "ready on http://127.0.0.1:$S3_PORT (log: $LOG_FILE)"
}

main "$@"
