// The topology the query benchmark serves: a count per key in a key-value store "counts". The
// instances and the client build it the same way (the client uses it for types and routing).
import { serdes, stores, TopologyBuilder } from '@kstreams/core'

export function queryTopology(topic: string) {
  return new TopologyBuilder()
    .addSource('input', { topics: [topic], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
      let counts: import('@kstreams/core').KeyValueStore<string, bigint>
      return {
        init: (context) => {
          counts = context.getStore('counts')
        },
        process: async (record) => {
          await counts.put(record.key, ((await counts.get(record.key)) ?? 0n) + 1n)
        },
      }
    })
    .build()
}
