import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  calendarWindows,
  headerValue,
  hoppingWindows,
  type Serde,
  serdes,
  sessionCount,
  sessionWindows,
  slidingAggregate,
  slidingWindows,
  stores,
  type TimeWindows,
  TopologyBuilder,
  tumblingWindows,
  type Window,
  type WindowedKey,
  type WindowStore,
  windowedCount,
  windowedKeySerde,
} from '../src/index.js'
import { TopologyTestDriver } from '../src/testing/index.js'

const iso = (text: string) => Date.parse(text)
const span = (window: Window) => (window.end - window.start) / 3_600_000
const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata']
const timestamps = fc.integer({ min: iso('1990-01-01T00:00:00Z'), max: iso('2060-01-01T00:00:00Z') })

function only(windows: TimeWindows, timestamp: number): Window {
  const found = windows.windowsFor(timestamp)
  expect(found).toHaveLength(1)
  return found[0]!
}

describe('window assignment (property-based)', () => {
  it('tumbling and hopping: exactly the aligned windows that contain the timestamp', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e12, max: 1e13 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 10 }),
        (timestamp, advance, factor) => {
          const size = advance * factor
          const windows = hoppingWindows({ sizeMs: size, advanceMs: advance }).windowsFor(timestamp)
          const expected: Window[] = []
          for (
            let start = Math.floor(timestamp / advance) * advance;
            start > timestamp - size;
            start -= advance
          ) {
            expected.unshift({ start, end: start + size })
          }
          expect(windows).toEqual(expected)
          for (const window of windows) expect(window.start <= timestamp && timestamp < window.end).toBe(true)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('calendar: every timestamp is in exactly one window, and neighbours share their boundary', () => {
    fc.assert(
      fc.property(
        timestamps,
        fc.constantFrom(...zones),
        fc.constantFrom('day', 'week', 'month', 'quarter', 'year' as const),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom('00:00', '06:00', '02:30', '23:45'),
        (timestamp, zone, unit, every, startTime) => {
          const windows = calendarWindows({ unit, every, zone, startTime })
          const window = only(windows, timestamp)
          expect(window.start <= timestamp && timestamp < window.end).toBe(true)
          // Fresh instances (no cache) agree at both ends, and the next window starts at this end.
          expect(only(calendarWindows({ unit, every, zone, startTime }), window.start)).toEqual(window)
          expect(only(calendarWindows({ unit, every, zone, startTime }), window.end - 1)).toEqual(window)
          expect(only(calendarWindows({ unit, every, zone, startTime }), window.end).start).toBe(window.end)
          const hours = span(window)
          const days = { day: 1, week: 7, month: 31, quarter: 92, year: 366 }[unit] * every
          expect(hours).toBeGreaterThan(0)
          expect(hours).toBeLessThanOrEqual(days * 24 + 1)
        },
      ),
      { numRuns: 400 },
    )
  })
})

