// The DSL's automatic repartitioning on a real broker, across two instances: records re-keyed by
// selectKey go through `<applicationId>-<name>-repartition` (created at start with the source's
// partition count), so all records of one new key meet in one task, whichever instance read them.
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import { createApp, StreamsBuilder, serdes, silentLogger } from '../../src/index.js'
import { until } from '../until.js'

it('repartitions by the new key across two instances: each key is counted in one task', async () => {
  const [input, output] = await createTestTopics(
    { prefix: 'dsl-orders', partitions: 4 },
    { prefix: 'dsl-per-customer', partitions: 4 },
  )
  const applicationId = uniqueName('dsl-repartition')
  deleteTopicsWhenTestEnds(
    `${applicationId}-orders-by-customer-repartition`,
    `${applicationId}-orders-per-customer-changelog`,
  )
  const builder = new StreamsBuilder({ logger: silentLogger })
  builder
    .stream(input!, { key: serdes.string(), value: serdes.string() })
    // Orders are keyed by order id; the value is "<customer>:<amount>".
    .selectKey((_orderId, value) => value.split(':')[0]!, { named: 'by-customer' })
    .groupByKey({ named: 'orders-by-customer', key: serdes.string() })
    .count({ as: 'orders-per-customer', named: 'count' })
    .toStream({ named: 'updates' })
    .mapValues((count) => BigInt(count ?? 0), { named: 'as-long' })
    .to(output!, { value: serdes.int64(), named: 'out' })
  const topology = builder.build()
  const start = () => {
    const app = createApp(topology, {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    onTestFinished(() => app.close())
    return app
  }
  const first = start()
  await first.start()
  const second = start()
  await second.start()
  await until(() => first.assignment().length > 0 && second.assignment().length > 0, 90_000)

  const customers = 40
  const perCustomer = 25
  const orders = Array.from({ length: customers * perCustomer }, (_, index) => ({
    key: `order-${index}`,
    value: `customer-${index % customers}:${index}`,
  }))
  await produceStrings(input!, orders)
  const finalCounts = (messages: Array<{ key: string | null; valueBytes: Buffer | null }>) => {
    const counts = new Map<string, bigint>()
    for (const message of messages) {
      const count = message.valueBytes!.readBigInt64BE()
      if (count > (counts.get(message.key!) ?? 0n)) counts.set(message.key!, count)
    }
    return counts
  }
  const messages = await readTopicUntil(
    output!,
    (read) => {
      const counts = finalCounts(read)
      return counts.size === customers && [...counts.values()].every((count) => count >= BigInt(perCustomer))
    },
    120_000,
  )
  // Split across tasks, a customer's count would stop short in each; one task counts all of them.
  for (const [customer, count] of finalCounts(messages)) expect(count, customer).toBe(BigInt(perCustomer))
  const owners = [first, second].map((app) => app.assignment().length)
  expect(owners.every((count) => count > 0)).toBe(true)
  console.info(
    `dsl repartition: ${orders.length} orders of ${customers} customers over 4 partitions, two instances owning ${owners.join(' and ')} partition(s); ${messages.length} count updates, every final count exact`,
  )
})
