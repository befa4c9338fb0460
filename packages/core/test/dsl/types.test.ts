// Type-level tests of the DSL: `npm run typecheck` (tsc over test/) fails when a type below is
// wrong or when a line marked @ts-expect-error compiles (so a check that stopped working fails).
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  type KStream,
  type KTable,
  StreamsBuilder,
  serdes,
  silentLogger,
  tumblingWindows,
  type WindowedKey,
} from '../../src/index.js'

interface Order {
  id: string
  customer: string
  amount: number
}
const orderSerde = serdes.json<Order>()

describe('DSL types', () => {
  it('serdes type the stream and every step after it', () => {
    const builder = new StreamsBuilder({ logger: silentLogger })
    const orders = builder.stream('orders', { key: serdes.string(), value: orderSerde })
    expectTypeOf(orders).toEqualTypeOf<KStream<string, Order>>()
    expectTypeOf(orders.mapValues((order) => order.amount)).toEqualTypeOf<KStream<string, number>>()
    expectTypeOf(orders.mapValues(async (order) => order.id)).toEqualTypeOf<KStream<string, string>>()
    expectTypeOf(orders.selectKey((_key, order) => order.amount)).toEqualTypeOf<KStream<number, Order>>()
    expectTypeOf(orders.map((key, order) => ({ key: order.amount, value: key }))).toEqualTypeOf<
      KStream<number, string>
    >()
    const counts = orders.groupByKey().count({ as: 'c' })
    expectTypeOf(counts).toEqualTypeOf<KTable<string, number>>()
    expectTypeOf(counts.toStream()).toEqualTypeOf<KStream<string, number | null>>()
    const windowed = orders
      .groupByKey()
      .windowedBy(tumblingWindows({ sizeMs: 1000 }))
      .count({ as: 'w' })
    expectTypeOf(windowed).toEqualTypeOf<KTable<WindowedKey<string>, number>>()
  })

  it('a wrong serde, a wrong aggregate serde and a wrong initializer do not compile', () => {
    const builder = new StreamsBuilder({ logger: silentLogger })
    // @ts-expect-error: the value serde must be a Serde<Order>, not a Serde<string>
    const wrong: KStream<string, Order> = builder.stream('orders', {
      key: serdes.string(),
      value: serdes.string(),
    })
    const orders = builder.stream('orders2', { key: serdes.string(), value: orderSerde })
    // @ts-expect-error: a sink's value serde must match the stream's value type
    orders.to('out', { value: serdes.float64() })
    // @ts-expect-error: a sink's key serde must match the stream's key type
    orders.to('out', { key: serdes.int64() })
    orders.groupByKey().aggregate(
      () => 0,
      (_key, order, total) => total + order.amount,
      // @ts-expect-error: the aggregate is a number, the serde a Serde<string>
      { as: 'totals', value: serdes.string() },
    )
    orders.groupByKey().aggregate(
      () => 0,
      // @ts-expect-error: the aggregator must return the initializer's type
      (_key, order) => order.id,
      { as: 'totals2', value: serdes.float64() },
    )
    // @ts-expect-error: groupBy's key serde must match the selector's key type
    orders.groupBy((_key, order) => order.amount, { key: serdes.string() })
    // @ts-expect-error: a predicate gets the stream's key and value types
    orders.filter((_key, order: number) => order > 0)
    expect(() =>
      orders.groupByKey().aggregate(
        () => 0,
        (_key, order, total) => total + order.amount,
        // @ts-expect-error: aggregate needs the aggregate's serde
        { as: 'x' },
      ),
    ).toThrow(/aggregate needs the aggregate's serde/)
    void wrong
  })

  it('split() types each branch by its predicate', () => {
    type Event = { kind: 'click'; x: number } | { kind: 'view'; page: string }
    const builder = new StreamsBuilder({ logger: silentLogger })
    const branches = builder
      .stream('events', { key: serdes.string(), value: serdes.json<Event>() })
      .split()
      .branch((_key, event): event is Extract<Event, { kind: 'click' }> => event.kind === 'click', {
        name: 'clicks',
      })
      .defaultBranch({ name: 'rest' })
    expectTypeOf(branches.clicks).toEqualTypeOf<KStream<string, { kind: 'click'; x: number }>>()
    expectTypeOf(branches.rest).toEqualTypeOf<KStream<string, Event>>()
    // @ts-expect-error: no branch is named "views"
    void branches.views
  })

  it('the README example compiles and builds', () => {
    const builder = new StreamsBuilder({ logger: silentLogger })
    const orders = builder.stream('orders', { key: serdes.string(), value: serdes.json<Order>() })
    orders
      .groupBy((_id, order) => order.customer, { named: 'orders-by-customer', key: serdes.string() })
      .aggregate(
        () => 0,
        (_customer, order, total) => total + order.amount,
        {
          as: 'revenue-per-customer',
          value: serdes.float64(),
        },
      )
      .toStream()
      .to('revenue-per-customer', { value: serdes.float64() })
    orders
      .filter((_id, order) => order.amount >= 100)
      .groupByKey()
      .windowedBy(tumblingWindows({ sizeMs: 60_000, graceMs: 5_000 }))
      .emitFinal()
      .count({ as: 'big-orders-per-minute' })
    const topology = builder.build()
    expect([...topology.internalTopics.keys()]).toEqual(['orders-by-customer-repartition'])
    expect([...topology.stores.keys()].sort()).toEqual(['big-orders-per-minute', 'revenue-per-customer'])
  })
})