describe('calendar windows, checked by hand', () => {
  const day = (zone: string, startTime?: string) => calendarWindows({ unit: 'day', zone, startTime })

  it('has 23- and 25-hour days across DST changes in Europe/Berlin', () => {
    expect(only(day('Europe/Berlin'), iso('2026-03-29T12:00:00Z'))).toEqual({
      start: iso('2026-03-28T23:00:00Z'),
      end: iso('2026-03-29T22:00:00Z'),
    })
    expect(span(only(day('Europe/Berlin'), iso('2026-03-29T12:00:00Z')))).toBe(23)
    expect(only(day('Europe/Berlin'), iso('2026-10-25T12:00:00Z'))).toEqual({
      start: iso('2026-10-24T22:00:00Z'),
      end: iso('2026-10-25T23:00:00Z'),
    })
    expect(span(only(day('Europe/Berlin'), iso('2026-06-01T12:00:00Z')))).toBe(24)
  })

  it('has 23- and 25-hour days in America/New_York', () => {
    expect(only(day('America/New_York'), iso('2026-03-08T12:00:00Z'))).toEqual({
      start: iso('2026-03-08T05:00:00Z'),
      end: iso('2026-03-09T04:00:00Z'),
    })
    expect(only(day('America/New_York'), iso('2026-11-01T12:00:00Z'))).toEqual({
      start: iso('2026-11-01T04:00:00Z'),
      end: iso('2026-11-02T05:00:00Z'),
    })
  })

  it('has 24.5- and 23.5-hour days in Australia/Lord_Howe (a 30-minute shift)', () => {
    expect(only(day('Australia/Lord_Howe'), iso('2026-04-05T06:00:00Z'))).toEqual({
      start: iso('2026-04-04T13:00:00Z'),
      end: iso('2026-04-05T13:30:00Z'),
    })
    expect(only(day('Australia/Lord_Howe'), iso('2026-10-04T06:00:00Z'))).toEqual({
      start: iso('2026-10-03T13:30:00Z'),
      end: iso('2026-10-04T13:00:00Z'),
    })
  })

  it('has only 24-hour days in Asia/Kolkata (no DST, +05:30)', () => {
    expect(only(day('Asia/Kolkata'), iso('2026-03-29T12:00:00Z'))).toEqual({
      start: iso('2026-03-28T18:30:00Z'),
      end: iso('2026-03-29T18:30:00Z'),
    })
  })

  it('has months of 28 to 31 days, leap years included', () => {
    const month = (zone: string) => calendarWindows({ unit: 'month', zone })
    expect(only(month('Europe/Berlin'), iso('2026-03-15T00:00:00Z'))).toEqual({
      start: iso('2026-02-28T23:00:00Z'),
      end: iso('2026-03-31T22:00:00Z'),
    })
    expect(span(only(month('Europe/Berlin'), iso('2026-02-15T00:00:00Z'))) / 24).toBe(28)
    expect(span(only(month('Europe/Berlin'), iso('2028-02-15T00:00:00Z'))) / 24).toBe(29)
    expect(span(only(month('Europe/Berlin'), iso('2100-02-15T00:00:00Z'))) / 24).toBe(28)
    expect(span(only(month('Europe/Berlin'), iso('2000-02-15T00:00:00Z'))) / 24).toBe(29)
    expect(only(month('America/New_York'), iso('2026-11-15T00:00:00Z'))).toEqual({
      start: iso('2026-11-01T04:00:00Z'),
      end: iso('2026-12-01T05:00:00Z'),
    })
    // A month boundary: the last instant of January and the first of February in New York.
    expect(only(month('America/New_York'), iso('2026-02-01T04:59:59.999Z')).end).toBe(
      iso('2026-02-01T05:00:00Z'),
    )
    expect(only(month('America/New_York'), iso('2026-02-01T05:00:00Z')).start).toBe(
      iso('2026-02-01T05:00:00Z'),
    )
    expect(
      only(calendarWindows({ unit: 'quarter', zone: 'Asia/Kolkata' }), iso('2026-05-20T00:00:00Z')),
    ).toEqual({
      start: iso('2026-03-31T18:30:00Z'),
      end: iso('2026-06-30T18:30:00Z'),
    })
    expect(
      only(calendarWindows({ unit: 'year', zone: 'Europe/Berlin' }), iso('2026-07-01T00:00:00Z')),
    ).toEqual({
      start: iso('2025-12-31T23:00:00Z'),
      end: iso('2026-12-31T23:00:00Z'),
    })
  })

  it('starts weeks on the chosen weekday and days at the chosen time', () => {
    const week = calendarWindows({ unit: 'week', zone: 'Europe/Berlin', weekStart: 'monday' })
    // Sunday 2026-03-29 belongs to the week of Monday 2026-03-23; that week lost an hour.
    expect(only(week, iso('2026-03-29T12:00:00Z'))).toEqual({
      start: iso('2026-03-22T23:00:00Z'),
      end: iso('2026-03-29T22:00:00Z'),
    })
    const sundayWeek = calendarWindows({ unit: 'week', zone: 'Europe/Berlin', weekStart: 'sunday' })
    expect(only(sundayWeek, iso('2026-03-29T12:00:00Z')).start).toBe(iso('2026-03-28T23:00:00Z'))
    // 05:00 local on 2026-03-29 is before 06:00: it belongs to the business day of the 28th (23 h).
    expect(only(day('Europe/Berlin', '06:00'), iso('2026-03-29T03:00:00Z'))).toEqual({
      start: iso('2026-03-28T05:00:00Z'),
      end: iso('2026-03-29T04:00:00Z'),
    })
  })

  it('moves a start in a DST gap forward by the gap, and takes the first of an overlap', () => {
    // 02:30 does not exist in Berlin on 2026-03-29; that boundary becomes 03:30 CEST (01:30Z).
    const gap = day('Europe/Berlin', '02:30')
    expect(only(gap, iso('2026-03-29T01:15:00Z'))).toEqual({
      start: iso('2026-03-28T01:30:00Z'),
      end: iso('2026-03-29T01:30:00Z'),
    })
    // 02:30 happens twice on 2026-10-25; the boundary is the first, 02:30 CEST (00:30Z).
    expect(only(gap, iso('2026-10-25T00:45:00Z'))).toEqual({
      start: iso('2026-10-25T00:30:00Z'),
      end: iso('2026-10-26T01:30:00Z'),
    })
  })

  it('rejects a zone that does not exist, naming the option', () => {
    expect(() => calendarWindows({ unit: 'day', zone: 'Mars/Olympus' })).toThrow(
      /option "zone" must be an IANA time zone/,
    )
    expect(() => calendarWindows({ unit: 'day', zone: 'UTC', startTime: '25:00' })).toThrow(/"startTime"/)
    expect(() => hoppingWindows({ sizeMs: 10, advanceMs: 20 })).toThrow(/"advanceMs"/)
  })
})

