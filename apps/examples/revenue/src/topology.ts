import {
  calendarWindows,
  type EmitMode,
  type StoreBackendFactory,
  serdes,
  stores,
  type Topology,
  TopologyBuilder,
  windowedAggregate,
  windowedKeySerde,
} from '@kstreams/core'

/** An order as it arrives on the orders topic (JSON), keyed by shop. */
export interface Order {
  /** Revenue in cents, so sums are exact. */
  amountCents: number
}

export interface RevenueTopics {
  ordersTopic: string
  /** Revenue per shop and calendar day in Europe/Berlin. */
  dailyTopic: string
  /** Revenue per shop and calendar month in America/New_York. */
  monthlyTopic: string
  /** @default 'update' */
  emit?: EmitMode
  /** Grace period for late orders, in ms. @default 1 hour */
  graceMs?: number
  backend?: StoreBackendFactory
}

/** Serdes of the two output topics: key `WindowedKey<string>` (shop and window), value cents (int64 as number). */
export const revenueKeySerde = windowedKeySerde(serdes.string())

/**
 * orders → revenue per shop per Berlin calendar day (days of 23 and 25 hours at DST changes) and
 * per New York calendar month. Both aggregations read the same orders; each has its own window
 * store, backed by a changelog.
 */
export function buildRevenueTopology({
  ordersTopic,
  dailyTopic,
  monthlyTopic,
  emit = 'update',
  graceMs = 3_600_000,
  backend,
}: RevenueTopics): Topology {
  const sum = (_shop: string, order: Order, total: number) => total + order.amountCents
  const retentionMs = 62 * 86_400_000
  return new TopologyBuilder()
    .addSource('orders', {
      topics: [ordersTopic],
      keySerde: serdes.string(),
      valueSerde: serdes.json<Order>(),
    })
    .addStore(
      stores.window('daily-revenue', {
        keySerde: serdes.string(),
        valueSerde: serdes.float64(),
        retentionMs,
        backend,
      }),
    )
    .addStore(
      stores.window('monthly-revenue', {
        keySerde: serdes.string(),
        valueSerde: serdes.float64(),
        retentionMs,
        backend,
      }),
    )
    .addProcessor(
      'per-day',
      { parents: ['orders'], stores: ['daily-revenue'] },
      windowedAggregate({
        windows: calendarWindows({ unit: 'day', zone: 'Europe/Berlin', graceMs }),
        store: 'daily-revenue',
        emit,
        initializer: () => 0,
        aggregator: sum,
      }),
    )
    .addProcessor(
      'per-month',
      { parents: ['orders'], stores: ['monthly-revenue'] },
      windowedAggregate({
        windows: calendarWindows({ unit: 'month', zone: 'America/New_York', graceMs }),
        store: 'monthly-revenue',
        emit,
        initializer: () => 0,
        aggregator: sum,
      }),
    )
    .addSink('daily', {
      topic: dailyTopic,
      keySerde: revenueKeySerde,
      valueSerde: serdes.float64(),
      parents: ['per-day'],
    })
    .addSink('monthly', {
      topic: monthlyTopic,
      keySerde: revenueKeySerde,
      valueSerde: serdes.float64(),
      parents: ['per-month'],
    })
    .build()
}
