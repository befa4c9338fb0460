import { StreamsBuilder, serdes, silentLogger } from '@kstreams/core'
import { TopologyTestDriver } from '@kstreams/core/testing'
import { expect, it } from 'vitest'
import {
  buildEnrichmentTopology,
  type Customer,
  type EnrichedOrder,
  type Order,
  type Product,
  revenueKeySerde,
} from '../src/index.js'

const HOUR = 3_600_000

it('enriches orders with their customer and product, and sums revenue per region and hour', async () => {
  const topology = buildEnrichmentTopology(
    {
      orders: 'orders',
      customers: 'customers',
      products: 'products',
      enriched: 'enriched',
      revenue: 'revenue',
    },
    new StreamsBuilder({ logger: silentLogger }),
  )
  const driver = new TopologyTestDriver(topology)
  const customers = driver.createInputTopic('customers', serdes.string(), serdes.json<Customer>())
  const products = driver.createInputTopic('products', serdes.string(), serdes.json<Product>())
  const orders = driver.createInputTopic('orders', serdes.string(), serdes.json<Order>())
  const enriched = driver.createOutputTopic('enriched', serdes.string(), serdes.json<EnrichedOrder>())
  const revenue = driver.createOutputTopic('revenue', revenueKeySerde, serdes.float64())

  await products.pipeInput('p1', { name: 'kettle', priceCents: 2500 }, 0)
  await products.pipeInput('p2', { name: 'mug', priceCents: 800 }, 0)
  await customers.pipeInput('c1', { name: 'Ada', region: 'eu' }, 0)
  await customers.pipeInput('c2', { name: 'Bo', region: 'us' }, 0)
  await orders.pipeInput('o1', { customerId: 'c1', productId: 'p1', quantity: 2 }, 10)
  await orders.pipeInput('o2', { customerId: 'c2', productId: 'p2', quantity: 3 }, 20)
  // No such customer: the inner table join drops the order.
  await orders.pipeInput('o3', { customerId: 'c9', productId: 'p1', quantity: 1 }, 30)
  // No such product: the left join keeps the order, worth nothing.
  await orders.pipeInput('o4', { customerId: 'c1', productId: 'p9', quantity: 1 }, 40)
  await orders.pipeInput('o5', { customerId: 'c1', productId: 'p2', quantity: 1 }, HOUR + 5)

  expect(enriched.readKeyValues()).toEqual([
    [
      'o1',
      { orderId: 'o1', customer: 'Ada', region: 'eu', product: 'kettle', quantity: 2, totalCents: 5000 },
    ],
    ['o2', { orderId: 'o2', customer: 'Bo', region: 'us', product: 'mug', quantity: 3, totalCents: 2400 }],
    ['o4', { orderId: 'o4', customer: 'Ada', region: 'eu', product: 'unknown', quantity: 1, totalCents: 0 }],
    ['o5', { orderId: 'o5', customer: 'Ada', region: 'eu', product: 'mug', quantity: 1, totalCents: 800 }],
  ])
  const totals = new Map<string, number>()
  for (const [key, cents] of revenue.readKeyValues())
    totals.set(`${key.key}@${key.window.start / HOUR}`, cents)
  expect(Object.fromEntries(totals)).toEqual({ 'eu@0': 5000, 'us@0': 2400, 'eu@1': 800 })
  await driver.close()
})
