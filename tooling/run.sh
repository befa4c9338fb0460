#!/usr/bin/env bash
# The two commands of the README:
#   bash tooling/run.sh demo   installs dependencies, starts Kafka, runs the word-count example end to end
#   bash tooling/run.sh test   installs dependencies, starts the services, builds, typechecks, lints and
#                              runs the unit and integration tests of every package
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=node/ensure-node.sh
source "$ROOT/tooling/node/ensure-node.sh"

log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

install_dependencies() {
  log "installing npm dependencies (node $(node --version), npm $(npm --version))"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
}

# Services started by this script are stopped when it exits; ones that were already up stay up.
SERVICES_STARTED=()
SERVICES_PID=""
stop_started_services() {
  local name
  # A background start still running (the script failed early) is stopped first, with its children.
  if [ -n "$SERVICES_PID" ] && kill -0 "$SERVICES_PID" 2>/dev/null; then
    kill -- -"$SERVICES_PID" 2>/dev/null || kill "$SERVICES_PID" 2>/dev/null || true
    wait "$SERVICES_PID" 2>/dev/null || true
  fi
  for name in "${SERVICES_STARTED[@]+"${SERVICES_STARTED[@]}"}"; do
    bash tooling/services/"$name".sh stop >/dev/null 2>&1 || true
  done
}
trap stop_started_services EXIT

start_service() {
  local name="$1"
  if bash tooling/services/"$name".sh status >/dev/null 2>&1; then
    echo "$name: already running"
    return 0
  fi
  bash tooling/services/"$name".sh start
  SERVICES_STARTED+=("$name")
}

run_demo() {
  install_dependencies
  log "starting Kafka"
  start_service kafka
  log "building"
  npx turbo run build --filter=@kstreams/example-word-count... --output-logs=errors-only
  log "running the word-count example against the local broker"
  npm run --silent -w @kstreams/example-word-count demo
}

run_tests() {
  local started_at=$SECONDS services_log="${KSTREAMS_SERVICES_DIR:-/tmp/kstreams-services}/services-up.log"
  install_dependencies
  mkdir -p "$(dirname "$services_log")"
  rm -rf -- */*/.reports apps/examples/*/.reports
  log "starting services in the background (log: $services_log)"
  local service pending=()
  for service in kafka redis s3 gcs bigtable; do
    if bash tooling/services/"$service".sh status >/dev/null 2>&1; then
      echo "$service: already running"
    else
      pending+=("$service")
      SERVICES_STARTED+=("$service")
    fi
  done
  if [ ${#pending[@]} -gt 0 ]; then
    # Its own process group (setsid), so that the exit trap can stop it with its children.
    setsid bash tooling/services/services.sh up "${pending[@]}" >"$services_log" 2>&1 &
    SERVICES_PID=$!
  fi

  log "checking the package skeleton"
  node tooling/scripts/check-packages.mjs
  log "lint"
  npx biome check --config-path tooling/biome/biome.jsonc .
  log "build, typecheck and unit tests"
  npx turbo run build typecheck test --output-logs=errors-only --continue=never

  if [ -n "$SERVICES_PID" ]; then
    log "waiting for the services"
    if ! wait "$SERVICES_PID"; then
      cat "$services_log" >&2
      echo "kstreams: starting the services failed (log above: $services_log)" >&2
      exit 1
    fi
    tail -n 20 "$services_log"
  fi
  log "integration tests (real Kafka, Redis, S3, GCS and Bigtable servers on 127.0.0.1)"
  local status=0
  npx turbo run test:integration --concurrency=1 --output-logs=new-only || status=$?
  log "summary"
  node tooling/scripts/test-summary.mjs || status=$?
  echo "wall time: $((SECONDS - started_at)) s"
  return "$status"
}

case "${1:-}" in
  demo) run_demo ;;
  test) run_tests ;;
  *)
    echo "usage: bash tooling/run.sh demo|test" >&2
    exit 2
    ;;
esac
