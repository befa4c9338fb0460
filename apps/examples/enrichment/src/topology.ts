// Orders ⋈ customers (a table, co-partitioned by customer id) ⋈ products (a global table, looked
// up by the order's product id) → enriched orders, and the revenue per region in tumbling windows.
// The orders topic is keyed by order id, so the stream is re-keyed by customer and read through a
// repartition topic before the table join, as Kafka Streams does.
import { StreamsBuilder, serdes, type Topology, tumblingWindows, windowedKeySerde } from '@kstreams/core'

export interface Order {
  customerId: string
  productId: string
  quantity: number
}

export interface Customer {
  name: string
  region: string
}

export interface Product {
  name: string
  priceCents: number
}

export interface EnrichedOrder {
  orderId: string
  customer: string
  region: string
  product: string
  quantity: number
  /** Quantity times price, in cents; 0 when the product is unknown. */
  totalCents: number
}

export interface EnrichmentTopics {
  orders: string
  customers: string
  products: string
  enriched: string
  revenue: string
  /** Revenue window length in ms. @default 1 hour */
  windowMs?: number
  /** How late an order may be and still count. @default 5 minutes */
  graceMs?: number
}

/** The serde of the revenue topic's keys: region and window. */
export const revenueKeySerde = windowedKeySerde(serdes.string())

export function buildEnrichmentTopology(topics: EnrichmentTopics, builder = new StreamsBuilder()): Topology {
  const customers = builder.table(topics.customers, {
    key: serdes.string(),
    value: serdes.json<Customer>(),
    materialized: { as: 'customers' },
  })
  const products = builder.globalTable(topics.products, {
    key: serdes.string(),
    value: serdes.json<Product>(),
    materialized: { as: 'products' },
  })
  const enriched = builder
    .stream(topics.orders, { key: serdes.string(), value: serdes.json<Order>() })
    // Keep the order id in the value: the key becomes the customer id.
    .map((orderId, order) => ({ key: order.customerId, value: { ...order, orderId } }))
    .join(customers, (order, customer) => ({ ...order, customer: customer.name, region: customer.region }), {
      named: 'orders-by-customer',
      value: serdes.json(),
    })
    .leftJoin(
      products,
      (_customerId, order) => order.productId,
      (order, product): EnrichedOrder => ({
        orderId: order.orderId,
        customer: order.customer,
        region: order.region,
        product: product?.name ?? 'unknown',
        quantity: order.quantity,
        totalCents: product ? product.priceCents * order.quantity : 0,
      }),
      { named: 'with-product' },
    )
  enriched
    .selectKey((_customerId, order) => order.orderId, { named: 'by-order-id' })
    .to(topics.enriched, { key: serdes.string(), value: serdes.json<EnrichedOrder>() })
  enriched
    .groupBy((_customerId, order) => order.region, {
      named: 'orders-by-region',
      key: serdes.string(),
      value: serdes.json<EnrichedOrder>(),
    })
    .windowedBy(tumblingWindows({ sizeMs: topics.windowMs ?? 3_600_000, graceMs: topics.graceMs ?? 300_000 }))
    .aggregate(
      () => 0,
      (_region, order, total) => total + order.totalCents,
      { as: 'revenue-per-region', value: serdes.float64() },
    )
    .toStream()
    .to(topics.revenue, { key: revenueKeySerde, value: serdes.float64() })
  return builder.build()
}
