#!/usr/bin/env bash
# The two commands of the README:
#   bash tooling/run.sh demo   installs dependencies, starts Kafka, runs the word-count example end to end
#   bash tooling/run.sh test   installs dependencies, starts the services, builds, typechecks, lints and
#                              runs the unit and integration tests of every package, and the consumer
#                              test (the packed packages installed into a fresh project)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=node/ensure-node.sh
source "$ROOT/tooling/node/ensure-node.sh"

# turbo otherwise prints its telemetry notice on a machine's first run, and sends telemetry.
export TURBO_TELEMETRY_DISABLED=1

log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Says up front what the command installs and where it writes, outside this folder too.
say_what_is_installed() { # demo|test
  (
    # shellcheck source=services/env.sh
    source "$ROOT/tooling/services/env.sh"
    row() { printf '  %-24s %s\n' "$1" "$2"; }
    log "what this installs, and where"
    row "npm dependencies" "./node_modules (npm ci; npm's download cache: $(npm config get cache))"
    row "kstreams cache" "$KSTREAMS_CACHE_DIR (KSTREAMS_CACHE_DIR): the Kafka jars, the Go-built servers in bin/,"
    row "" "and Node $KSTREAMS_NODE_VERSION when the system Node is older than 22.22"
    row "Maven local repository" "~/.m2/repository (Maven's default): the Kafka jars on their way to the kstreams cache"
    if [ "$1" = test ]; then
      if command -v go >/dev/null 2>&1; then
        row "Go module cache" "$(go env GOMODCACHE) (the S3, GCS and Bigtable servers' sources)"
        row "Go build cache" "$(go env GOCACHE)"
      else
        row "Go caches" "go env GOMODCACHE and go env GOCACHE (Go is not on PATH: the S3, GCS and Bigtable servers need it)"
      fi
    fi
    row "services' state" "$KSTREAMS_SERVICES_DIR (KSTREAMS_SERVICES_DIR): data, logs and pid files"
    [ "$1" = test ] || return 0
    if command -v redis-server >/dev/null 2>&1; then
      row "system-wide" "nothing: redis-server is already installed ($(command -v redis-server))"
    else
      row "system-wide" "the Debian package redis-server, with apt-get update and apt-get install (needs root)"
    fi
    row "consumer test" "${TMPDIR:-/tmp}/kstreams-consumer-*: a fresh project for the packed packages, removed after"
  )
}

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
SERVICES_TAIL_PID=""
stop_started_services() {
  local name
  if [ -n "$SERVICES_TAIL_PID" ]; then kill -- -"$SERVICES_TAIL_PID" 2>/dev/null || true; fi
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
  say_what_is_installed demo
  install_dependencies
  log "starting Kafka"
  start_service kafka
  log "building"
  node tooling/scripts/turbo-progress.mjs build --filter=@kstreams/example-word-count...
  log "running the word-count example against the local broker"
  npm run --silent -w @kstreams/example-word-count demo
}

run_tests() {
  local started_at=$SECONDS services_log="${KSTREAMS_SERVICES_DIR:-/tmp/kstreams-services}/services-up.log"
  say_what_is_installed test
  install_dependencies
  mkdir -p "$(dirname "$services_log")"
  rm -rf -- */*/.reports apps/examples/*/.reports
  log "starting services in the background (their lines start with [services]; log: $services_log)"
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
    # Their progress (Maven and Go downloads, each server ready) shows between the steps below;
    # the tail ends with the start.
    setsid bash -c 'tail -n +1 -f --pid="$1" "$2" | sed -u "s/^/  [services] /"' _ "$SERVICES_PID" \
      "$services_log" &
    SERVICES_TAIL_PID=$!
  fi

  log "checking the package skeleton"
  node tooling/scripts/check-packages.mjs
  log "lint"
  npx biome check --config-path tooling/biome/biome.jsonc .
  log "build, typecheck and unit tests (a line per turbo task as it finishes)"
  node tooling/scripts/turbo-progress.mjs build typecheck test --continue=never

  if [ -n "$SERVICES_PID" ]; then
    log "waiting for the services"
    if ! wait "$SERVICES_PID"; then
      wait "$SERVICES_TAIL_PID" 2>/dev/null || true
      echo "kstreams: starting the services failed (log: $services_log)" >&2
      exit 1
    fi
    wait "$SERVICES_TAIL_PID" 2>/dev/null || true
    SERVICES_TAIL_PID=""
  fi
  log "integration tests (real Kafka, Redis, S3, GCS and Bigtable servers on 127.0.0.1), and the consumer test of the packed packages"
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
