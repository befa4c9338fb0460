# Shared helpers of the service scripts. Each script sets SERVICE before sourcing this file.
set -euo pipefail
SERVICES_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$SERVICES_HOME/env.sh"
SERVICE_DIR="$KSTREAMS_SERVICES_DIR/$SERVICE"
LOG_FILE="$SERVICE_DIR/$SERVICE.log"
PID_FILE="$SERVICE_DIR/$SERVICE.pid"
mkdir -p "$SERVICE_DIR" "$KSTREAMS_CACHE_DIR/bin"

say() { echo "kstreams services: $SERVICE: $*"; }
die() {
  echo "kstreams services: $SERVICE: $*" >&2
  exit 1
}

require_command() { # name, what it is needed for
  command -v "$1" >/dev/null 2>&1 || die "$2 but \`$1\` was not found on PATH."
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Our process is running when the pid file names a live process.
running() {
  [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

require_free_port() { # port, what it is for
  if port_in_use "$1"; then
    die "port $1 (for $2) on 127.0.0.1 is already taken by another process; stop it or set ${3:-the port variable} to a free port."
  fi
}

# Starts a command in the background with its output in the log file and remembers its pid.
launch() {
  : >"$LOG_FILE"
  nohup "$@" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
}

# Waits until `check` succeeds, failing early if the process died.
wait_until() { # seconds, description, check command...
  local seconds="$1" description="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! running; then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "exited before it was ready (log: $LOG_FILE)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "not $description after ${seconds}s (log: $LOG_FILE)"
    fi
    sleep 0.3
  done
}

stop_process() {
  if ! running; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  local pid
  pid="$(cat "$PID_FILE")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  say "stopped"
}

# Runs a long download or build with its output in the log file, and says every 10 s how far it
# got, so that a cold start does not look hung: with_progress <what> <unit> <regex of a line that
# marks one unit done> <command...>. Returns the command's status.
with_progress() {
  local what="$1" unit="$2" pattern="$3"
  shift 3
  local offset started=$SECONDS last=$SECONDS status=0 pid
  offset="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
  "$@" >>"$LOG_FILE" 2>&1 &
  pid=$!
  progress_count() { tail -c +"$((offset + 1))" "$LOG_FILE" | grep -cE "$pattern" || true; }
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ $((SECONDS - last)) -ge 10 ]; then
      last=$SECONDS
      local latest
      latest="$(tail -c +"$((offset + 1))" "$LOG_FILE" | grep -E "$pattern" | tail -n 1 | sed -E 's#^\[INFO\] ##; s#^go: downloading ##; s#^Downloaded from [^:]*: ##; s# \(.*\)$##; s#^https?://.*/##' || true)"
      say "$what: $(progress_count) $unit so far, $((SECONDS - started)) s${latest:+ (last: $latest)}"
    fi
  done
  wait "$pid" || status=$?
  say "$what: $(progress_count) $unit in $((SECONDS - started)) s$([ "$status" = 0 ] || echo ", failed")"
  return "$status"
}

# Installs a Go program into the cache once: go_install <binary name> <module path>@<version>
go_install() {
  local name="$1" module="$2" target="$KSTREAMS_CACHE_DIR/bin/$1"
  local stamp="$target.version"
  if [ -x "$target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then return 0; fi
  require_command go "Go is required to build $SERVICE ($module)"
  say "building $module with go install (cached in $KSTREAMS_CACHE_DIR/bin after the first time;" \
    "Go's module cache: $(go env GOMODCACHE), build cache: $(go env GOCACHE))"
  local build_dir
  build_dir="$(mktemp -d)"
  with_progress "go install" "modules downloaded" '^go: downloading ' \
    env GOBIN="$build_dir" GOFLAGS="${GOFLAGS:--mod=mod}" go install "$module" ||
    { tail -n 30 "$LOG_FILE" >&2; die "go install $module failed (log: $LOG_FILE)"; }
  mv "$build_dir"/* "$target"
  rm -rf "$build_dir"
  echo "$module" >"$stamp"
}

# Dispatches start|stop|status to the script's start_service / stop_service / check_service.
main() {
  case "${1:-}" in
    start)
      if running && check_service; then
        say "already running"
        return 0
      fi
      start_service
      ;;
    stop) stop_service ;;
    status)
      if running && check_service; then
        say "running (log: $LOG_FILE)"
      else
        say "not running"
        return 1
      fi
      ;;
    *)
      echo "usage: $0 ${USAGE:-start|stop|status}" >&2
      return 2
      ;;
  esac
}

stop_service() { stop_process; }
