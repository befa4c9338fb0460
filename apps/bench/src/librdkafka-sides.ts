// The pass-through sides on librdkafka (@kstreams/kafka-librdkafka): its raw loop and kstreams on
// its port. The binding is built by a separate step (npm run install-native -w
// @kstreams/kafka-librdkafka), so the sides are left out, with a note, where it is not built.
import { loadLibrdkafkaBinding } from '@kstreams/kafka-librdkafka'

export interface LibrdkafkaSide {
  side: string
  runner: string
  env: Record<string, string>
}

export function librdkafkaSides(): LibrdkafkaSide[] {
  try {
    loadLibrdkafkaBinding()
  } catch (error) {
    console.error(`librdkafka sides left out: ${error instanceof Error ? error.message : String(error)}`)
    return []
  }
  return [
    { side: 'raw librdkafka', runner: './run-raw-rdkafka.js', env: {} },
    { side: 'kstreams librdkafka', runner: './run-kstreams.js', env: { BENCH_KAFKA_PORT: 'librdkafka' } },
  ]
}
