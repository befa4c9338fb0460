// The stream–table join of the `join` scenario, twice: in the DSL, and the same topology by hand in
// the Processor API. Each input record (key `key-<n>`) is enriched with the row of its key from a
// table read from another topic (materialized in the `rows` store, with a changelog), left join:
// the row's bytes when there is one, else the record's own value; one output per input.
import type { KeyValueStore, ProcessorContext, Record, Topology } from '@kstreams/core'

type Core = typeof import('@kstreams/core')

export function dslJoin(core: Core, input: string, table: string, output: string): Topology {
  const { StreamsBuilder, serdes, silentLogger } = core
  const builder = new StreamsBuilder({ logger: silentLogger })
  const rows = builder.table(table, {
    key: serdes.string(),
    value: serdes.bytes(),
    named: 'rows',
    materialized: { as: 'rows' },
  })
  builder
    .stream(input, { key: serdes.string(), value: serdes.bytes(), named: 'input' })
    .leftJoin(rows, (value, row) => row ?? value, { named: 'join' })
    .to(output, { value: serdes.bytes(), named: 'output' })
  return builder.build()
}

export function processorApiJoin(core: Core, input: string, table: string, output: string): Topology {
  const { TopologyBuilder, serdes, stores } = core
  return new TopologyBuilder()
    .addSource('rows', { topics: [table], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addStore(stores.keyValue('rows', { keySerde: serdes.string(), valueSerde: serdes.bytes() }))
    .addProcessor('rows-table', { parents: ['rows'], stores: ['rows'] }, () => {
      let rows: KeyValueStore<string, Uint8Array>
      return {
        init: (context: ProcessorContext<never, never>) => {
          rows = context.getStore<KeyValueStore<string, Uint8Array>>('rows')
        },
        process: async (record: { key: string; value: Uint8Array | null }) => {
          if (record.value === null) await rows.delete(record.key)
          else await rows.put(record.key, record.value)
        },
      }
    })
    .addProcessor('join', { parents: ['input'], stores: ['rows'] }, () => {
      let context: ProcessorContext<string, Uint8Array>
      let rows: KeyValueStore<string, Uint8Array>
      return {
        init: (processorContext: ProcessorContext<string, Uint8Array>) => {
          context = processorContext
          rows = context.getStore<KeyValueStore<string, Uint8Array>>('rows')
        },
        process: async (record: Record<string, Uint8Array>) => {
          const row = await rows.get(record.key)
          context.forward({ ...record, value: row ?? record.value })
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.bytes(),
      parents: ['join'],
    })
    .build()
}
