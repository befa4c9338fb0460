import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { materialize } from '../../src/dsl/changes.js'
import {
  addForeignKeyJoin,
  type Change,
  type KeyValueStore,
  serdes,
  stores,
  TopologyBuilder,
  TopologyError,
} from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'
import { builder as dslBuilder, string, withDriver } from '../dsl/helpers.js'
import { changeRows, ordersPerRegion } from './helpers.js'

interface Order {
  customer: string | null
  amount: number
}

function setup(type: 'inner' | 'left') {
  const orderSerde = serdes.json<Order>()
  const builder = new TopologyBuilder()
    .addSource('orders', { topics: ['orders'], keySerde: serdes.string(), valueSerde: orderSerde })
    .addSource('customers', { topics: ['customers'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('orders-store', { keySerde: serdes.string(), valueSerde: orderSerde }))
    .addStore(stores.keyValue('customers-store', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor(
      'orders-table',
      { parents: ['orders'], stores: ['orders-store'] },
      materialize<string, Order>('orders-store'),
    )
    .addProcessor(
      'customers-table',
      { parents: ['customers'], stores: ['customers-store'] },
      materialize<string, string>('customers-store'),
    )
  const result = addForeignKeyJoin(
    builder as never,
    {
      name: 'order-customer',
      type,
      foreignKey: (order: Order) => order.customer,
      joiner: (order: Order, customer: string | null) => `${order.amount}:${customer}`,
      left: {
        node: 'orders-table',
        store: 'orders-store',
        keySerde: serdes.string(),
        valueSerde: orderSerde,
        sourceTopics: ['orders'],
      },
      right: {
        node: 'customers-table',
        store: 'customers-store',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        sourceTopics: ['customers'],
      },
    } as Parameters<typeof addForeignKeyJoin<string, Order, string, string, string>>[1],
  )
  const changes = serdes.json<Change<string>>()
  const topology = (builder as unknown as TopologyBuilder<{ [name: string]: readonly [unknown, unknown] }>)
    .addSink('out', { topic: 'out', keySerde: serdes.string(), valueSerde: changes, parents: [result] })
    .build()
  const driver = new TopologyTestDriver(topology)
  const output = driver.createOutputTopic('out', serdes.string(), changes)
  return {
    driver,
    topology,
    orders: driver.createInputTopic('orders', serdes.string(), orderSerde),
    customers: driver.createInputTopic('customers', serdes.string(), serdes.string()),
    /** [order id, result or '-' for a tombstone] */
    read: () => output.readRecords().map((record) => [record.key, record.value.newValue ?? '-']),
    /** [order id, new result, old result ('-': none), timestamp] */
    changes: () => changeRows(output.readRecords()),
  }
}

const NULL = null as unknown as string

describe('foreign-key table–table join (KIP-213)', () => {
  it('inner: results appear when the referenced row exists, follow both sides, and are deleted when the reference breaks', async () => {
    const { driver, orders, customers, read } = setup('inner')
    await orders.pipeInput('o1', { customer: 'c1', amount: 10 })
    expect(read()).toEqual([])
    await customers.pipeInput('c1', 'alice')
    expect(read()).toEqual([['o1', '10:alice']])
    await orders.pipeInput('o2', { customer: 'c1', amount: 20 })
    await customers.pipeInput('c1', 'alice-2')
    expect(read()).toEqual([
      ['o2', '20:alice'],
      ['o1', '10:alice-2'],
      ['o2', '20:alice-2'],
    ])
    // o1 moves to a customer that does not exist: its old result is deleted.
    await orders.pipeInput('o1', { customer: 'c9', amount: 11 })
    expect(read()).toEqual([['o1', '-']])
    // c1's update reaches only its remaining subscriber.
    await customers.pipeInput('c1', 'alice-3')
    expect(read()).toEqual([['o2', '20:alice-3']])
    await customers.pipeInput('c9', 'zed')
    expect(read()).toEqual([['o1', '11:zed']])
    await customers.pipeInput('c9', NULL)
    expect(read()).toEqual([['o1', '-']])
    await orders.pipeInput('o2', null as unknown as Order)
    expect(read()).toEqual([['o2', '-']])
    await driver.close()
  })

  it('left: a row without a referenced row, or with no reference at all, joins null', async () => {
    const { driver, orders, customers, read } = setup('left')
    await orders.pipeInput('o1', { customer: 'c1', amount: 10 })
    await orders.pipeInput('o2', { customer: null, amount: 5 })
    expect(read()).toEqual([
      ['o1', '10:null'],
      ['o2', '5:null'],
    ])
    await customers.pipeInput('c1', 'alice')
    await customers.pipeInput('c1', NULL)
    expect(read()).toEqual([
      ['o1', '10:alice'],
      ['o1', '10:null'],
    ])
    await driver.close()
  })

  it('an answer for a left value that changed since is stale and dropped (its hash does not match)', async () => {
    const { driver, orders, customers, read } = setup('inner')
    await customers.pipeInput('c1', 'alice')
    await orders.pipeInput('o1', { customer: 'c1', amount: 10 })
    expect(read()).toEqual([['o1', '10:alice']])
    // An answer as the right side would have sent it for an older value of o1 (another hash).
    const response = driver.createInputTopic(
      'test-driver-order-customer-subscription-response-topic',
      serdes.bytes(),
      serdes.bytes(),
    )
    const stale = new Uint8Array(6 + 16 + 5)
    stale[0] = 1
    stale.fill(7, 5, 21)
    stale[21] = 1
    stale.set(new TextEncoder().encode('bogus'), 22)
    await response.pipeInput(new TextEncoder().encode('o1'), stale)
    expect(read()).toEqual([])
    await driver.close()
  })

  it("timestamps as Kafka Streams gives them: an answer to a left update has the later of both rows' times, an answer to a right change has the change's", async () => {
    const { driver, orders, customers, changes } = setup('inner')
    // The right row is newer than the left row that subscribes: the result has the right row's time.
    await customers.pipeInput('c1', 'alice', 200)
    await orders.pipeInput('o1', { customer: 'c1', amount: 10 }, 100)
    expect(changes()).toEqual([['o1', '10:alice', '-', 200]])
    await orders.pipeInput('o1', { customer: 'c1', amount: 11 }, 300)
    expect(changes()).toEqual([['o1', '11:alice', '10:alice', 300]])
    // A right change answers with its own time, even when the left row is newer
    // (Kafka Streams' ForeignTableJoinProcessorSupplier forwards the right record's timestamp).
    await customers.pipeInput('c1', 'alice-2', 250)
    expect(changes()).toEqual([['o1', '11:alice-2', '11:alice', 250]])
    // A left row whose right row comes later: the right row's arrival answers it.
    await orders.pipeInput('o2', { customer: 'c2', amount: 20 }, 400)
    expect(changes()).toEqual([])
    await customers.pipeInput('c2', 'bob', 500)
    expect(changes()).toEqual([['o2', '20:bob', '-', 500]])
    await orders.pipeInput('o2', { customer: 'c2', amount: 21 }, 450)
    expect(changes()).toEqual([['o2', '21:bob', '20:bob', 500]])
    // A left row that moves is answered by its new right row, at the later of the two times.
    await orders.pipeInput('o1', { customer: 'c2', amount: 12 }, 320)
    expect(changes()).toEqual([['o1', '12:bob', '11:alice-2', 500]])
    // An inner join's result deleted on the left side: the later of the delete's and the right row's times.
    await orders.pipeInput('o1', null as unknown as Order, 480)
    expect(changes()).toEqual([['o1', '-', '12:bob', 500]])
    await orders.pipeInput('o2', { customer: null, amount: 22 }, 490)
    expect(changes()).toEqual([['o2', '-', '21:bob', 500]])
    // A right row deleted: its subscribers' results go, at the delete's time.
    await orders.pipeInput('o3', { customer: 'c1', amount: 30 }, 900)
    await customers.pipeInput('c1', NULL, 600)
    expect(changes()).toEqual([
      ['o3', '30:alice-2', '-', 900],
      ['o3', '-', '30:alice-2', 600],
    ])
    // A row that never joined still sends a tombstone when it goes, as Kafka Streams does (it cannot
    // know whether the row joined; nor can this join for a result written before its store existed).
    await orders.pipeInput('o4', { customer: 'c9', amount: 40 }, 700)
    await orders.pipeInput('o4', null as unknown as Order, 710)
    expect(changes()).toEqual([['o4', '-', '-', 710]])
    await driver.close()
  })

  it("timestamps of a left join: its results deleted or joined with null on the left side have the left update's time", async () => {
    const { driver, orders, customers, changes } = setup('left')
    await customers.pipeInput('c1', 'alice', 200)
    await orders.pipeInput('o1', { customer: 'c1', amount: 10 }, 100)
    await orders.pipeInput('o2', { customer: 'c1', amount: 20 }, 110)
    expect(changes()).toEqual([
      ['o1', '10:alice', '-', 200],
      ['o2', '20:alice', '-', 200],
    ])
    // Kafka Streams sends these with a null foreign key, which looks up no right row.
    await orders.pipeInput('o1', null as unknown as Order, 150)
    await orders.pipeInput('o2', { customer: null, amount: 21 }, 160)
    expect(changes()).toEqual([
      ['o1', '-', '10:alice', 150],
      ['o2', '21:null', '20:alice', 160],
    ])
    await driver.close()
  })

  it("reads answers of the previous format (version 1, without the right row's timestamp)", async () => {
    const { driver, orders, changes } = setup('left')
    const order = { customer: 'c1', amount: 10 }
    await orders.pipeInput('o1', order, 100)
    expect(changes()).toEqual([['o1', '10:null', '-', 100]])
    const response = driver.createInputTopic(
      'test-driver-order-customer-subscription-response-topic',
      serdes.bytes(),
      serdes.bytes(),
    )
    // version | partition (u32) | MD5 of the left row | has a row | the row
    const hash = createHash('md5')
      .update(serdes.json<Order>().serialize(order, {} as never)!)
      .digest()
    const answer = new Uint8Array([1, 0, 0, 0, 0, ...hash, 1, ...new TextEncoder().encode('alice')])
    await response.pipeInput(new TextEncoder().encode('o1'), answer, 300)
    expect(changes()).toEqual([['o1', '10:alice', '10:null', 300]])
    await driver.close()
  })

  it('the result table can be re-grouped: counts per customer region follow moves, region changes and deletes', async () => {
    const { builder: streams } = dslBuilder()
    ordersPerRegion(streams)
    const topology = streams.build()
    expect([...topology.stores.keys()].filter((name) => name.startsWith('oc-'))).toEqual([
      'oc-subscription-store',
      'oc-right-timestamps',
      'oc-results',
    ])
    await withDriver(topology, async (driver) => {
      const orderInput = driver.createInputTopic('orders', string, serdes.json<{ customer: string }>())
      const customerInput = driver.createInputTopic('customers', string, string)
      const counts = async () => {
        const store = await driver.getStore<KeyValueStore<string, number>>('per-region')
        const rows: { [region: string]: number } = {}
        for await (const { key, value } of store.all()) rows[key] = value
        return rows
      }
      await customerInput.pipeInput('c1', 'eu')
      await customerInput.pipeInput('c2', 'us')
      await orderInput.pipeInput('o1', { customer: 'c1' })
      await orderInput.pipeInput('o2', { customer: 'c1' })
      await orderInput.pipeInput('o3', { customer: 'c2' })
      expect(await counts()).toEqual({ eu: 2, us: 1 })
      await orderInput.pipeInput('o1', { customer: 'c2' })
      expect(await counts()).toEqual({ eu: 1, us: 2 })
      await customerInput.pipeInput('c1', 'asia')
      expect(await counts()).toEqual({ eu: 0, us: 2, asia: 1 })
      await orderInput.pipeInput('o3', null as unknown as { customer: string })
      expect(await counts()).toEqual({ eu: 0, us: 1, asia: 1 })
      await customerInput.pipeInput('c2', null as unknown as string)
      expect(await counts()).toEqual({ eu: 0, us: 0, asia: 1 })
    })
  })

  it('declares its subscription and response topics as internal topics, partitioned like the right and the left table', () => {
    const { topology } = setup('inner')
    const internal = [...topology.internalTopics.values()].map((topic) => [
      topic.name,
      topic.kind,
      topic.partitions,
    ])
    expect(internal).toEqual([
      ['order-customer-subscription-registration-topic', 'subscription', { sameAs: ['customers'] }],
      ['order-customer-subscription-response-topic', 'response', { sameAs: ['orders'] }],
    ])
  })

  it('bad definitions are TopologyErrors', () => {
    const builder = new TopologyBuilder()
    const table = {
      node: 'n',
      store: 's',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      sourceTopics: ['t'],
    }
    expect(() =>
      addForeignKeyJoin(builder as never, {
        name: 'j',
        type: 'outer' as 'inner',
        foreignKey: (value: string) => value,
        joiner: (a: string, b: string) => a + b,
        left: table,
        right: table,
      }),
    ).toThrow(TopologyError)
    expect(() =>
      addForeignKeyJoin(builder as never, {
        name: 'j',
        type: 'inner',
        foreignKey: undefined as unknown as (value: string) => string,
        joiner: (a: string, b: string) => a + b,
        left: table,
        right: table,
      }),
    ).toThrow(/needs a "foreignKey" function/)
  })
})
