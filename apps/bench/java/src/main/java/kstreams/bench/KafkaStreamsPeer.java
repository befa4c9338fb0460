package kstreams.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.internals.TimeWindow;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Kafka Streams with the topologies of src/run-kstreams.ts and the same byte formats:
 *
 * <ul>
 *   <li>{@code passthrough}: source → mapValues (append the byte 0x21) → sink, byte arrays;
 *   <li>{@code count}: count per key (UTF-8 string) in a key-value store with a changelog and the
 *       default record cache, forwarding every new count as an 8-byte big-endian long; the store is
 *       in memory or RocksDB (BENCH_BACKEND {@code memory} | {@code rocksdb});
 *   <li>{@code windowed-count}: count per key and 1-minute tumbling window in an in-memory window
 *       store (retention 10 min), each new count as a 4-byte big-endian int, the key written as
 *       kstreams' windowedKeySerde writes it (key bytes, window start and end as 8-byte longs);
 *   <li>{@code async-io}: the simulated 10 ms remote call made synchronously (Thread.sleep), the
 *       only way a Kafka Streams processor can wait, then the record unchanged to the sink.
 * </ul>
 *
 * Settings: at-least-once, commit every 5 s, one stream thread, idempotent producer with acks=all,
 * the default cache (statestore.cache.max.bytes).
 */
final class KafkaStreamsPeer {
  private static final long WINDOW_MS = 60_000;
  private static final byte SUFFIX = 0x21;

  private KafkaStreamsPeer() {}

  static void run(String mode) throws IOException {
    String input = Main.env("BENCH_INPUT");
    String output = Main.env("BENCH_OUTPUT");
    Topology topology = switch (mode) {
      case "passthrough" -> passthrough(input, output);
      case "count" -> count(input, output, Main.env("BENCH_BACKEND", "rocksdb"));
      case "windowed-count" -> windowedCount(input, output);
      case "async-io" -> asyncIo(input, output, Long.parseLong(Main.env("BENCH_ASYNC_MS", "10")));
      default -> throw new IllegalArgumentException(
          "unknown mode " + mode + "; known: passthrough, count, windowed-count, async-io");
    };
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, Main.env("BENCH_GROUP"));
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, Main.env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"));
    config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    config.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 5000);
    config.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(Main.env("BENCH_STREAM_THREADS", "1")));
    config.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("kstreams-bench-java-").toString());
    config.put(StreamsConfig.producerPrefix(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG), true);
    config.put(StreamsConfig.producerPrefix(ProducerConfig.ACKS_CONFIG), "all");
    config.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

    KafkaStreams streams = new KafkaStreams(topology, config);
    streams.setUncaughtExceptionHandler(error -> {
      System.err.println("kafka-streams: " + error);
      Runtime.getRuntime().halt(1);
      return null;
    });
    streams.start();
    Report.onTerminate(() -> {
      streams.close(Duration.ofSeconds(55));
      streams.cleanUp(); // the state directory is a fresh temporary one per run
    });
  }

  private static Topology passthrough(String input, String output) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .mapValues(value -> {
          byte[] out = new byte[value.length + 1];
          System.arraycopy(value, 0, out, 0, value.length);
          out[value.length] = SUFFIX;
          return out;
        })
        .to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
    return builder.build();
  }

  private static Topology count(String input, String output, String backend) {
    KeyValueBytesStoreSupplier supplier = switch (backend) {
      case "memory" -> Stores.inMemoryKeyValueStore("counts");
      case "rocksdb" -> Stores.persistentKeyValueStore("counts");
      default -> throw new IllegalArgumentException("unknown BENCH_BACKEND " + backend + "; known: memory, rocksdb");
    };
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(supplier, Serdes.String(), Serdes.Long()).withCachingEnabled());
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(() -> new Processor<String, byte[], String, Long>() {
          private ProcessorContext<String, Long> context;
          private KeyValueStore<String, Long> counts;

          @Override
          public void init(ProcessorContext<String, Long> context) {
            this.context = context;
            this.counts = context.getStateStore("counts");
          }

          @Override
          public void process(Record<String, byte[]> record) {
            Long previous = counts.get(record.key());
            long count = previous == null ? 1 : previous + 1;
            counts.put(record.key(), count);
            context.forward(record.withValue(count));
          }
        }, "counts")
        .to(output, Produced.with(Serdes.String(), Serdes.Long()));
    return builder.build();
  }

  private static Topology windowedCount(String input, String output) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(Stores.windowStoreBuilder(
            Stores.inMemoryWindowStore("counts", Duration.ofMinutes(10), Duration.ofMillis(WINDOW_MS), false),
            Serdes.String(),
            Serdes.Integer())
        .withCachingEnabled());
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(() -> new Processor<String, byte[], Windowed<String>, Integer>() {
          private ProcessorContext<Windowed<String>, Integer> context;
          private WindowStore<String, Integer> counts;

          @Override
          public void init(ProcessorContext<Windowed<String>, Integer> context) {
            this.context = context;
            this.counts = context.getStateStore("counts");
          }

          @Override
          public void process(Record<String, byte[]> record) {
            long start = record.timestamp() - Math.floorMod(record.timestamp(), WINDOW_MS);
            Integer previous = counts.fetch(record.key(), start);
            int count = previous == null ? 1 : previous + 1;
            counts.put(record.key(), count, start);
            context.forward(new Record<>(
                new Windowed<>(record.key(), new TimeWindow(start, start + WINDOW_MS)), count, record.timestamp()));
          }
        }, "counts")
        .to(output, Produced.with(windowedKeySerde(), Serdes.Integer()));
    return builder.build();
  }

  /** The layout of kstreams' windowedKeySerde: key bytes, then window start and end (8 bytes each). */
  private static Serde<Windowed<String>> windowedKeySerde() {
    Serializer<Windowed<String>> serializer = (topic, windowed) -> {
      byte[] key = windowed.key().getBytes(StandardCharsets.UTF_8);
      return ByteBuffer.allocate(key.length + 16)
          .put(key)
          .putLong(windowed.window().start())
          .putLong(windowed.window().end())
          .array();
    };
    return Serdes.serdeFrom(serializer, (topic, bytes) -> {
      throw new UnsupportedOperationException("the bench only writes windowed keys");
    });
  }

  private static Topology asyncIo(String input, String output, long delayMs) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .peek((key, value) -> {
          try {
            Thread.sleep(delayMs);
          } catch (InterruptedException error) {
            Thread.currentThread().interrupt();
          }
        })
        .to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
    return builder.build();
  }
}
