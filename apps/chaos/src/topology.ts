// The app under test: Kafka Streams' word count with its repartition. Sub-topology 1 splits each
// line into words keyed by word (to the words topic); sub-topology 2 counts each word in an LMDB
// store (LMDB with a changelog, or S3 or Redis: store-backend.ts) and writes `<occurrence id> <count>` for every occurrence it counted, so
// the runner can check each occurrence against the truth.
import {
  type KeyValueStore,
  type ProcessorContext,
  serdes,
  stores,
  type Topology,
  TopologyBuilder,
} from '@kstreams/core'
import type { CountStore } from './store-backend.js'
import { maxWordsPerLine, parseLine } from './workload.js'

export interface ChaosTopics {
  input: string
  words: string
  output: string
}

export interface ChaosTopologyOptions {
  topics: ChaosTopics
  /** The count store's backend, and whether it has a changelog. */
  store: CountStore
  /** Runs before each count (the slow and hung processors of R4). */
  beforeCount?: (occurrence: number) => Promise<void> | void
}

export const countStoreName = 'word-counts'

export function buildChaosTopology({ topics, store, beforeCount }: ChaosTopologyOptions): Topology {
  return new TopologyBuilder()
    .addSource('lines', { topics: [topics.input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('split', { parents: ['lines'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          if (record.value === null) return
          const line = parseLine(record.value)
          for (const [position, word] of line.words.entries()) {
            const occurrence = line.index * maxWordsPerLine + position
            context.forward({
              key: word,
              value: String(occurrence),
              timestamp: record.timestamp,
              headers: [],
            })
          }
        },
      }
    })
    .addSink('words-by-word', {
      topic: topics.words,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['split'],
    })
    .addSource('words', { topics: [topics.words], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue(countStoreName, {
        keySerde: serdes.string(),
        valueSerde: serdes.int64(),
        logging: store.logging,
        backend: store.backend,
      }),
    )
    .addProcessor('count', { parents: ['words'], stores: [countStoreName] }, () => {
      let context: ProcessorContext<string, string>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext) => {
          context = processorContext
          counts = context.getStore<KeyValueStore<string, bigint>>(countStoreName)
        },
        process: async (record) => {
          const occurrence = Number(record.value)
          if (beforeCount) await beforeCount(occurrence)
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({
            key: record.key,
            value: `${occurrence} ${count}`,
            timestamp: record.timestamp,
            headers: [],
          })
        },
      }
    })
    .addSink('counts', {
      topic: topics.output,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['count'],
    })
    .build()
}
