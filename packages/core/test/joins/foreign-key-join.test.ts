import { describe, expect, it } from 'vitest'
import { materialize } from '../../src/dsl/changes.js'
import {
  addForeignKeyJoin,
  type Change,
  serdes,
  stores,
  TopologyBuilder,
  TopologyError,
} from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'

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
