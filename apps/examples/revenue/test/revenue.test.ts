import { serdes } from '@kstreams/core'
import { TopologyTestDriver } from '@kstreams/core/testing'
import { expect, it } from 'vitest'
import { buildRevenueTopology, type Order, revenueKeySerde } from '../src/index.js'

const iso = (text: string) => Date.parse(text)

it('sums revenue per Berlin calendar day, including the 23-hour DST day, and per New York month', async () => {
  const driver = new TopologyTestDriver(
    buildRevenueTopology({
      ordersTopic: 'orders',
      dailyTopic: 'daily',
      monthlyTopic: 'monthly',
      emit: 'final',
      graceMs: 0,
    }),
  )
  const orders = driver.createInputTopic('orders', serdes.string(), serdes.json<Order>())
  const daily = driver.createOutputTopic('daily', revenueKeySerde, serdes.float64())
  const monthly = driver.createOutputTopic('monthly', revenueKeySerde, serdes.float64())
  // 2026-03-29 in Berlin runs from 2026-03-28T23:00Z to 2026-03-29T22:00Z (clocks go forward).
  await orders.pipeInput('shop-1', { amountCents: 1000 }, iso('2026-03-28T22:59:59Z')) // 23:59:59 on the 28th
  await orders.pipeInput('shop-1', { amountCents: 250 }, iso('2026-03-28T23:00:00Z')) // 00:00 on the 29th
  await orders.pipeInput('shop-1', { amountCents: 500 }, iso('2026-03-29T21:59:00Z')) // 23:59 CEST on the 29th
  await orders.pipeInput('shop-1', { amountCents: 70 }, iso('2026-03-29T22:00:00Z')) // 00:00 on the 30th
  // Closing both days above needs stream time past 2026-03-30T22:00Z.
  await orders.pipeInput('shop-2', { amountCents: 1 }, iso('2026-04-01T05:00:00Z')) // April in New York too
  const days = daily
    .readKeyValues()
    .map(([key, cents]) => [
      key.key,
      new Date(key.window.start).toISOString(),
      (key.window.end - key.window.start) / 3_600_000,
      cents,
    ])
  expect(days).toEqual([
    ['shop-1', '2026-03-27T23:00:00.000Z', 24, 1000],
    ['shop-1', '2026-03-28T23:00:00.000Z', 23, 750],
    ['shop-1', '2026-03-29T22:00:00.000Z', 24, 70],
  ])
  // March in New York: 2026-03-01T05:00Z to 2026-04-01T04:00Z (EST to EDT).
  expect(monthly.readKeyValues()).toEqual([
    [
      { key: 'shop-1', window: { start: iso('2026-03-01T05:00:00Z'), end: iso('2026-04-01T04:00:00Z') } },
      1820,
    ],
  ])
  await driver.close()
})
