// Grouping and aggregation: automatic repartitioning, count/reduce/aggregate, and every window kind.
import { describe, expect, it } from 'vitest'
import {
  calendarWindows,
  hoppingWindows,
  serdes,
  sessionWindows,
  slidingWindows,
  tumblingWindows,
  type WindowedKey,
  windowedKeySerde,
} from '../../src/index.js'
import { builder, number, string, withDriver } from './helpers.js'

const windowed = windowedKeySerde(string)
const rows = (records: Array<[WindowedKey<string>, number | null]>) =>
  records.map(([key, value]) => `${key.key}@${key.window.start}-${key.window.end}=${value}`)

describe('grouping', () => {
  it('groupByKey after key-preserving steps reads the source directly (no repartition topic)', () => {
    const { builder: b } = builder()
    b.stream('in', { key: string, value: string })
      .filter(() => true)
      .mapValues((value) => value.length)
      .groupByKey({ value: number })
      .count({ as: 'counts' })
    const topology = b.build()
    expect(topology.internalTopics.size).toBe(0)
    expect(topology.subtopologies).toHaveLength(1)
  })

  it('a key change before groupByKey, and groupBy, insert <name>-repartition with the source partition count', async () => {
    const { builder: b } = builder()
    const lines = b.stream('lines', { key: string, value: string })
    lines
      .selectKey((_key, value) => (value ?? '?')[0]!)
      .groupByKey({ key: string })
      .count({ as: 'by-initial' })
      .toStream()
      .to('initials', { value: number })
    lines
      .groupBy((_key, value) => value?.length ?? 0, { named: 'by-length', key: number })
      .reduce((left, right) => `${left}+${right}`, { as: 'joined' })
      .toStream()
      .to('lengths', { key: number })
    const topology = b.build()
    expect(topology.internalTopics.get('by-initial-repartition')?.partitions).toEqual({ sameAs: ['lines'] })
    expect(topology.internalTopics.has('by-length-repartition')).toBe(true)
    expect(topology.subtopologies).toHaveLength(3)
    await withDriver(topology, async (driver) => {
      const input = driver.createInputTopic('lines', string, string)
      await input.pipeInput('1', 'apple')
      await input.pipeInput('2', 'avocado')
      await input.pipeInput('3', 'melon')
      await input.pipeInput(null as unknown as string, null as unknown as string)
      expect(driver.createOutputTopic('initials', string, number).readKeyValues()).toEqual([
        ['a', 1],
        ['a', 2],
        ['m', 1],
      ])
      expect(driver.createOutputTopic('lengths', number, string).readKeyValues()).toEqual([
        [5, 'apple'],
        [7, 'avocado'],
        [5, 'apple+melon'],
      ])
    })
  })

  it('aggregate starts from the initializer; null keys and null values are dropped', async () => {
    const { builder: b } = builder()
    b.stream('in', { key: string, value: number })
      .groupByKey()
      .aggregate(
        () => ({ sum: 0, count: 0 }),
        (_key, value, total) => ({ sum: total.sum + value, count: total.count + 1 }),
        {
          as: 'totals',
          value: serdes.json<{ sum: number; count: number }>(),
        },
      )
      .toStream()
      .to('out', { value: serdes.json() })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, number)
      await input.pipeInput('a', 2)
      await input.pipeInput(null as unknown as string, 1)
      await input.pipeInput('a', null as unknown as number)
      await input.pipeInput('a', 3)
      expect(driver.createOutputTopic('out', string, serdes.json()).readValues()).toEqual([
        { sum: 2, count: 1 },
        { sum: 5, count: 2 },
      ])
    })
  })
})

