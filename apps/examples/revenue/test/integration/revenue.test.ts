import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createApp, type KStreamsApp, silentLogger } from '@kstreams/core'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import { buildRevenueTopology, revenueKeySerde } from '../../src/index.js'

const iso = (text: string) => Date.parse(text)

/** The latest total per (shop, window start) in the daily topic. */
function totals(messages: ReadMessage[]): Map<string, number> {
  const latest = new Map<string, number>()
  for (const message of messages) {
    const key = revenueKeySerde.deserialize(message.keyBytes!, { topic: '', target: 'key', headers: [] })
    latest.set(`${key.key}@${new Date(key.window.start).toISOString()}`, message.valueBytes!.readDoubleBE())
  }
  return latest
}

it('keeps window state across a restart: the new instance restores it from the changelog', async () => {
  const [ordersTopic, dailyTopic, monthlyTopic] = await createTestTopics(
    { prefix: 'orders', partitions: 2 },
    { prefix: 'daily', partitions: 2 },
    { prefix: 'monthly', partitions: 2 },
  )
  const applicationId = uniqueName('revenue')
  deleteTopicsWhenTestEnds(
    `${applicationId}-daily-revenue-changelog`,
    `${applicationId}-monthly-revenue-changelog`,
  )
  const topology = buildRevenueTopology({
    ordersTopic: ordersTopic!,
    dailyTopic: dailyTopic!,
    monthlyTopic: monthlyTopic!,
  })
  const start = (): KStreamsApp => {
    const app = createApp(topology, {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      // A failure is asserted through done(), not by exiting the test process.
      onFatalError: () => {},
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
    })
    onTestFinished(() => app.close())
    return app
  }
  const order = (shop: string, cents: number, at: string) => ({
    key: shop,
    value: JSON.stringify({ amountCents: cents }),
    timestamp: iso(at),
  })
  await produceStrings(ordersTopic!, [
    order('shop-1', 100, '2026-10-25T10:00:00Z'),
    order('shop-1', 200, '2026-10-25T20:00:00Z'),
    order('shop-2', 5, '2026-10-25T12:00:00Z'),
  ])
  const first = start()
  await first.start()
  await readTopicUntil(dailyTopic!, (read) => read.length >= 3, 60_000)
  await first.close()

  const restored: number[] = []
  const onRestore = (message: unknown) => {
    const event = message as { phase: string; store: string; records: number }
    if (event.phase === 'end' && event.store === 'daily-revenue') restored.push(event.records)
  }
  subscribe('kstreams:restore', onRestore)
  onTestFinished(() => {
    unsubscribe('kstreams:restore', onRestore)
  })
  // In-memory window stores: a new instance has nothing but the changelog.
  await produceStrings(ordersTopic!, [order('shop-1', 300, '2026-10-25T22:30:00Z')])
  const second = start()
  await second.start()
  const key = 'shop-1@2026-10-24T22:00:00.000Z'
  const messages = await readTopicUntil(dailyTopic!, (read) => totals(read).get(key) === 600, 60_000)
  // 2026-10-25 in Berlin lasts 25 hours: 22:30Z is still that day (23:30 CET).
  expect(totals(messages).get(key)).toBe(600)
  expect(totals(messages).get('shop-2@2026-10-24T22:00:00.000Z')).toBe(5)
  expect(restored.reduce((sum, records) => sum + records, 0)).toBeGreaterThan(0)
  console.info(
    `window restore: ${restored.reduce((sum, records) => sum + records, 0)} changelog record(s) restored for daily-revenue`,
  )
})
