// The ready-made processors with synchronous and asynchronous functions.
import { expect, expectTypeOf, it } from 'vitest'
import {
  filter,
  flatMap,
  map,
  mapValues,
  type ProcessorContext,
  type Record,
  serdes,
  TopologyBuilder,
} from '../src/index.js'
import { TopologyTestDriver } from '../src/testing/index.js'

it('mapValues, map, filter and flatMap take asynchronous functions; the record is done when they settle', async () => {
  const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 2))
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('length', { parents: ['in'], concurrency: 'key' }, () =>
      mapValues(async (value: string) => later(value.length)),
    )
    .addProcessor('even', { parents: ['length'] }, () =>
      filter(async (record) => later(record.value % 2 === 0)),
    )
    .addProcessor('twice', { parents: ['even'] }, () =>
      flatMap(async (record) =>
        later([
          { key: record.key, value: record.value },
          { key: `${record.key}!`, value: record.value },
        ]),
      ),
    )
    .addProcessor('text', { parents: ['twice'] }, () =>
      map(async (record) => later({ key: record.key, value: `${record.key}=${record.value}` })),
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['text'],
    })
    .build()
  const driver = new TopologyTestDriver(topology)
  const input = driver.createInputTopic('in', serdes.string(), serdes.string())
  const output = driver.createOutputTopic('out', serdes.string(), serdes.string())
  await input.pipeKeyValues([
    ['a', 'xy'],
    ['b', 'xyz'],
    ['c', 'wxyz'],
  ])
  expect(output.readValues()).toEqual(['a=2', 'a!=2', 'c=4', 'c!=4'])
  await driver.close()
  // The value type is the awaited one.
  expectTypeOf(mapValues(async (value: string) => value.length)).toEqualTypeOf<
    ReturnType<typeof mapValues<unknown, string, number>>
  >()
})

it('an asynchronous mapValues hands each record its own scope downstream, with records overlapping and on retries', async () => {
  // The ready-made processors run without an async context frame; their continuations restore the
  // record's scope themselves, so recordMetadata downstream is the record's, never a neighbour's.
  const delays = [30, 1, 15, 5]
  const attempts = new Map<string, number>()
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'slow',
      {
        parents: ['in'],
        concurrency: 'unordered',
        retry: { maxAttempts: 2, backoff: { initialMs: 1, maxMs: 1 } },
      },
      () =>
        mapValues(async (value: string, record) => {
          await new Promise((resolve) => setTimeout(resolve, delays[Number(record.offset)]))
          const attempt = (attempts.get(record.key as string) ?? 0) + 1
          attempts.set(record.key as string, attempt)
          if (record.key === 'b' && attempt === 1) throw new Error('once')
          return value
        }),
    )
    .addProcessor('where', { parents: ['slow'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext: ProcessorContext<string, string>) => {
          context = processorContext
        },
        process: (record: Record<string, string>) => {
          context.forward({ ...record, value: `${record.value}@${context.recordMetadata?.offset}` })
        },
      }
    })
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['where'],
    })
    .build()
  const driver = new TopologyTestDriver(topology)
  const input = driver.createInputTopic('in', serdes.string(), serdes.string())
  const output = driver.createOutputTopic('out', serdes.string(), serdes.string())
  await input.pipeKeyValues([
    ['a', 'A'],
    ['b', 'B'],
    ['c', 'C'],
    ['d', 'D'],
  ])
  expect(
    output
      .readKeyValues()
      .map(([, value]) => value)
      .sort(),
  ).toEqual(['A@0', 'B@1', 'C@2', 'D@3'])
  expect(attempts.get('b')).toBe(2)
  await driver.close()
})