describe('windowed aggregation', () => {
  it('tumbling windows: out-of-order records within grace count, later ones are dropped', async () => {
    const { builder: b } = builder()
    b.stream('clicks', { key: string, value: string })
      .groupByKey()
      .windowedBy(tumblingWindows({ sizeMs: 100, graceMs: 50 }))
      .count({ as: 'clicks-per-window' })
      .toStream()
      .to('out', { key: windowed, value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('clicks', string, string)
      await input.pipeInput('u', 'a', 10)
      await input.pipeInput('u', 'b', 120)
      await input.pipeInput('u', 'c', 90) // out of order, window [0,100) still open (grace until 150)
      await input.pipeInput('u', 'd', 200)
      await input.pipeInput('u', 'e', 30) // late: [0,100) closed at stream time 150
      expect(rows(driver.createOutputTopic('out', windowed, number).readKeyValues())).toEqual([
        'u@0-100=1',
        'u@100-200=1',
        'u@0-100=2',
        'u@200-300=1',
      ])
    })
  })

  it('hopping and calendar windows count in every window a record falls in', async () => {
    const { builder: b } = builder()
    const grouped = b.stream('in', { key: string, value: string }).groupByKey()
    grouped
      .windowedBy(hoppingWindows({ sizeMs: 100, advanceMs: 50 }))
      .count({ as: 'hopping' })
      .toStream()
      .to('hopping', { key: windowed, value: number })
    grouped
      .windowedBy(calendarWindows({ unit: 'day', zone: 'UTC' }))
      .count({ as: 'daily' })
      .toStream()
      .to('daily', { key: windowed, value: number })
    await withDriver(b.build(), async (driver) => {
      await driver.createInputTopic('in', string, string).pipeInput('k', 'v', 120)
      expect(rows(driver.createOutputTopic('hopping', windowed, number).readKeyValues())).toEqual([
        'k@50-150=1',
        'k@100-200=1',
      ])
      expect(rows(driver.createOutputTopic('daily', windowed, number).readKeyValues())).toEqual([
        'k@0-86400000=1',
      ])
    })
  })

  it('sliding windows aggregate the records within the time difference', async () => {
    const { builder: b } = builder()
    b.stream('in', { key: string, value: number })
      .groupByKey()
      .windowedBy(slidingWindows({ timeDifferenceMs: 10 }))
      .reduce((sum, value) => sum + value, { as: 'sliding-sum' })
      .toStream()
      .to('out', { key: windowed, value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, number)
      await input.pipeInput('k', 1, 100)
      await input.pipeInput('k', 2, 105)
      const out = rows(driver.createOutputTopic('out', windowed, number).readKeyValues())
      expect(out).toContain('k@90-101=1')
      expect(out).toContain('k@95-106=3')
    })
  })

  it('session windows merge sessions and send a tombstone for the merged-away one', async () => {
    const { builder: b } = builder()
    b.stream('in', { key: string, value: string })
      .groupByKey()
      .windowedBy(sessionWindows({ inactivityGapMs: 20 }))
      .count({ as: 'sessions' })
      .toStream()
      .to('out', { key: windowed, value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, string)
      await input.pipeInput('k', 'a', 100)
      await input.pipeInput('k', 'b', 130)
      await input.pipeInput('k', 'c', 115) // joins both sessions into [100, 131)
      expect(rows(driver.createOutputTopic('out', windowed, number).readKeyValues())).toEqual([
        'k@100-101=1',
        'k@130-131=1',
        'k@100-101=null',
        'k@130-131=null',
        'k@100-131=3',
      ])
    })
  })

  it('emitFinal forwards each window once, when stream time passes its end plus grace', async () => {
    const { builder: b } = builder()
    b.stream('in', { key: string, value: number })
      .groupByKey()
      .windowedBy(tumblingWindows({ sizeMs: 100, graceMs: 10 }))
      .emitFinal()
      .aggregate(
        () => 0,
        (_key, value, sum) => sum + value,
        { as: 'final-sums', value: number },
      )
      .toStream()
      .to('out', { key: windowed, value: number })
    await withDriver(b.build(), async (driver) => {
      const input = driver.createInputTopic('in', string, number)
      const output = driver.createOutputTopic('out', windowed, number)
      await input.pipeInput('k', 1, 10)
      await input.pipeInput('k', 2, 50)
      await input.pipeInput('k', 4, 105)
      expect(output.isEmpty()).toBe(true)
      await input.pipeInput('k', 8, 110)
      expect(rows(output.readKeyValues())).toEqual(['k@0-100=3'])
    })
  })

  it('a windowed table cannot be re-grouped (its changes carry no old rows)', () => {
    const { builder: b } = builder()
    const table = b
      .stream('in', { key: string, value: string })
      .groupByKey()
      .windowedBy(tumblingWindows({ sizeMs: 10 }))
      .count({ as: 'w' })
    expect(() =>
      table.groupBy((key, value) => ({ key: key.key, value }), { key: string, value: number }),
    ).toThrow(/carry no old rows/)
    expect(() =>
      b
        .stream('x', { key: string, value: string })
        .groupByKey()
        .windowedBy({} as never),
    ).toThrow(/windowedBy needs windows/)
  })
})
