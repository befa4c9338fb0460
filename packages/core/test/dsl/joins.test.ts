import { describe, expect, it } from 'vitest'
import { createApp, joinWindows, serdes, silentLogger, TopologyError } from '../../src/index.js'
import { SimulatedKafka } from '../../src/testing/index.js'
import { builder, number, ordersAndCustomers, string, withDriver } from './helpers.js'

const NULL = null as unknown as string

describe('DSL joins', () => {
  it('KStream.join(KStream) within join windows; leftJoin emits unmatched records once their window closed', async () => {
    const { builder: streams } = builder()
    const views = streams.stream('views', { key: string, value: string })
    const clicks = streams.stream('clicks', { key: string, value: string })
    views
      .leftJoin(clicks, (view, click) => `${view}/${click}`, joinWindows(10), { named: 'view-click' })
      .to('out', { value: string })
    await withDriver(streams.build(), async (driver) => {
      const viewsIn = driver.createInputTopic('views', string, string)
      const clicksIn = driver.createInputTopic('clicks', string, string)
      const out = driver.createOutputTopic('out', string, string)
      await viewsIn.pipeInput('u1', 'v1', 0)
      await clicksIn.pipeInput('u1', 'c1', 4)
      await viewsIn.pipeInput('u2', 'v2', 5)
      await clicksIn.pipeInput('u3', 'c3', 16)
      expect(out.readKeyValues()).toEqual([
        ['u1', 'v1/c1'],
        ['u2', 'v2/null'],
      ])
    })
  })

  it('a stream join after selectKey repartitions the re-keyed side first, named after the join', () => {
    const { builder: streams } = builder()
    const orders = streams.stream('orders', { key: string, value: serdes.json<{ user: string }>() })
    const users = streams.table('users', { key: string, value: string, materialized: { as: 'users' } })
    orders
      .selectKey((_key, order) => order.user)
      .join(users, (order, user) => ({ ...order, name: user }), { named: 'order-user', value: serdes.json() })
      .to('out', { value: serdes.json() })
    const topology = streams.build()
    expect([...topology.internalTopics.keys()]).toEqual(['order-user-repartition'])
    expect(topology.describe().text).toContain('order-user')
  })

  it('KStream.join(GlobalKTable) with a key mapper; the global table is filled from its topic', async () => {
    const { builder: streams } = builder()
    const products = streams.globalTable('products', {
      key: string,
      value: number,
      materialized: { as: 'prices' },
    })
    streams
      .stream('orders', { key: string, value: serdes.json<{ product: string; quantity: number }>() })
      .join(
        products,
        (_key, order) => order.product,
        (order, price) => order.quantity * price,
      )
      .to('totals', { value: number })
    await withDriver(streams.build(), async (driver) => {
      await driver.createInputTopic('products', string, number).pipeInput('p1', 2.5)
      const orders = driver.createInputTopic(
        'orders',
        string,
        serdes.json<{ product: string; quantity: number }>(),
      )
      await orders.pipeInput('o1', { product: 'p1', quantity: 4 })
      await orders.pipeInput('o2', { product: 'p2', quantity: 1 })
      expect(driver.createOutputTopic('totals', string, number).readKeyValues()).toEqual([['o1', 10]])
    })
  })

  it('KTable.join, leftJoin and outerJoin on the key; a filtered table is materialized for the join', async () => {
    const { builder: streams } = builder()
    const left = streams.table('left', { key: string, value: string, materialized: { as: 'left' } })
    const right = streams
      .table('right', { key: string, value: string, materialized: { as: 'right' } })
      .filter((_key, value) => value !== 'hidden', { named: 'visible' })
    left
      .outerJoin(right, (l, r) => `${l}+${r}`, {
        named: 'both',
        materialized: { as: 'both-store', value: string },
      })
      .toStream()
      .to('out', { value: string })
    await withDriver(streams.build(), async (driver) => {
      const leftIn = driver.createInputTopic('left', string, string)
      const rightIn = driver.createInputTopic('right', string, string)
      await leftIn.pipeInput('k', 'a', 1)
      await rightIn.pipeInput('k', 'x', 2)
      await rightIn.pipeInput('k', 'hidden', 3)
      await leftIn.pipeInput('k', NULL, 4)
      expect(driver.createOutputTopic('out', string, string).readKeyValues()).toEqual([
        ['k', 'a+null'],
        ['k', 'a+x'],
        ['k', 'a+null'],
        ['k', null],
      ])
      const store =
        await driver.getStore<import('../../src/index.js').KeyValueStore<string, string>>('both-store')
      expect(await store.get('k')).toBeUndefined()
    })
  })

  it('KTable.join with a foreign-key extractor (KIP-213) creates subscription and response topics', async () => {
    const { builder: streams } = builder()
    const { orders, customers } = ordersAndCustomers(streams, serdes.json<{ customer: string }>())
    orders
      .join(
        customers,
        (order) => order.customer,
        (order, name) => `${order.customer}:${name}`,
        { named: 'oc' },
      )
      .toStream()
      .to('out', { value: string })
    const topology = streams.build()
    expect([...topology.internalTopics.keys()]).toEqual([
      'oc-subscription-registration-topic',
      'oc-subscription-response-topic',
    ])
    await withDriver(topology, async (driver) => {
      await driver
        .createInputTopic('orders', string, serdes.json<{ customer: string }>())
        .pipeInput('o1', { customer: 'c1' })
      await driver.createInputTopic('customers', string, string).pipeInput('c1', 'alice')
      expect(driver.createOutputTopic('out', string, string).readKeyValues()).toEqual([['o1', 'c1:alice']])
    })
  })

  it('outerJoin of a stream with a table is a TopologyError', () => {
    const { builder: streams } = builder()
    const stream = streams.stream('s', { key: string, value: string })
    const table = streams.table('t', { key: string, value: string, materialized: { as: 't' } })
    expect(() =>
      (stream as unknown as { outerJoin: (...args: unknown[]) => unknown }).outerJoin(
        table,
        () => 1,
        joinWindows(1),
      ),
    ).toThrow(TopologyError)
  })

  it('start() refuses a join of topics with different partition counts, naming both topics and counts', async () => {
    const { builder: streams } = builder()
    const a = streams.stream('a', { key: string, value: string })
    const b = streams.stream('b', { key: string, value: string })
    a.join(b, (x, y) => x + y, joinWindows(5), { named: 'ab' }).to('out', { value: string })
    const kafka = new SimulatedKafka({ seed: 3 })
    kafka.createTopic('a', 2)
    kafka.createTopic('b', 3)
    kafka.createTopic('out', 1)
    const app = createApp(streams.build(), {
      applicationId: 'copartition',
      bootstrapServers: ['sim:9092'],
      kafka: kafka.port('one'),
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    const failure = await app.start().then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(TopologyError.isInstance(failure)).toBe(true)
    expect(String((failure as Error).message)).toMatch(/a \(2\).*b \(3\)|b \(3\).*a \(2\)/)
  })
})
