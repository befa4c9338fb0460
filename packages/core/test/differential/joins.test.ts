// Differential tests of the joins against Kafka Streams' documented results: the same topologies,
// fed the same inputs, must give the outputs the Kafka Streams sources below state. Where Kafka
// Streams' result depends on its record cache or on timing, the comparison says so and compares
// the final table. The test driver commits after every record, as Kafka Streams' driver does.
import { describe, expect, it } from 'vitest'
import {
  hoppingWindows,
  joinWindows,
  type KeyValueStore,
  serdes,
  type WindowedKey,
  windowedKeySerde,
} from '../../src/index.js'
import { builder, number, ordersAndCustomers, string, withDriver } from '../dsl/helpers.js'

const pair = (left: string | null, right: string | null) => `${left} - ${right}`

// The inputs of the wiki page "Kafka Streams Join Semantics"
// (https://cwiki.apache.org/confluence/display/KAFKA/Kafka+Streams+Join+Semantics): one key, each
// record as timestamp:value, processed in timestamp order; null is a null value (a tombstone for tables).
const LEFT: Array<[number, string | null]> = [
  [1, null],
  [3, 'A'],
  [5, 'B'],
  [7, null],
  [9, 'C'],
  [12, null],
  [15, 'D'],
]
const RIGHT: Array<[number, string | null]> = [
  [2, null],
  [4, 'a'],
  [6, 'b'],
  [8, null],
  [10, 'c'],
  [11, null],
  [13, null],
  [14, 'd'],
]

/** Both inputs merged in timestamp order, as [side, timestamp, value]. */
function inOrder(
  left: Array<[number, string | null]>,
  right: Array<[number, string | null]>,
): Array<['left' | 'right', number, string | null]> {
  const all = [
    ...left.map(([time, value]) => ['left', time, value] as ['left', number, string | null]),
    ...right.map(([time, value]) => ['right', time, value] as ['right', number, string | null]),
  ]
  return all.sort((a, b) => a[1] - b[1])
}

describe('KStream–KStream join: the wiki\'s "Improved left/outer stream-stream join (v3.1.x and newer)" table', () => {
  // All records of 1..15 lie in one join window (15 ms apart at most, grace 0). The table's tail
  // (E at 40, F at 60, f at 80, G at 100) shows left/outer results emitted once a window closed.
  const left = [...LEFT, [40, 'E'], [60, 'F'], [100, 'G']] as Array<[number, string | null]>
  const right = [...RIGHT, [80, 'f']] as Array<[number, string | null]>
  const expected = {
    // timestamp of the record that caused them → results, as the table lists them
    inner: [
      '4:A - a',
      '5:B - a',
      '6:A - b',
      '6:B - b',
      '9:C - a',
      '9:C - b',
      '10:A - c',
      '10:B - c',
      '10:C - c',
      '14:A - d',
      '14:B - d',
      '14:C - d',
      '15:D - a',
      '15:D - b',
      '15:D - c',
      '15:D - d',
    ],
    left: ['60:E - null', '80:F - null'],
    outer: ['60:E - null', '80:F - null', '100:null - f'],
  }

  for (const type of ['inner', 'left', 'outer'] as const) {
    it(`${type} join`, async () => {
      const { builder: streams } = builder()
      const a = streams.stream('left', { key: string, value: string })
      const b = streams.stream('right', { key: string, value: string })
      const windows = joinWindows(15)
      const joined =
        type === 'inner'
          ? a.join(b, pair, windows, { named: 'j' })
          : type === 'left'
            ? a.leftJoin(b, pair, windows, { named: 'j' })
            : a.outerJoin(b, pair, windows, { named: 'j' })
      joined.to('out', { value: string })
      await withDriver(streams.build(), async (driver) => {
        const inputs = {
          left: driver.createInputTopic('left', string, string),
          right: driver.createInputTopic('right', string, string),
        }
        const output = driver.createOutputTopic('out', string, string)
        const results: string[] = []
        for (const [side, time, value] of inOrder(left, right)) {
          await inputs[side].pipeInput('k', value as string, time)
          // The time of the input that caused each result (a result's own timestamp is the larger
          // of its records', or, with null, its record's: the table lists results by cause).
          for (const record of output.readRecords()) results.push(`${time}:${record.value}`)
        }
        const wanted = type === 'inner' ? expected.inner : [...expected.inner, ...expected[type]]
        expect(results).toEqual(wanted)
      })
    })
  }
})

