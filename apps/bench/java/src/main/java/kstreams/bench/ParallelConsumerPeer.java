package kstreams.bench;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.CommitMode;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import io.confluent.parallelconsumer.reactor.ReactorProcessor;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import reactor.core.publisher.Mono;

/**
 * Confluent parallel-consumer, {@code async-io}: KEY ordering, maxConcurrency 256 (BENCH_CONCURRENCY),
 * each record waits BENCH_ASYNC_MS (10) ms, then goes to the output topic unchanged; offsets
 * committed by the consumer (PERIODIC_CONSUMER_ASYNCHRONOUS: at least once, a record counts as done
 * once its send was acknowledged). BENCH_PC_ENGINE picks the engine:
 *
 * <ul>
 *   <li>{@code core} (default): {@code pollAndProduce} on the core module's pool of maxConcurrency
 *       threads, the wait a Thread.sleep on one of 256 threads;
 *   <li>{@code reactor}: the reactor module, the wait a non-blocking {@code Mono.delay}, then a send
 *       whose acknowledgement completes the record.
 * </ul>
 */
final class ParallelConsumerPeer {
  private ParallelConsumerPeer() {}

  static void run(String mode) {
    if (!mode.equals("async-io")) throw new IllegalArgumentException("unknown mode " + mode + "; known: async-io");
    String input = Main.env("BENCH_INPUT");
    String output = Main.env("BENCH_OUTPUT");
    String bootstrap = Main.env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    long delayMs = Long.parseLong(Main.env("BENCH_ASYNC_MS", "10"));
    int concurrency = Integer.parseInt(Main.env("BENCH_CONCURRENCY", "256"));
    String engine = Main.env("BENCH_PC_ENGINE", "core");

    Properties consumerConfig = new Properties();
    consumerConfig.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    consumerConfig.put(ConsumerConfig.GROUP_ID_CONFIG, Main.env("BENCH_GROUP"));
    consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    consumerConfig.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    consumerConfig.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    Properties producerConfig = new Properties();
    producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    producerConfig.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerConfig.put(ProducerConfig.ACKS_CONFIG, "all");
    producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerConfig);

    ParallelConsumerOptions<byte[], byte[]> options = ParallelConsumerOptions.<byte[], byte[]>builder()
        .ordering(ProcessingOrder.KEY)
        .maxConcurrency(concurrency)
        .commitMode(CommitMode.PERIODIC_CONSUMER_ASYNCHRONOUS)
        .consumer(new KafkaConsumer<>(consumerConfig))
        .producer(producer)
        .build();
    switch (engine) {
      case "core" -> {
        ParallelStreamProcessor<byte[], byte[]> processor = ParallelStreamProcessor.createEosStreamProcessor(options);
        processor.subscribe(List.of(input));
        processor.pollAndProduce(context -> {
          try {
            Thread.sleep(delayMs);
          } catch (InterruptedException error) {
            Thread.currentThread().interrupt();
            throw new RuntimeException(error);
          }
          return new ProducerRecord<>(output, context.key(), context.value());
        });
        Report.onTerminate(processor::close);
      }
      case "reactor" -> {
        ReactorProcessor<byte[], byte[]> processor = new ReactorProcessor<>(options);
        processor.subscribe(List.of(input));
        processor.react(context -> Mono.delay(Duration.ofMillis(delayMs))
            .then(Mono.<RecordMetadata>create(sink -> producer.send(
                new ProducerRecord<>(output, context.key(), context.value()),
                (metadata, error) -> {
                  if (error != null) sink.error(error);
                  else sink.success(metadata);
                }))));
        Report.onTerminate(processor::close);
      }
      default -> throw new IllegalArgumentException("unknown BENCH_PC_ENGINE " + engine + "; known: core, reactor");
    }
  }
}
