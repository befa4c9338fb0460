import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  type KeyValueStore,
  StreamsBuilder,
  serdes,
  silentLogger,
  type Topology,
} from '../../src/index.js'

function start(topology: Topology, applicationId: string) {
  const app = createApp(topology, {
    applicationId,
    bootstrapServers: endpoints.kafkaBootstrapServers,
    onFatalError: () => {},
    commitIntervalMs: 200,
    handleSignals: false,
    logger: silentLogger,
  })
  onTestFinished(() => app.close())
  return app
}

/** The last value read for each key. */
function latest(messages: ReadMessage[]): Map<string, string | null> {
  const last = new Map<string, string | null>()
  for (const message of messages) last.set(message.key!, message.value)
  return last
}

describe('joins on a real broker', () => {
  it('a global table is restored from every partition of its topic before start() resolves, then follows the topic', async () => {
    const [products, orders, output] = await createTestTopics(
      { prefix: 'global-products', partitions: 3 },
      { prefix: 'global-orders', partitions: 2 },
      { prefix: 'global-out', partitions: 2 },
    )
    const count = 300
    await produceStrings(
      products!,
      Array.from({ length: count }, (_, index) => ({ key: `p${index}`, value: `product-${index}` })),
    )
    const builder = new StreamsBuilder({ logger: silentLogger })
    const table = builder.globalTable(products!, {
      key: serdes.string(),
      value: serdes.string(),
      materialized: { as: 'products' },
    })
    builder
      .stream(orders!, { key: serdes.string(), value: serdes.string() })
      .leftJoin(
        table,
        (_order, product) => product,
        (product, name) => `${product}=${name}`,
      )
      .to(output!, { value: serdes.string() })
    const app = start(builder.build(), uniqueName('global-table'))
    await app.start()
    // Filled before start() resolved: before this instance could process a single order.
    const store = app.getStore<KeyValueStore<string, string>>('products', 0)!
    expect(await store.approximateCount()).toBe(count)
    await produceStrings(
      orders!,
      Array.from({ length: count }, (_, index) => ({ key: `o${index}`, value: `p${index}` })),
    )
    const joined = await readTopicUntil(output!, (read) => read.length >= count, 60_000)
    expect(joined.filter((message) => message.value?.endsWith('=null'))).toEqual([])
    // An update of the topic reaches the store in the background, and later orders see it.
    await produceStrings(products!, [{ key: 'p-new', value: 'fresh' }])
    const deadline = Date.now() + 60_000
    while ((await store.get('p-new')) !== 'fresh') {
      if (Date.now() > deadline) throw new Error('the global store did not see the update')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await produceStrings(orders!, [{ key: 'late', value: 'p-new' }])
    const after = await readTopicUntil(
      output!,
      (read) => read.some((message) => message.key === 'late'),
      60_000,
    )
    expect(after.find((message) => message.key === 'late')?.value).toBe('p-new=fresh')
  })

  it('a foreign-key join of tables with different partition counts, through its subscription and response topics', async () => {
    const [orders, customers, output] = await createTestTopics(
      { prefix: 'fk-orders', partitions: 3 },
      { prefix: 'fk-customers', partitions: 2 },
      { prefix: 'fk-out', partitions: 3 },
    )
    const applicationId = uniqueName('fk-join')
    deleteTopicsWhenTestEnds(
      `${applicationId}-oc-subscription-registration-topic`,
      `${applicationId}-oc-subscription-response-topic`,
      `${applicationId}-oc-subscription-store-changelog`,
      `${applicationId}-oc-right-timestamps-changelog`,
      `${applicationId}-oc-results-changelog`,
      `${applicationId}-orders-changelog`,
      `${applicationId}-customers-changelog`,
    )
    const builder = new StreamsBuilder({ logger: silentLogger })
    const orderTable = builder.table(orders!, {
      key: serdes.string(),
      value: serdes.json<{ customer: string; total: number }>(),
      materialized: { as: 'orders' },
    })
    const customerTable = builder.table(customers!, {
      key: serdes.string(),
      value: serdes.string(),
      materialized: { as: 'customers' },
    })
    orderTable
      .join(
        customerTable,
        (order) => order.customer,
        (order, name) => `${name}:${order.total}`,
        { named: 'oc' },
      )
      .toStream()
      .to(output!, { value: serdes.string() })
    const app = start(builder.build(), applicationId)
    await app.start()
    const customerCount = 20
    const orderCount = 200
    await produceStrings(
      customers!,
      Array.from({ length: customerCount }, (_, index) => ({ key: `c${index}`, value: `name-${index}` })),
    )
    await produceStrings(
      orders!,
      Array.from({ length: orderCount }, (_, index) => ({
        key: `o${index}`,
        value: JSON.stringify({ customer: `c${index % customerCount}`, total: index }),
      })),
    )
    // Every order joined its customer, though the topics are not co-partitioned.
    await readTopicUntil(output!, (read) => latest(read).size === orderCount, 120_000)
    // A customer renamed: every order that names it is updated.
    await produceStrings(customers!, [{ key: 'c3', value: 'renamed' }])
    const expected = (index: number) =>
      `${index % customerCount === 3 ? 'renamed' : `name-${index % customerCount}`}:${index}`
    const messages = await readTopicUntil(
      output!,
      (read) => {
        const last = latest(read)
        return Array.from({ length: orderCount }, (_, index) => index).every(
          (index) => last.get(`o${index}`) === expected(index),
        )
      },
      120_000,
    )
    expect(latest(messages).get('o3')).toBe('renamed:3')
  })
})