describe('KTable–KTable join: the wiki\'s "KTable-KTable Join (v2.x and newer)" table', () => {
  // The table assumes no record cache (each update is forwarded), which the driver gives with a
  // 0-byte cache. "null" in the table is a tombstone result; "X - null" a result with one side.
  const expected = {
    inner: ['4:A - a', '5:B - a', '6:B - b', '7:null', '10:C - c', '11:null', '15:D - d'],
    left: [
      '3:A - null',
      '4:A - a',
      '5:B - a',
      '6:B - b',
      '7:null',
      '9:C - null',
      '10:C - c',
      '11:C - null',
      '12:null',
      '15:D - d',
    ],
    outer: [
      '3:A - null',
      '4:A - a',
      '5:B - a',
      '6:B - b',
      '7:null - b',
      '8:null',
      '9:C - null',
      '10:C - c',
      '11:C - null',
      '12:null',
      '14:null - d',
      '15:D - d',
    ],
  }

  for (const type of ['inner', 'left', 'outer'] as const) {
    it(`${type} join`, async () => {
      const { builder: streams } = builder()
      const a = streams.table('left', {
        key: string,
        value: string,
        materialized: { as: 'left', cache: false },
      })
      const b = streams.table('right', {
        key: string,
        value: string,
        materialized: { as: 'right', cache: false },
      })
      const joined =
        type === 'inner'
          ? a.join(b, pair, { named: 'j' })
          : type === 'left'
            ? a.leftJoin(b, pair, { named: 'j' })
            : a.outerJoin(b, pair, { named: 'j' })
      joined.toStream().to('out', { value: string })
      await withDriver(streams.build(), async (driver) => {
        const inputs = {
          left: driver.createInputTopic('left', string, string),
          right: driver.createInputTopic('right', string, string),
        }
        const output = driver.createOutputTopic('out', string, string)
        const results: string[] = []
        for (const [side, time, value] of inOrder(LEFT, RIGHT)) {
          await inputs[side].pipeInput('k', value as string, time)
          for (const record of output.readRecords()) results.push(`${time}:${record.value}`)
        }
        expect(results).toEqual(expected[type])
      })
    })
  }
})

