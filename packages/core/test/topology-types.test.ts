// Type-level tests: `npm run typecheck` compiles this file, so a wiring mistake that compiles, or a
// `@ts-expect-error` that no longer finds an error, fails the build.
import { expect, expectTypeOf, it } from 'vitest'
import {
  mapValues,
  type Processor,
  type Record,
  serdes,
  TopologyBuilder,
  TopologyError,
} from '../src/index.js'

const lengthOf: Processor<string, string, string, number> = { process: () => {} }
const numbers: Processor<string, number, string, number> = { process: () => {} }

it('flows record types from sources through processors to sinks', () => {
  const wired = () =>
    new TopologyBuilder()
      .addSource('lines', { topics: ['t'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('length', { parents: ['lines'] }, () => lengthOf)
      .addProcessor('numbers', { parents: ['length'] }, () => numbers)
      .addSink('out', {
        topic: 'o',
        keySerde: serdes.string(),
        valueSerde: serdes.int32(),
        parents: ['numbers'],
      })

  wired()
    // @ts-expect-error: 'lines' emits string values, but this processor wants numbers
    .addProcessor('wrong', { parents: ['lines'] }, () => numbers)

  wired().addSink('bad-sink', {
    topic: 'o',
    keySerde: serdes.string(),
    // @ts-expect-error: this serde handles strings, but 'length' emits numbers
    valueSerde: serdes.string(),
    parents: ['length'],
  })

  // These two are also caught when the code runs anyway (e.g. from JavaScript).
  expect(() =>
    wired()
      // @ts-expect-error: 'missing' is not a node of the builder
      .addProcessor('orphan', { parents: ['missing'] }, () => numbers),
  ).toThrow(TopologyError)
  expect(() =>
    wired()
      // @ts-expect-error: sinks cannot be parents
      .addProcessor('after-sink', { parents: ['out'] }, () => numbers),
  ).toThrow(TopologyError)

  expectTypeOf(wired().build().sourceTopics).toEqualTypeOf<string[]>()
})

it('infers the output types of ready-made processors', () => {
  const processor = mapValues(
    (value: string, record: Record<string, string>) => `${record.key}:${value.length}`,
  )
  expectTypeOf(processor).toEqualTypeOf<Processor<string, string, string, string>>()
  new TopologyBuilder()
    .addSource('lines', { topics: ['t'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('described', { parents: ['lines'] }, () => processor)
    .addSink('out', {
      topic: 'o',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['described'],
    })
})
