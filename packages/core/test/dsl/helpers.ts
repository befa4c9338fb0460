import { type Serde, StreamsBuilder, serdes, silentLogger, type Topology } from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'

export const string = serdes.string()
export const number = serdes.float64()

/** A builder that keeps its build-time warnings, for assertions. */
export function builder(): { builder: StreamsBuilder; warnings: string[] } {
  const warnings: string[] = []
  const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) }
  return { builder: new StreamsBuilder({ logger }), warnings }
}

/** Runs `test` with a driver over `topology`, then closes the driver. */
export async function withDriver(
  topology: Topology,
  test: (driver: TopologyTestDriver) => Promise<void>,
): Promise<void> {
  const driver = new TopologyTestDriver(topology, { applicationId: 'dsl' })
  try {
    await test(driver)
  } finally {
    await driver.close()
  }
}

/**
 * The foreign-key join tests' tables: `orders` (values of `orderSerde`) and `customers` (string
 * rows), string keys, each in a store of its topic's name.
 */
export function ordersAndCustomers<O>(streams: StreamsBuilder, orderSerde: Serde<O>) {
  return {
    orders: streams.table('orders', { key: string, value: orderSerde, materialized: { as: 'orders' } }),
    customers: streams.table('customers', { key: string, value: string, materialized: { as: 'customers' } }),
  }
}
