// The word count of the `dsl` scenario, twice: in the DSL, and the same topology by hand in the
// Processor API. Each input record is one word, its key: re-keyed by the word (so both go through
// the `words-repartition` topic, as a word count does after splitting lines), counted per word in
// the `counts` store (with a changelog) and written out as an int64, one output per input.
import type { KeyValueStore, ProcessorContext, Topology } from '@kstreams/core'

type Core = typeof import('@kstreams/core')

export function dslWordCount(core: Core, input: string, output: string): Topology {
  const { StreamsBuilder, serdes, silentLogger } = core
  const builder = new StreamsBuilder({ logger: silentLogger })
  builder
    .stream(input, { key: serdes.string(), value: serdes.bytes(), named: 'input' })
    .selectKey((word) => word, { named: 'by-word' })
    .groupByKey({ named: 'words', key: serdes.string(), value: serdes.bytes() })
    .count({ as: 'counts', named: 'count' })
    .toStream({ named: 'updates' })
    .mapValues((count) => BigInt(count ?? 0), { named: 'as-int64' })
    .to(output, { value: serdes.int64(), named: 'output' })
  return builder.build()
}

export function processorApiWordCount(core: Core, input: string, output: string): Topology {
  const { TopologyBuilder, map, serdes, stores } = core
  return new TopologyBuilder()
    .addInternalTopic('words-repartition', { partitions: { sameAs: [input] } })
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addProcessor('by-word', { parents: ['input'] }, () =>
      map((record: { key: string; value: Uint8Array }) => ({ key: record.key, value: record.value })),
    )
    .addSink('to-words', {
      topic: 'words-repartition',
      keySerde: serdes.string(),
      valueSerde: serdes.bytes(),
      parents: ['by-word'],
    })
    .addSource('words', {
      topics: ['words-repartition'],
      keySerde: serdes.string(),
      valueSerde: serdes.bytes(),
    })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['words'], stores: ['counts'] }, () => {
      let context: ProcessorContext<string, bigint>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext: ProcessorContext<string, bigint>) => {
          context = processorContext
          counts = context.getStore<KeyValueStore<string, bigint>>('counts')
        },
        process: async (record: { key: string; timestamp: number }) => {
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({ key: record.key, value: count, timestamp: record.timestamp, headers: [] })
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}
