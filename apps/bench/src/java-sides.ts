// The Java peers' sides of the async-io scenario (Kafka Streams and Confluent parallel-consumer,
// from apps/bench/java, run by run-java.ts), each on its own output topic, read from the
// scenario's input. parallel-consumer runs twice: its core module (the call a Thread.sleep on one
// of 256 threads, pollAndProduce) and its reactor module (a non-blocking Mono.delay, then a send). Kafka Streams can only make the call synchronously on its one stream thread
// (about 1 ÷ call time records/s), so it writes BENCH_KAFKA_STREAMS_ASYNC_RECORDS (3000) records.
import { createTopics, deleteTopics, type RunResult, runSide } from './harness.js'
import type { ScenarioOptions } from './scenarios/scenario.js'

export async function runJavaAsyncIoSides(
  options: ScenarioOptions,
  input: string,
  id: string,
): Promise<RunResult[]> {
  const kafkaStreamsRecords = Number(process.env.BENCH_KAFKA_STREAMS_ASYNC_RECORDS ?? 3000)
  const sides = [
    {
      side: 'parallel-consumer KEY, core',
      peer: 'parallel-consumer',
      records: options.records,
      engine: 'core',
    },
    {
      side: 'parallel-consumer KEY, reactor',
      peer: 'parallel-consumer',
      records: options.records,
      engine: 'reactor',
    },
    {
      side: 'Kafka Streams (sync call)',
      peer: 'kafka-streams',
      records: Math.min(options.records, kafkaStreamsRecords),
      engine: undefined,
    },
  ]
    .map((side, index) => ({ ...side, index, output: `bench-async-io-java-out-${index}-${id}` }))
    .filter(({ side }) => !options.sides || options.sides.includes(side))
  if (sides.length === 0) return []
  const outputs = sides.map(({ output }) => output)
  await createTopics(outputs, options.partitions)
  try {
    const results: RunResult[] = []
    for (const { side, peer, records, engine, index, output } of sides) {
      results.push(
        await runSide({
          side,
          runner: './run-java.js',
          input,
          output,
          records,
          valueBytes: options.valueBytes,
          latencyRecords: 0,
          latencyRate: options.latencyRate,
          rssCurve: options.rssCurve,
          env: {
            BENCH_JAVA_PEER: peer,
            ...(engine ? { BENCH_PC_ENGINE: engine } : {}),
            BENCH_MODE: 'async-io',
            BENCH_ASYNC_MS: String(options.asyncMs),
            BENCH_GROUP: `bench-async-io-java-${index}-${id}`,
          },
        }),
      )
    }
    return results
  } finally {
    await deleteTopics(outputs).catch(() => {})
  }
}
