// Conflation in key mode, on the real runtime over SimulatedKafka: a key's backlog is cut to its
// newest record; the skipped ones are done (committed) and told to onSuperseded.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { expect, it } from 'vitest'
import {
  createApp,
  type Processor,
  type ProcessorContext,
  type Record,
  type RecordMetadata,
  serdes,
  silentLogger,
  TopologyBuilder,
  TopologyError,
} from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { until } from './until.js'

it('processes only the newest waiting record of a busy key; the skipped ones are done and reported', async () => {
  const kafka = new SimulatedKafka({ seed: 2 })
  kafka.createTopic('prices', 1)
  kafka.createTopic('out', 1)
  // "a" is slow at first: five more prices of "a" come while it runs; "b" is never behind.
  kafka.produce('prices', [
    { key: 'a', value: 'a1' },
    { key: 'b', value: 'b1' },
    { key: 'a', value: 'a2' },
    { key: 'a', value: 'a3' },
    { key: 'b', value: 'b2' },
    { key: 'a', value: 'a4' },
    { key: 'a', value: 'a5' },
    { key: 'a', value: 'a6' },
  ])
  const processed: string[] = []
  const superseded: Array<[string, bigint]> = []
  const published: unknown[] = []
  const onPublished = (message: unknown) => published.push(message)
  subscribe('kstreams:record:superseded', onPublished)
  const topology = new TopologyBuilder()
    .addSource('prices', { topics: ['prices'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'publish',
      {
        parents: ['prices'],
        concurrency: 'key',
        conflate: {
          onSuperseded: (record: Record<string, string>, newer: RecordMetadata) =>
            superseded.push([record.value, newer.offset]),
        },
      },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: async (record) => {
            processed.push(record.value)
            await new Promise((resolve) => setTimeout(resolve, record.value === 'a1' ? 300 : 1))
            context.forward(record)
          },
        }
      },
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['publish'],
    })
    .build()
  expect(topology.describe().toString()).toContain(
    'concurrency: key, maxInFlight: 256, ordering key: the record key, conflated',
  )
  const app = createApp(topology, {
    applicationId: 'conflate-app',
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
  })
  try {
    await app.start()
    await until(() => kafka.committed('conflate-app', 'prices', 0)?.offset === 8n)
    expect(processed.filter((value) => value.startsWith('a'))).toEqual(['a1', 'a6'])
    expect(processed.filter((value) => value.startsWith('b'))).toEqual(['b1', 'b2'])
    // Each waiting price was skipped when the next one came: a2 for a3, a3 for a4, …, a5 for a6.
    expect(superseded).toEqual([
      ['a2', 3n],
      ['a3', 5n],
      ['a4', 6n],
      ['a5', 7n],
    ])
    expect(published).toHaveLength(4)
    expect(published[0]).toMatchObject({ topic: 'prices', partition: 0, offset: 2n, newerOffset: 3n })
    const out = kafka.records('out', 0).map((record) => new TextDecoder().decode(record.value!))
    expect(out.filter((value) => value.startsWith('a'))).toEqual(['a1', 'a6'])
    await app.close()
  } finally {
    unsubscribe('kstreams:record:superseded', onPublished)
  }
})

it('conflation needs key mode, on one processor of the sub-topology', () => {
  const source = () =>
    new TopologyBuilder().addSource('in', {
      topics: ['in'],
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
    })
  expect(() =>
    source().addProcessor('p', { parents: ['in'], conflate: true }, () => ({ process: () => {} })),
  ).toThrow(/"conflate" needs concurrency: 'key'/)
  expect(() =>
    source()
      .addProcessor('p', { parents: ['in'], concurrency: 'key', conflate: true }, () => ({
        process: () => {},
      }))
      .addProcessor('q', { parents: ['p'], concurrency: 'partition' }, () => ({ process: () => {} }))
      .build(),
  ).toThrow(TopologyError)
  expect(() =>
    source()
      .addProcessor('p', { parents: ['in'], concurrency: 'key', conflate: true }, () => ({
        process: () => {},
      }))
      .addProcessor('q', { parents: ['p'], concurrency: 'partition' }, () => ({ process: () => {} }))
      .build(),
  ).toThrow(/"conflate" needs the sub-topology in 'key' mode, and it runs in 'partition' mode/)
})
