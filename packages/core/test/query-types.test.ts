// Type-level tests of interactive queries: `npm run typecheck` compiles this file, so a wrong key
// type or an unknown store name that compiles, or a `@ts-expect-error` that no longer finds an
// error, fails the build. The runtime assertions check the wire encoding the types rely on.
import { expect, expectTypeOf, it } from 'vitest'
import {
  createApp,
  createQueryClient,
  fromWire,
  type KeyValue,
  type KStreamsApp,
  QueryError,
  serdes,
  stores,
  stringifyWire,
  type Topology,
  TopologyBuilder,
  toWire,
  type WindowedEntry,
} from '../src/index.js'

const topology = new TopologyBuilder()
  .addSource('input', { topics: ['t'], keySerde: serdes.string(), valueSerde: serdes.string() })
  .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
  .addStore(stores.window('per-minute', { keySerde: serdes.int32(), valueSerde: serdes.float64() }))
  .addStore(stores.session('visits', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
  .addProcessor('count', { parents: ['input'], stores: ['counts', 'per-minute', 'visits'] }, () => ({
    process: () => {},
  }))
  .build()

it('gives the client each store’s key and value types; a wrong key or unknown store does not compile', () => {
  const client = createQueryClient<typeof topology>({ endpoints: ['http://127.0.0.1:1'] })
  const counts = client.store('counts')
  expectTypeOf(counts.get).parameter(0).toEqualTypeOf<string>()
  expectTypeOf(counts.get).returns.toEqualTypeOf<Promise<bigint | undefined>>()
  expectTypeOf(counts.all()).toEqualTypeOf<AsyncIterableIterator<KeyValue<string, bigint>>>()
  const minutes = client.store('per-minute')
  expectTypeOf(minutes.fetch).returns.toEqualTypeOf<Promise<Array<WindowedEntry<number, number>>>>()
  const visits = client.store('visits')
  expectTypeOf(visits.fetch).parameters.toEqualTypeOf<[key: string]>()
  const typeErrors = () => {
    // @ts-expect-error: "count" is not a store of the topology (it is "counts")
    client.store('count')
    // @ts-expect-error: the keys of "counts" are strings
    void counts.get(42)
    // @ts-expect-error: the keys of "per-minute" are numbers
    void minutes.fetch('k', 0, 1)
    // @ts-expect-error: a session store has no range
    void visits.range
  }
  expect(typeof typeErrors).toBe('function')
})

it('types the local views of app.store(name) and metadataForKey the same way', () => {
  const app = createApp(topology, { applicationId: 'types', bootstrapServers: '127.0.0.1:1' })
  // A typed app still fits where an untyped one is expected, and so does its topology.
  const untyped: KStreamsApp = app
  const plain: Topology = topology
  expect(untyped.topology).toBe(plain)
  expectTypeOf(app.store('counts').get).returns.toEqualTypeOf<Promise<bigint | undefined>>()
  expectTypeOf(app.store('visits').kind).toEqualTypeOf<'session'>()
  const typeErrors = () => {
    // @ts-expect-error: unknown store
    app.store('nope')
    // @ts-expect-error: the keys of "counts" are strings
    void app.metadataForKey('counts', 1)
  }
  expect(typeof typeErrors).toBe('function')
})

it('a builder with no literal store name keeps the topology untyped, not wrongly typed', () => {
  const name: string = 'dynamic'
  const untyped = new TopologyBuilder()
    .addSource('input', { topics: ['t'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue(name, { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .build()
  const client = createQueryClient<typeof untyped>({ endpoints: ['http://127.0.0.1:1'] })
  // @ts-expect-error: no store name is known for this topology
  client.store('dynamic')
})

it('round-trips bigints, bytes and objects with $ keys through the wire JSON', () => {
  const value = { count: 12n, raw: Uint8Array.of(1, 2, 255), nested: [{ $weird: 1 }], text: 'a' }
  expect(fromWire(JSON.parse(stringifyWire(value)))).toEqual(value)
  expect(toWire(undefined)).toBe(null)
})

it('createQueryClient needs endpoints', () => {
  expect(() => createQueryClient({ endpoints: [] })).toThrow(QueryError)
})
