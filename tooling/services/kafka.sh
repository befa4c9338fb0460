#!/usr/bin/env bash
# Apache Kafka 4.x, single node in KRaft mode, from Maven Central jars (no Docker, no tarball).
#   kafka.sh start|stop|status          the broker on 127.0.0.1:$KAFKA_PORT (default 9092)
#   kafka.sh start --keep               start on the log directory of the last run (topics, offsets
#                                       and groups intact) instead of an empty one
#   kafka.sh stop --keep                stop (the log directory is always left on disk; --keep says so)
#   kafka.sh restart                    stop, then start --keep: a broker restart with its data
#   kafka.sh tool <class> [args...]     a console tool, e.g. org.apache.kafka.tools.consumer.ConsoleConsumer
# KAFKA_EXTRA_PROPERTIES (lines of key=value) is appended to server.properties, overriding it.
# KAFKA_TLS_PORT / KAFKA_SASL_SSL_PORT add a TLS listener (client certificates required) and a
# SASL_SSL listener (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) with certificates made by keytool at
# start; $KSTREAMS_SERVICES_DIR/kafka/tls/security.json says what clients need (kafka/security.sh).
# With KAFKA_BOOTSTRAP_SERVERS set by the user, that broker is used and nothing is started.
SERVICE=kafka
USAGE="start [--keep]|stop [--keep]|restart|status|tool <class> [args...]"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=kafka/security.sh
source "$SERVICES_HOME/kafka/security.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LIBS="$KSTREAMS_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
CLUSTER_ID="${KAFKA_CLUSTER_ID:-a3N0cmVhbXMtdGVzdC0xMQ}"

require_java() {
  require_command java "Java 17 or newer is required to run Kafka"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "Kafka 4.x needs Java 17 or newer; \`java\` is version ${major:-unknown}."
}

fetch_jars() {
  [ -f "$LIBS/.complete" ] && return 0
  require_command mvn "Maven is required to fetch the Kafka jars from Maven Central"
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (through Maven's local repository, ~/.m2/repository by default)"
  rm -rf "$LIBS"
  mkdir -p "$LIBS"
  # Batch mode without -q logs one "Downloaded from" line per file, which with_progress counts.
  with_progress "maven" "files downloaded" '^(\[INFO\] )?Downloaded from ' \
    mvn -B -f "$SERVICES_HOME/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime ||
    { tail -n 30 "$LOG_FILE" >&2; die "could not fetch the Kafka jars with Maven (log: $LOG_FILE)"; }
  ls "$LIBS" | grep -q '^kafka_2.13-' || die "the Kafka jars are missing from $LIBS after the Maven copy"
  touch "$LIBS/.complete"
}

check_service() {
  grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null && port_in_use "$KAFKA_PORT"
}

start_service() {
  if [ -n "$KSTREAMS_EXTERNAL_KAFKA" ]; then
    say "using the broker at KAFKA_BOOTSTRAP_SERVERS=$KSTREAMS_EXTERNAL_KAFKA; not starting one"
    return 0
  fi
  require_java
  require_free_port "$KAFKA_PORT" "the Kafka broker" KAFKA_PORT
  require_free_port "$KAFKA_CONTROLLER_PORT" "the Kafka controller" KAFKA_CONTROLLER_PORT
  [ -z "${KAFKA_TLS_PORT:-}" ] || require_free_port "$KAFKA_TLS_PORT" "the Kafka TLS listener" KAFKA_TLS_PORT
  [ -z "${KAFKA_SASL_SSL_PORT:-}" ] ||
    require_free_port "$KAFKA_SASL_SSL_PORT" "the Kafka SASL_SSL listener" KAFKA_SASL_SSL_PORT
  : >"$LOG_FILE"
  fetch_jars
  if [ "$KEEP_DATA" = 1 ] && [ -f "$SERVICE_DIR/data/meta.properties" ]; then
    say "starting on the existing log directory $SERVICE_DIR/data"
  else
    # A fresh log directory by default: tests create their own topics and expect no leftovers.
    rm -rf "$SERVICE_DIR/data"
  fi
  mkdir -p "$SERVICE_DIR/data"
  sed -e "s#@DATA_DIR@#$SERVICE_DIR/data#" -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    "$SERVICES_HOME/kafka/server.properties" >"$SERVICE_DIR/server.properties"
  local format_arguments=()
  if security_enabled; then
    prepare_security "$KEEP_DATA"
    security_properties >>"$SERVICE_DIR/server.properties"
    read -r -a format_arguments <<<"$(scram_format_arguments)"
  fi
  if [ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]; then
    printf '\n# From KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$SERVICE_DIR/server.properties"
  fi
  local logging="-Dlog4j2.configurationFile=$SERVICES_HOME/kafka/log4j2.properties"
  java "$logging" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$CLUSTER_ID" \
    -c "$SERVICE_DIR/server.properties" --ignore-formatted "${format_arguments[@]}" >>"$LOG_FILE" 2>&1 ||
    { tail -n 30 "$LOG_FILE" >&2; die "formatting the storage failed (log: $LOG_FILE)"; }
  launch java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true "$logging" \
    -cp "$LIBS/*" kafka.Kafka "$SERVICE_DIR/server.properties"
  # KAFKA_READY_TIMEOUT_S: a broker that starts beside heavy load (a loaded CI machine) may need longer.
  wait_until "${KAFKA_READY_TIMEOUT_S:-120}" "ready" check_service
  say "ready on 127.0.0.1:$KAFKA_PORT (log: $LOG_FILE)"
}

stop_service() {
  if [ -n "$KSTREAMS_EXTERNAL_KAFKA" ]; then
    say "external broker in use; nothing to stop"
    return 0
  fi
  stop_process
}

# --keep may follow start or stop; restart is stop then start --keep.
KEEP_DATA=0
COMMAND="${1:-}"
case "${2:-}" in
  --keep) KEEP_DATA=1 ;;
  "") ;;
  *) [ "$COMMAND" = tool ] || die "unknown option \"$2\" (expected --keep)" ;;
esac
if [ "$COMMAND" = restart ]; then
  [ -z "$KSTREAMS_EXTERNAL_KAFKA" ] || die "external broker in use (KAFKA_BOOTSTRAP_SERVERS); not restarting it"
  KEEP_DATA=1
  stop_service
  main start
  exit 0
fi

if [ "$COMMAND" = tool ]; then
  shift
  require_java
  fetch_jars
  exec java "-Dlog4j2.configurationFile=$SERVICES_HOME/kafka/log4j2.properties" -cp "$LIBS/*" "$@"
fi
main "$COMMAND"