describe('page views by region (kafka-streams-examples, PageViewRegionLambdaExample)', () => {
  // Source: confluentinc/kafka-streams-examples,
  // src/main/java/io/confluent/examples/streams/PageViewRegionLambdaExample.java: page views keyed
  // by user leftJoin the user-profile table (user → region), "UNKNOWN" without a profile, re-keyed
  // by region, counted in hopping windows of 5 minutes advancing by 1 minute. Its output depends on
  // caching (how many intermediate counts are emitted), so the final count per region and window
  // is compared, as the example's integration test does.
  it('counts views per region and window; a view by a user without a profile counts as UNKNOWN', async () => {
    const MINUTE = 60_000
    const { builder: streams } = builder()
    const profiles = streams.table('user-profiles', {
      key: string,
      value: string,
      materialized: { as: 'profiles' },
    })
    streams
      .stream('page-views', { key: string, value: string })
      .leftJoin(profiles, (page, region) => ({ page, region: region ?? 'UNKNOWN' }), { named: 'view-region' })
      .map((_user, view) => ({ key: view.region, value: view.page }))
      .groupByKey({ key: string, value: string, named: 'by-region' })
      .windowedBy(hoppingWindows({ sizeMs: 5 * MINUTE, advanceMs: MINUTE }))
      .count({ as: 'views-per-region' })
      .toStream()
      .to('views-by-region', { key: windowedKeySerde(string), value: number })
    await withDriver(streams.build(), async (driver) => {
      const users = driver.createInputTopic('user-profiles', string, string)
      const views = driver.createInputTopic('page-views', string, string)
      await users.pipeInput('alice', 'asia', 0)
      await users.pipeInput('bob', 'europe', 0)
      await views.pipeInput('alice', 'index.html', 30_000)
      await views.pipeInput('bob', 'news.html', 40_000)
      await views.pipeInput('alice', 'contact.html', 50_000)
      await views.pipeInput('dave', 'about.html', 70_000)
      await users.pipeInput('bob', 'asia', 80_000)
      await views.pipeInput('bob', 'index.html', 90_000)
      const final = new Map<string, number>()
      for (const record of driver
        .createOutputTopic('views-by-region', windowedKeySerde(string), number)
        .readRecords()) {
        const key = record.key as WindowedKey<string>
        final.set(`${key.key}@${key.window.start / MINUTE}`, record.value)
      }
      // The window [0, 5) minutes holds every view: alice's two and bob's second one (his profile
      // moved to asia before it), bob's first in europe, and dave's, who has no profile.
      expect(Object.fromEntries([...final].filter(([window]) => window.endsWith('@0')))).toEqual({
        'asia@0': 3,
        'europe@0': 1,
        'UNKNOWN@0': 1,
      })
      // The window [1, 6) minutes starts after bob's first view and alice's.
      expect(final.get('UNKNOWN@1')).toBe(1)
      expect(final.get('asia@1')).toBe(1)
      expect(final.has('europe@1')).toBe(false)
    })
  })
})

describe('foreign-key join (Kafka Streams docs, "KTable-KTable Foreign-Key Join")', () => {
  // Source: the Kafka Streams developer guide, dsl-api.html#ktable-ktable-fk-join, and the wiki's
  // "KTable-KTable Foreign-Key Join (v2.4.x and newer)": a left row joins the right row its
  // extracted key names; an update of the right row updates every left row that names it; a left
  // row whose reference changes leaves its old right row. Intermediate results depend on timing
  // (subscription and response topics), so the final table is compared.
  it('orders ⋈ customers by customer id: the final joined table', async () => {
    const { builder: streams } = builder()
    const orderSerde = serdes.json<{ customer: string; total: number }>()
    const { orders, customers } = ordersAndCustomers(streams, orderSerde)
    orders.join(
      customers,
      (order) => order.customer,
      (order, name) => `${name}:${order.total}`,
      {
        named: 'order-customer',
        materialized: { as: 'orders-with-customer', value: string },
      },
    )
    await withDriver(streams.build(), async (driver) => {
      const orderInput = driver.createInputTopic('orders', string, orderSerde)
      const customerInput = driver.createInputTopic('customers', string, string)
      await customerInput.pipeInput('c1', 'alice')
      await orderInput.pipeInput('o1', { customer: 'c1', total: 10 })
      await orderInput.pipeInput('o2', { customer: 'c2', total: 20 })
      await customerInput.pipeInput('c2', 'bob')
      await orderInput.pipeInput('o3', { customer: 'c1', total: 30 })
      await customerInput.pipeInput('c1', 'alice-renamed')
      await orderInput.pipeInput('o3', { customer: 'c2', total: 31 })
      await orderInput.pipeInput('o1', null as unknown as { customer: string; total: number })
      await customerInput.pipeInput('c3', 'carol')
      const table = await driver.getStore<KeyValueStore<string, string>>('orders-with-customer')
      const rows: Record<string, string> = {}
      for await (const { key, value } of table.all()) rows[key] = value
      expect(rows).toEqual({ o2: 'bob:20', o3: 'bob:31' })
    })
  })
})
