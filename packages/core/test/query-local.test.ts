// Unit tests of the query building blocks that need no broker: merging sorted sources, the
// partition of a key (default and a sink's own partitioner), and the window order.
import { expect, it } from 'vitest'
import { defaultPartition, QueryError, serdes, stores, TopologyBuilder } from '../src/index.js'
import { mergeOrdered, windowOrder } from '../src/query/local-stores.js'
import { partitionOf, queryableStores, requireStore } from '../src/query/store-partitioning.js'

async function* from<T>(values: T[]): AsyncGenerator<T> {
  yield* values
}

it('merges sorted sources into one sorted stream and closes the sources it did not finish', async () => {
  const merged: number[] = []
  for await (const value of mergeOrdered([from([1, 4, 9]), from([2, 3, 10]), from([])], (a, b) => a - b)) {
    merged.push(value)
  }
  expect(merged).toEqual([1, 2, 3, 4, 9, 10])
  let closed = false
  async function* endless(): AsyncGenerator<number> {
    try {
      for (let value = 0; ; value += 2) yield value
    } finally {
      closed = true
    }
  }
  for await (const value of mergeOrdered([endless(), from([1])], (a, b) => a - b)) if (value > 4) break
  expect(closed).toBe(true)
})

it('orders windows by key length, then key bytes, as window stores keep them', () => {
  const keys = ['b', 'aa', 'a', 'ab'].map((key) => Buffer.from(key))
  const sorted = [...keys].sort((left, right) => (windowOrder(left) < windowOrder(right) ? -1 : 1))
  expect(sorted.map(String)).toEqual(['a', 'b', 'aa', 'ab'])
})

it('computes the partition of a key like the writer of the store’s input topic', () => {
  const topology = new TopologyBuilder()
    .addSource('lines', { topics: ['lines'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSink('by-region', {
      topic: 'by-region',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['lines'],
      partitioner: (record, partitions) => (record.key.startsWith('eu-') ? 0 : partitions - 1),
    })
    .addSource('regional', { topics: ['by-region'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('per-region', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['regional'], stores: ['per-region'] }, () => ({ process: () => {} }))
    .addStore(stores.keyValue('lines-seen', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('seen', { parents: ['lines'], stores: ['lines-seen'] }, () => ({ process: () => {} }))
    .build()
  const found = queryableStores(topology)
  // A repartitioned store: the sink's own partitioner decides.
  expect(partitionOf(found.get('per-region')!, 'eu-paris', 8)).toBe(0)
  expect(partitionOf(found.get('per-region')!, 'us-nyc', 8)).toBe(7)
  // A store on an external topic: Kafka's default partitioner of the key bytes.
  expect(partitionOf(found.get('lines-seen')!, 'user-42', 12)).toBe(
    defaultPartition(new TextEncoder().encode('user-42'), 12),
  )
  expect(() => requireStore(found, 'nope')).toThrow(QueryError)
  expect(() => requireStore(found, 'nope')).toThrow(
    /unknown store "nope" \(queryable stores: "per-region", "lines-seen"\)/,
  )
})

it('names a store that cannot be queried and says why', () => {
  const topology = new TopologyBuilder()
    .addSource('lines', { topics: ['lines'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore({ name: 'custom', persistent: false, logging: false, build: () => ({}) as never })
    .addProcessor('use', { parents: ['lines'], stores: ['custom'] }, () => ({ process: () => {} }))
    .build()
  expect(() => requireStore(queryableStores(topology), 'custom')).toThrow(/store "custom" cannot be queried/)
})
