#!/usr/bin/env bash
# The Cloud Bigtable emulator (cloud.google.com/go/bigtable/cmd/emulator) on 127.0.0.1:$BIGTABLE_PORT
# (default 8086). Clients find it through BIGTABLE_EMULATOR_HOST.
SERVICE=bigtable
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EMULATOR_MODULE="cloud.google.com/go/bigtable/cmd/emulator@v1.58.0"
BINARY="$KSTREAMS_CACHE_DIR/bin/emulator"

# gRPC only: a TCP connect to a live process of ours is the readiness signal.
check_service() { port_in_use "$BIGTABLE_PORT"; }

start_service() {
  require_free_port "$BIGTABLE_PORT" "the Bigtable emulator" BIGTABLE_PORT
  go_install emulator "$EMULATOR_MODULE"
  launch "$BINARY" -host 127.0.0.1 -port "$BIGTABLE_PORT"
  wait_until 30 "accepting connections" check_service
  say "ready on 127.0.0.1:$BIGTABLE_PORT (log: $LOG_FILE)"
}

main "$@"