/** source → windowed count (store "counts") → sink "out" (+ optional late sink). */
function countTopology(processor: ReturnType<typeof windowedCount<string, string>>, withLateSink = false) {
  let builder = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.window('counts', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
    .addProcessor('count', { parents: ['in'], stores: ['counts'] }, processor)
    .addSink('out', {
      topic: 'out',
      keySerde: windowedKeySerde(serdes.string()),
      valueSerde: serdes.int32(),
      parents: ['count'],
    })
  if (withLateSink) {
    // The late child receives input records (string, string), not windowed results.
    builder = builder.addSink('late', {
      topic: 'late',
      keySerde: serdes.string() as unknown as Serde<WindowedKey<string>>,
      valueSerde: serdes.string() as unknown as Serde<number>,
      parents: ['count'],
    })
  }
  return builder.build()
}

describe('windowed aggregations', () => {
  it('counts per key and window, emitting every update', async () => {
    const driver = new TopologyTestDriver(
      countTopology(windowedCount({ windows: tumblingWindows({ sizeMs: 10 }), store: 'counts' })),
    )
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    const output = driver.createOutputTopic('out', windowedKeySerde(serdes.string()), serdes.int32())
    await input.pipeInput('a', 'x', 1)
    await input.pipeInput('a', 'x', 9)
    await input.pipeInput('b', 'x', 5)
    await input.pipeInput('a', 'x', 10)
    expect(output.readKeyValues()).toEqual([
      [{ key: 'a', window: { start: 0, end: 10 } }, 1],
      [{ key: 'a', window: { start: 0, end: 10 } }, 2],
      [{ key: 'b', window: { start: 0, end: 10 } }, 1],
      [{ key: 'a', window: { start: 10, end: 20 } }, 1],
    ])
    const store = await driver.getStore<WindowStore<string, number>>('counts')
    const windows: Array<[number, number]> = []
    for await (const entry of store.fetch('a', 0, 100)) windows.push([entry.window.start, entry.value])
    expect(windows).toEqual([
      [0, 2],
      [10, 1],
    ])
    const reversed: number[] = []
    for await (const entry of store.fetch('a', 0, 100, { reverse: true })) reversed.push(entry.window.start)
    expect(reversed).toEqual([10, 0])
    const all: string[] = []
    for await (const entry of store.fetchAll(0, 5)) all.push(`${entry.key}@${entry.window.start}`)
    expect(all).toEqual(['a@0', 'b@0'])
    await driver.close()
  })

  it('writes one entry per update of an existing window: the end-time index only when the window is new, and again after it was deleted', async () => {
    const driver = new TopologyTestDriver(
      countTopology(windowedCount({ windows: tumblingWindows({ sizeMs: 10 }), store: 'counts' })),
      { applicationId: 'wc' },
    )
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    await input.pipeInput('a', 'x', 1)
    await input.pipeInput('a', 'x', 2)
    await input.pipeInput('a', 'x', 3)
    // One byte of schema: 0x00 the window, 0x01 its end-time index entry.
    const kinds = () => driver.producedRecords('wc-counts-changelog').map((record) => record.key![0])
    expect(kinds()).toEqual([0, 1, 0, 0])
    const store = await driver.getStore<WindowStore<string, number>>('counts')
    await store.delete('a', { start: 0, end: 10 })
    await store.put('a', { start: 0, end: 10 }, 7)
    await store.flush()
    // The delete and the put merge in the cache: the window and its index entry once each.
    expect(kinds()).toEqual([0, 1, 0, 0, 0, 1])
    const ending: number[] = []
    for await (const entry of store.endingBy(10)) ending.push(entry.value)
    expect(ending).toEqual([7])
    await driver.close()
  })

  it('an update of a cached window (the synchronous path) is logged and forwarded with its own record', async () => {
    const driver = new TopologyTestDriver(
      countTopology(windowedCount({ windows: tumblingWindows({ sizeMs: 10 }), store: 'counts' })),
      { applicationId: 'wc' },
    )
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    const output = driver.createOutputTopic('out', windowedKeySerde(serdes.string()), serdes.int32())
    for (const [key, timestamp] of [
      ['a', 1],
      ['a', 4],
      ['b', 5],
      ['a', 7],
    ] as const)
      await input.pipeInput(key, 'x', timestamp)
    const logged = driver
      .producedRecords('wc-counts-changelog')
      .filter((record) => record.key![0] === 0)
      .map((record) => [
        record.timestamp,
        new TextDecoder().decode(headerValue(record.headers!, 'kstreams.input.offset')),
      ])
    expect(logged).toEqual([
      [1, '0'],
      [4, '1'],
      [5, '2'],
      [7, '3'],
    ])
    expect(output.readRecords().map((record) => [record.key.key, record.value, record.timestamp])).toEqual([
      ['a', 1, 1],
      ['a', 2, 4],
      ['b', 1, 5],
      ['a', 3, 7],
    ])
    await driver.close()
  })

  it('drops late records after the grace period, or forwards them to the late child', async () => {
    const late = windowedCount<string, string>({
      windows: tumblingWindows({ sizeMs: 10, graceMs: 5 }),
      store: 'counts',
      late: { forwardTo: 'late' },
    })
    const driver = new TopologyTestDriver(countTopology(late, true))
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    const output = driver.createOutputTopic('out', windowedKeySerde(serdes.string()), serdes.int32())
    const lateOutput = driver.createOutputTopic('late', serdes.string(), serdes.string())
    await input.pipeInput('a', 'first', 0)
    await input.pipeInput('a', 'later', 12)
    // Stream time 12: window [0, 10) closes at 15, so a record at 3 still counts.
    await input.pipeInput('a', 'in-grace', 3)
    await input.pipeInput('a', 'advance', 21)
    await input.pipeInput('a', 'too-late', 4)
    expect(output.readKeyValues().filter(([key]) => key.window.start === 0)).toEqual([
      [{ key: 'a', window: { start: 0, end: 10 } }, 1],
      [{ key: 'a', window: { start: 0, end: 10 } }, 2],
    ])
    expect(lateOutput.readKeyValues()).toEqual([['a', 'too-late']])
    await driver.close()
  })

  it('emits each window exactly once when it closes, by stream time or by the wall clock', async () => {
    const final = windowedCount<string, string>({
      windows: hoppingWindows({ sizeMs: 10, advanceMs: 5, graceMs: 2 }),
      store: 'counts',
      emit: 'final',
      closeOnWallClockMs: 1000,
    })
    const driver = new TopologyTestDriver(countTopology(final), { initialWallClockMs: 0 })
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    const output = driver.createOutputTopic('out', windowedKeySerde(serdes.string()), serdes.int32())
    for (const timestamp of [1, 4, 6]) await input.pipeInput('a', 'x', timestamp)
    expect(output.readKeyValues()).toEqual([])
    // Stream time 8 closes [-5, 5): its end 5 plus grace 2 has passed.
    await input.pipeInput('a', 'x', 8)
    expect(output.readKeyValues()).toEqual([[{ key: 'a', window: { start: -5, end: 5 } }, 2]])
    await input.pipeInput('a', 'x', 12)
    expect(output.readKeyValues()).toEqual([[{ key: 'a', window: { start: 0, end: 10 } }, 4]])
    await input.pipeInput('a', 'x', 13)
    await input.pipeInput('a', 'x', 2) // late for both its windows: dropped, nothing re-emitted
    await input.pipeInput('a', 'x', 14)
    expect(output.readKeyValues()).toEqual([])
    // Input stops before [5, 15) and [10, 20) close by stream time; the wall clock closes them.
    await driver.advanceWallClockTime(1000)
    expect(output.readKeyValues()).toEqual([
      [{ key: 'a', window: { start: 5, end: 15 } }, 5],
      [{ key: 'a', window: { start: 10, end: 20 } }, 3],
    ])
    // Stream time is still 14, but [5, 15) closed by the wall clock stays closed: no second result.
    await input.pipeInput('a', 'x', 9)
    await driver.advanceWallClockTime(5000)
    expect(output.readKeyValues()).toEqual([])
    await driver.close()
  })

  it('merges sessions when a record falls within the gap of several', async () => {
    const topology = new TopologyBuilder()
      .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addStore(stores.window('sessions', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
      .addProcessor(
        'sessions',
        { parents: ['in'], stores: ['sessions'] },
        sessionCount<string, string>({
          windows: sessionWindows({ inactivityGapMs: 15, graceMs: 20 }),
          store: 'sessions',
        }),
      )
      .addSink('out', {
        topic: 'out',
        keySerde: windowedKeySerde(serdes.string()),
        valueSerde: serdes.int32(),
        parents: ['sessions'],
      })
      .build()
    const driver = new TopologyTestDriver(topology)
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    const output = driver.createOutputTopic('out', windowedKeySerde(serdes.string()), serdes.int32())
    await input.pipeInput('k', 'x', 0)
    await input.pipeInput('k', 'x', 5)
    await input.pipeInput('k', 'x', 30)
    await input.pipeInput('other', 'x', 18)
    expect(output.readKeyValues()).toEqual([
      [{ key: 'k', window: { start: 0, end: 1 } }, 1],
      [{ key: 'k', window: { start: 0, end: 1 } }, null],
      [{ key: 'k', window: { start: 0, end: 6 } }, 2],
      [{ key: 'k', window: { start: 30, end: 31 } }, 1],
      [{ key: 'other', window: { start: 18, end: 19 } }, 1],
    ])
    // 18 is within 15 of both [0, 6) (last record at 5) and [30, 31): all three merge into [0, 31).
    await input.pipeInput('k', 'x', 18)
    expect(output.readKeyValues()).toEqual([
      [{ key: 'k', window: { start: 0, end: 6 } }, null],
      [{ key: 'k', window: { start: 30, end: 31 } }, null],
      [{ key: 'k', window: { start: 0, end: 31 } }, 4],
    ])
    // 50 is more than 15 after 30: a new session.
    await input.pipeInput('k', 'x', 50)
    expect(output.readKeyValues()).toEqual([[{ key: 'k', window: { start: 50, end: 51 } }, 1]])
    // A record inside the open session [0, 31) joins it; the window stays the same.
    await input.pipeInput('k', 'x', 4)
    expect(output.readKeyValues()).toEqual([[{ key: 'k', window: { start: 0, end: 31 } }, 5]])
    // Stream time 50 is past -100 + 15 + 20: a record that would start a session there is late.
    await input.pipeInput('k', 'x', -100)
    expect(output.readKeyValues()).toEqual([])
    await driver.close()
  })
})

describe('sliding windows', () => {
  function slidingTopology(timeDifferenceMs: number, graceMs: number, emit: 'update' | 'final' = 'update') {
    return new TopologyBuilder()
      .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.int32() })
      .addStore(stores.window('sums', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
      .addStore(stores.window('sum-records', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
      .addProcessor(
        'sum',
        { parents: ['in'], stores: ['sums', 'sum-records'] },
        slidingAggregate<string, number, number>({
          windows: slidingWindows({ timeDifferenceMs, graceMs }),
          store: 'sums',
          recordStore: 'sum-records',
          emit,
          initializer: () => 0,
          aggregator: (_key, value, sum) => sum + value,
        }),
      )
      .addSink('out', {
        topic: 'out',
        keySerde: windowedKeySerde(serdes.string()),
        valueSerde: serdes.int32(),
        parents: ['sum'],
      })
      .build()
  }

  async function windowsOf(driver: TopologyTestDriver): Promise<Array<[number, number, number]>> {
    const store = await driver.getStore<WindowStore<string, number>>('sums')
    const found: Array<[number, number, number]> = []
    for await (const entry of store.all()) found.push([entry.window.start, entry.window.end, entry.value])
    return found
  }

  it('creates a window ending at each record and one starting after it, as Kafka Streams does', async () => {
    const driver = new TopologyTestDriver(slidingTopology(10, 100))
    const input = driver.createInputTopic('in', serdes.string(), serdes.int32())
    await input.pipeInput('a', 1, 5)
    await input.pipeInput('a', 1, 12)
    await input.pipeInput('a', 1, 16)
    // [start, end) with end = last included ms + 1: [-5, 5], [2, 12], [6, 16], [13, 23] inclusive.
    expect(await windowsOf(driver)).toEqual([
      [-5, 6, 1],
      [2, 13, 2],
      [6, 17, 2],
      [13, 24, 1],
    ])
    await driver.close()
  })

  it('emits each sliding window once when it closes', async () => {
    const driver = new TopologyTestDriver(slidingTopology(10, 0, 'final'))
    const input = driver.createInputTopic('in', serdes.string(), serdes.int32())
    const output = driver.createOutputTopic('out', windowedKeySerde(serdes.string()), serdes.int32())
    await input.pipeInput('a', 1, 5)
    expect(output.readKeyValues()).toEqual([])
    await input.pipeInput('a', 2, 12)
    expect(output.readKeyValues()).toEqual([[{ key: 'a', window: { start: -5, end: 6 } }, 1]])
    await input.pipeInput('a', 4, 30)
    expect(output.readKeyValues()).toEqual([
      [{ key: 'a', window: { start: 2, end: 13 } }, 3],
      [{ key: 'a', window: { start: 6, end: 17 } }, 2],
    ])
    await input.pipeInput('a', 8, 11) // late: its window [1, 11] closed at stream time 30
    await input.pipeInput('a', 16, 41)
    expect(output.readKeyValues()).toEqual([[{ key: 'a', window: { start: 20, end: 31 } }, 4]])
    await driver.close()
  })

  it('holds exactly the windows the records define, each with the sum of its records (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 15 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 9 })), {
          minLength: 1,
          maxLength: 25,
        }),
        async (difference, unsorted) => {
          const records = [...unsorted].sort(([left], [right]) => left - right)
          const driver = new TopologyTestDriver(slidingTopology(difference, 1000))
          const input = driver.createInputTopic('in', serdes.string(), serdes.int32())
          for (const [timestamp, value] of records) await input.pipeInput('k', value, timestamp)
          const times = [...new Set(records.map(([timestamp]) => timestamp))]
          const expected = new Map<string, [number, number, number]>()
          const sumIn = (start: number, end: number) =>
            records
              .filter(([timestamp]) => timestamp >= start && timestamp < end)
              .reduce((sum, [, value]) => sum + value, 0)
          for (const t of times) {
            expected.set(`${t - difference}`, [t - difference, t + 1, sumIn(t - difference, t + 1)])
            if (times.some((s) => s > t && s <= t + 1 + difference)) {
              expected.set(`${t + 1}`, [t + 1, t + 2 + difference, sumIn(t + 1, t + 2 + difference)])
            }
          }
          const want = [...expected.values()].sort(([left], [right]) => left - right)
          expect(await windowsOf(driver)).toEqual(want)
          await driver.close()
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('session windows (property)', () => {
  it('hold exactly the sessions that gaps longer than the inactivity gap separate, with their counts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 30 }),
        async (gap, unsorted) => {
          const timestamps = [...unsorted].sort((left, right) => left - right)
          const topology = new TopologyBuilder()
            .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
            .addStore(stores.window('sessions', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
            .addProcessor(
              'sessions',
              { parents: ['in'], stores: ['sessions'] },
              sessionCount<string, string>({
                windows: sessionWindows({ inactivityGapMs: gap, graceMs: 1000 }),
                store: 'sessions',
              }),
            )
            .addSink('out', {
              topic: 'out',
              keySerde: windowedKeySerde(serdes.string()),
              valueSerde: serdes.int32(),
              parents: ['sessions'],
            })
            .build()
          const driver = new TopologyTestDriver(topology)
          const input = driver.createInputTopic('in', serdes.string(), serdes.string())
          for (const timestamp of timestamps) await input.pipeInput('k', 'x', timestamp)
          // A new session starts wherever two neighbouring records are more than `gap` apart.
          const expected: Array<[number, number, number]> = []
          for (const timestamp of timestamps) {
            const last = expected.at(-1)
            if (last && timestamp - (last[1] - 1) <= gap) {
              last[1] = timestamp + 1
              last[2] += 1
            } else expected.push([timestamp, timestamp + 1, 1])
          }
          const store = await driver.getStore<WindowStore<string, number>>('sessions')
          const found: Array<[number, number, number]> = []
          for await (const entry of store.all())
            found.push([entry.window.start, entry.window.end, entry.value])
          expect(found).toEqual(expected)
          await driver.close()
        },
      ),
      { numRuns: 80 },
    )
  })
})
