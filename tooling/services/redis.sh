#!/usr/bin/env bash
# Redis from Debian's redis-server package, no persistence, on 127.0.0.1:$REDIS_PORT (default 6379).
# REDIS_EXTRA_ARGS (words, e.g. "--appendonly yes") are appended to the command line and override it.
SERVICE=redis
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_redis() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "redis-server is not installed and apt-get is not available to install it."
  [ "$(id -u)" = 0 ] || die "redis-server is not installed; install it with: sudo apt-get install redis-server"
  say "installing redis-server from Debian"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >>"$LOG_FILE" 2>&1 ||
    { tail -n 20 "$LOG_FILE" >&2; die "apt-get install redis-server failed (log: $LOG_FILE)"; }
}

check_service() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_service() {
  require_free_port "$REDIS_PORT" "Redis" REDIS_PORT
  install_redis
  # shellcheck disable=SC2086 # REDIS_EXTRA_ARGS is split into words on purpose
  launch redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --dir "$SERVICE_DIR" ${REDIS_EXTRA_ARGS:-}
  wait_until 30 "answering PING" check_service
  say "ready on 127.0.0.1:$REDIS_PORT (log: $LOG_FILE)"
}

main "$@"
