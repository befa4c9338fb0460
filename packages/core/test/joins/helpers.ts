// What the join tests share: reading a table join's output as rows, and the foreign-key join's
// re-grouped topology.
import type { Change, StreamsBuilder } from '../../src/index.js'
import { serdes } from '../../src/index.js'
import type { TestRecord } from '../../src/testing/index.js'
import { ordersAndCustomers, string } from '../dsl/helpers.js'

/** A table join's output records as [key, new value, old value, timestamp]; a missing value reads as '-'. */
export function changeRows<K, V>(records: TestRecord<K, Change<V>>[]): Array<[K, V | '-', V | '-', number]> {
  return records.map((record) => [
    record.key,
    record.value.newValue ?? '-',
    record.value.oldValue ?? '-',
    record.timestamp,
  ])
}

/**
 * Orders per customer region: orders ⋈ customers by the order's customer (join "oc"; a customer's
 * row is its region), re-grouped by region and counted in the store "per-region".
 */
export function ordersPerRegion(streams: StreamsBuilder) {
  const { orders, customers } = ordersAndCustomers(streams, serdes.json<{ customer: string }>())
  return orders
    .join(
      customers,
      (order) => order.customer,
      (_order, region) => region,
      { named: 'oc' },
    )
    .groupBy((order, region) => ({ key: region, value: order }), {
      key: string,
      value: string,
      named: 'by-region',
    })
    .count({ as: 'per-region' })
}
