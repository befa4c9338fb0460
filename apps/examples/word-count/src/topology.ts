import {
  type KeyValueStore,
  type ProcessorContext,
  type StoreBackendFactory,
  serdes,
  stores,
  TopologyBuilder,
} from '@kstreams/core'

export interface WordCountTopics {
  /** Lines of text (any key). */
  inputTopic: string
  /** Words keyed by word, so that every occurrence of a word reaches the same task. */
  wordsTopic: string
  /** Running count per word (key: word, value: int64). */
  outputTopic: string
  /** Backend of the `word-counts` store. @default in memory */
  backend?: StoreBackendFactory
}

/** Splits a line into lowercase words. */
export function wordsOf(line: string): string[] {
  return line.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []
}

/**
 * Two sub-topologies joined by the words topic, as Kafka Streams' word count with its repartition:
 *
 * 1. lines → split into words, keyed by word → words topic;
 * 2. words topic → count in the `word-counts` store (changelogged; persistent with a persistent
 *    backend) → output topic.
 *
 * The counter forwards from the store's flush listener, so repeated updates of a word between two
 * commits leave as one output record with the latest count.
 */
export function buildWordCountTopology({ inputTopic, wordsTopic, outputTopic, backend }: WordCountTopics) {
  return new TopologyBuilder()
    .addSource('lines', { topics: [inputTopic], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('split', { parents: ['lines'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          if (record.value === null) return
          for (const word of wordsOf(record.value)) {
            context.forward({ key: word, value: word, timestamp: record.timestamp, headers: [] })
          }
        },
      }
    })
    .addSink('words-by-word', {
      topic: wordsTopic,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['split'],
    })
    .addSource('words', { topics: [wordsTopic], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('word-counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend }),
    )
    .addProcessor('count', { parents: ['words'], stores: ['word-counts'] }, () => {
      let counts: KeyValueStore<string, bigint>
      return {
        init: (context: ProcessorContext<string, bigint>) => {
          counts = context.getStore<KeyValueStore<string, bigint>>('word-counts')
          counts.setFlushListener(({ key, value, timestamp }) => {
            if (value !== undefined) context.forward({ key, value, timestamp, headers: [] })
          })
        },
        process: async (record) => {
          await counts.put(record.key, ((await counts.get(record.key)) ?? 0n) + 1n)
        },
      }
    })
    .addSink('counts', {
      topic: outputTopic,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}

/** The word-count topology's type: its store `word-counts` maps words to int64 counts. */
export type WordCountTopology = ReturnType<typeof buildWordCountTopology>
