import { type StoreBackendFactory, StreamsBuilder, serdes, type Topology } from '@kstreams/core'
import { wordsOf } from './topology.js'

export interface DslWordCountTopics {
  /** Lines of text (any key). */
  inputTopic: string
  /** Running count per word (key: word, value: int64). */
  outputTopic: string
  /** Backend of the `word-counts` store. @default in memory */
  backend?: StoreBackendFactory
}

/**
 * The same word count in the DSL, as Kafka Streams' WordCountDemo: the words are re-keyed by
 * `groupBy`, so the count reads them through the repartition topic
 * `<applicationId>-words-repartition`, which the app creates with the input's partition count.
 */
export function buildDslWordCountTopology({
  inputTopic,
  outputTopic,
  backend,
}: DslWordCountTopics): Topology {
  const builder = new StreamsBuilder()
  builder
    .stream(inputTopic, { key: serdes.string(), value: serdes.string(), named: 'lines' })
    .flatMapValues((line) => (line === null ? [] : wordsOf(line)), { named: 'split' })
    .groupBy((_key, word) => word, { named: 'words', key: serdes.string(), value: serdes.string() })
    .count({ as: 'word-counts', named: 'count', ...(backend ? { backend } : {}) })
    .toStream({ named: 'count-updates' })
    .mapValues((count) => BigInt(count ?? 0), { named: 'as-int64' })
    .to(outputTopic, { value: serdes.int64(), named: 'counts' })
  return builder.build()
}
