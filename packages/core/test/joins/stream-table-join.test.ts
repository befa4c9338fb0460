import { describe, expect, it } from 'vitest'
import {
  type KeyValueStore,
  type ProcessorSupplier,
  serdes,
  stores,
  streamGlobalTableJoin,
  streamTableJoin,
  TopologyBuilder,
  TopologyError,
} from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'

/** Materializes a topic as a table: puts each row, deletes on a tombstone. */
export function upsert(store: string): ProcessorSupplier<string, string | null, never, never> {
  return () => {
    let rows: KeyValueStore<string, string>
    return {
      init: (context) => {
        rows = context.getStore(store)
      },
      process: async (record) => {
        if (record.key === null) return
        if (record.value === null) await rows.delete(record.key)
        else await rows.put(record.key, record.value)
      },
    }
  }
}

function streamTable(type: 'inner' | 'left') {
  const topology = new TopologyBuilder()
    .addSource('clicks', { topics: ['clicks'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSource('regions', { topics: ['regions'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('regions-store', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor(
      'regions-table',
      { parents: ['regions'], stores: ['regions-store'] },
      upsert('regions-store'),
    )
    .addProcessor(
      'join',
      { parents: ['clicks'], stores: ['regions-store'] },
      streamTableJoin({
        store: 'regions-store',
        type,
        joiner: (click: string, region: string | null) => `${click}@${region}`,
      } as Parameters<typeof streamTableJoin<string, string, string, string>>[0]),
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['join'],
    })
    .build()
  const driver = new TopologyTestDriver(topology)
  return {
    driver,
    topology,
    clicks: driver.createInputTopic('clicks', serdes.string(), serdes.string()),
    regions: driver.createInputTopic('regions', serdes.string(), serdes.string()),
    read: () =>
      driver
        .createOutputTopic('out', serdes.string(), serdes.string())
        .readRecords()
        .map((record) => [record.key, record.value, record.timestamp]),
  }
}

const NULL = null as unknown as string

describe('stream–table join', () => {
  it('inner: a stream record joins the row its key has when it is processed; table updates trigger nothing', async () => {
    const { driver, clicks, regions, read } = streamTable('inner')
    await clicks.pipeInput('alice', 'c1', 1)
    await regions.pipeInput('alice', 'europe', 2)
    expect(read()).toEqual([])
    await clicks.pipeInput('alice', 'c2', 3)
    await regions.pipeInput('alice', 'asia', 4)
    await clicks.pipeInput('alice', 'c3', 5)
    await regions.pipeInput('alice', NULL, 6)
    await clicks.pipeInput('alice', 'c4', 7)
    expect(read()).toEqual([
      ['alice', 'c2@europe', 3],
      ['alice', 'c3@asia', 5],
    ])
    await driver.close()
  })

  it('left: a record without a row joins null; a null key joins null too; a null value is dropped', async () => {
    const { driver, clicks, regions, read } = streamTable('left')
    await clicks.pipeInput('bob', 'c1', 1)
    await regions.pipeInput('bob', 'africa', 2)
    await clicks.pipeInput('bob', 'c2', 3)
    await clicks.pipeInput(NULL, 'c3', 4)
    await clicks.pipeInput('bob', NULL, 5)
    expect(read()).toEqual([
      ['bob', 'c1@null', 1],
      ['bob', 'c2@africa', 3],
      [null, 'c3@null', 4],
    ])
    await driver.close()
  })

  it('inner: a null key is dropped', async () => {
    const { driver, clicks, read } = streamTable('inner')
    await clicks.pipeInput(NULL, 'c1', 1)
    expect(read()).toEqual([])
    await driver.close()
  })

  it('the stream and the table share a sub-topology, so their topics are checked for co-partitioning', () => {
    const { topology } = streamTable('inner')
    expect(topology.subtopologies).toHaveLength(1)
    expect([...topology.subtopologies[0]!.sourceTopics].sort()).toEqual(['clicks', 'regions'])
  })

  it('bad definitions are TopologyErrors', () => {
    expect(() => streamTableJoin({ store: '', type: 'inner', joiner: () => 1 })).toThrow(/needs the "store"/)
    expect(() => streamTableJoin({ store: 's', type: 'outer' as 'inner', joiner: () => 1 })).toThrow(
      TopologyError,
    )
    expect(() =>
      streamGlobalTableJoin({
        store: 's',
        type: 'inner',
        joiner: () => 1,
        keyMapper: undefined as unknown as () => string,
      }),
    ).toThrow(/needs a "keyMapper"/)
  })
})

describe('stream–global table join', () => {
  function globalJoin(type: 'inner' | 'left') {
    const topology = new TopologyBuilder()
      .addGlobalStore(
        stores.keyValue('products', {
          keySerde: serdes.string(),
          valueSerde: serdes.string(),
          logging: false,
        }),
        { topic: 'products' },
      )
      .addSource('orders', {
        topics: ['orders'],
        keySerde: serdes.string(),
        valueSerde: serdes.json<{ product: string | null }>(),
      })
      .addProcessor(
        'join',
        { parents: ['orders'], stores: ['products'] },
        streamGlobalTableJoin({
          store: 'products',
          type,
          keyMapper: (_key: string, order: { product: string | null }) => order.product,
          joiner: (order: { product: string | null }, product: string | null) =>
            `${order.product}=${product}`,
        } as Parameters<
          typeof streamGlobalTableJoin<string, { product: string | null }, string, string, string>
        >[0]),
      )
      .addSink('out', {
        topic: 'out',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['join'],
      })
      .build()
    const driver = new TopologyTestDriver(topology)
    return {
      driver,
      products: driver.createInputTopic('products', serdes.string(), serdes.string()),
      orders: driver.createInputTopic('orders', serdes.string(), serdes.json<{ product: string | null }>()),
      read: () => driver.createOutputTopic('out', serdes.string(), serdes.string()).readKeyValues(),
    }
  }

  it('inner: the key mapper picks the row; no row, or a null mapped key, drops the record; a null stream key is fine', async () => {
    const { driver, products, orders, read } = globalJoin('inner')
    await products.pipeInput('p1', 'apple')
    await orders.pipeInput('o1', { product: 'p1' })
    await orders.pipeInput('o2', { product: 'p2' })
    await orders.pipeInput('o3', { product: null })
    await orders.pipeInput(NULL, { product: 'p1' })
    expect(read()).toEqual([
      ['o1', 'p1=apple'],
      [null, 'p1=apple'],
    ])
    await driver.close()
  })

  it('left: no row or a null mapped key joins null', async () => {
    const { driver, products, orders, read } = globalJoin('left')
    await products.pipeInput('p1', 'apple')
    await orders.pipeInput('o1', { product: 'p2' })
    await orders.pipeInput('o2', { product: null })
    await products.pipeInput('p1', NULL)
    await orders.pipeInput('o3', { product: 'p1' })
    expect(read()).toEqual([
      ['o1', 'p2=null'],
      ['o2', 'null=null'],
      ['o3', 'p1=null'],
    ])
    await driver.close()
  })
})
