// The ready-made processors with synchronous and asynchronous functions.
import { expect, expectTypeOf, it } from 'vitest'
import { filter, flatMap, map, mapValues, serdes, TopologyBuilder } from '../src/index.js'
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
