// The topology the runtime tests over SimulatedKafka count with: words → a count per word in the
// store "counts" (optionally on a given backend) → each new count written to "counts" as int64.
import {
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type StoreBackendFactory,
  serdes,
  stores,
  type Topology,
  TopologyBuilder,
} from '../src/index.js'

export function countingTopology(backend?: StoreBackendFactory): Topology {
  return new TopologyBuilder()
    .addSource('words', { topics: ['words'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', {
        keySerde: serdes.string(),
        valueSerde: serdes.int64(),
        ...(backend ? { backend } : {}),
      }),
    )
    .addProcessor(
      'count',
      { parents: ['words'], stores: ['counts'] },
      (): Processor<string, string, string, bigint> => {
        let context: ProcessorContext<string, bigint>
        let counts: KeyValueStore<string, bigint>
        return {
          init: (processorContext) => {
            context = processorContext
            counts = context.getStore<KeyValueStore<string, bigint>>('counts')
          },
          process: async (record) => {
            const count = ((await counts.get(record.key)) ?? 0n) + 1n
            await counts.put(record.key, count)
            context.forward({ ...record, value: count })
          },
        }
      },
    )
    .addSink('out', {
      topic: 'counts',
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}
