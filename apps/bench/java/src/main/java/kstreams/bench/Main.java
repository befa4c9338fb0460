package kstreams.bench;

/**
 * {@code java -cp … kstreams.bench.Main <peer> <mode>}; settings from the environment, as the
 * TypeScript runners read them: BENCH_INPUT, BENCH_OUTPUT, BENCH_GROUP (application / group id),
 * KAFKA_BOOTSTRAP_SERVERS, BENCH_BACKEND (count: memory or rocksdb), BENCH_ASYNC_MS (async-io).
 *
 * <ul>
 *   <li>{@code kafka-streams passthrough | count | windowed-count | async-io}
 *   <li>{@code parallel-consumer async-io}
 * </ul>
 */
public final class Main {
  private Main() {}

  static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) throw new IllegalArgumentException(name + " is not set");
    return value;
  }

  static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }

  public static void main(String[] arguments) throws Exception {
    if (arguments.length != 2) {
      System.err.println("usage: Main kafka-streams|parallel-consumer <mode>");
      System.exit(2);
    }
    switch (arguments[0]) {
      case "kafka-streams" -> KafkaStreamsPeer.run(arguments[1]);
      case "parallel-consumer" -> ParallelConsumerPeer.run(arguments[1]);
      default -> {
        System.err.println("unknown peer " + arguments[0] + "; known: kafka-streams, parallel-consumer");
        System.exit(2);
      }
    }
  }
}
