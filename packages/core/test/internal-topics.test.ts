// Internal (repartition) topics in the Processor API: declared by a short name, run as
// `<applicationId>-<name>`, created at start with the partition count the topology asks for, and
// routed back into the topology by the test driver.
import { describe, expect, it } from 'vitest'
import {
  createApp,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
  TopologyError,
} from '../src/index.js'
import { internalPartitionCounts, internalTopic } from '../src/internal-topics.js'
import { SimulatedKafka, TopologyTestDriver } from '../src/testing/index.js'
import { until } from './until.js'

/** Counts values per key in store "counts" and forwards the new count. */
const counter = (): Processor<string, string, string, number> => {
  let context: ProcessorContext<string, number>
  let counts: KeyValueStore<string, number>
  return {
    init: (processorContext) => {
      context = processorContext
      counts = context.getStore('counts')
    },
    process: async (record) => {
      const next = ((await counts.get(record.key)) ?? 0) + 1
      await counts.put(record.key, next)
      context.forward({ ...record, value: next })
    },
  }
}

/** Lines keyed by anything are re-keyed by their value, repartitioned, then counted. */
function countByValue(partitions: { sameAs: string[] } | number = { sameAs: ['lines'] }) {
  return new TopologyBuilder()
    .addInternalTopic('by-value-repartition', { partitions })
    .addSource('lines', { topics: ['lines'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('rekey', { parents: ['lines'] }, rekey)
    .addSink('to-by-value', {
      parents: ['rekey'],
      topic: 'by-value-repartition',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
    })
    .addSource('by-value', {
      topics: ['by-value-repartition'],
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
    })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
    .addProcessor('count', { parents: ['by-value'], stores: ['counts'] }, counter)
    .addSink('out', {
      parents: ['count'],
      topic: 'counts',
      keySerde: serdes.string(),
      valueSerde: serdes.int32(),
    })
    .build()
}

function rekey(): Processor<string, string, string, string> {
  let context: ProcessorContext<string, string>
  return {
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) => context.forward({ ...record, key: record.value }),
  }
}

describe('internal topics', () => {
  it('are resolved as <applicationId>-<name> and routed back by the test driver', async () => {
    const topology = countByValue()
    expect(topology.subtopologies).toHaveLength(2)
    const driver = new TopologyTestDriver(topology, { applicationId: 'wc' })
    try {
      const input = driver.createInputTopic('lines', serdes.string(), serdes.string())
      const output = driver.createOutputTopic('counts', serdes.string(), serdes.int32())
      await input.pipeInput('k1', 'a', 1)
      await input.pipeInput('k2', 'b', 2)
      await input.pipeInput('k3', 'a', 3)
      expect(output.readKeyValues()).toEqual([
        ['a', 1],
        ['b', 1],
        ['a', 2],
      ])
      expect(driver.producedRecords('wc-by-value-repartition')).toHaveLength(3)
      expect(driver.producedRecords('by-value-repartition')).toHaveLength(0)
    } finally {
      await driver.close()
    }
  })

  it('are shown by describe(), unresolved and resolved', () => {
    const topology = countByValue()
    expect(topology.describe().text).toContain(
      'repartition: <applicationId>-by-value-repartition (partitions as [lines])',
    )
    expect(topology.describe().text).toContain(
      'counts (in memory, changelog: <applicationId>-counts-changelog',
    )
    const resolved = topology.resolve('app')
    expect(resolved.sourceTopics).toContain('app-by-value-repartition')
    expect(resolved.describe().text).toContain('Source: by-value (topics: [app-by-value-repartition])')
    expect(resolved.resolve('app')).toBe(resolved)
    expect(() => resolved.resolve('other')).toThrow(/resolved for application "app"/)
  })

  it('are created at start with the partition count of the named topic, and used across partitions', async () => {
    const kafka = new SimulatedKafka({ seed: 3 })
    kafka.createTopic('lines', 3)
    kafka.createTopic('counts', 1)
    kafka.produce(
      'lines',
      ['a', 'b', 'a', 'c', 'a', 'b'].map((value, index) => ({ key: `k${index}`, value })),
    )
    const app = createApp(countByValue(), {
      applicationId: 'internal-app',
      bootstrapServers: ['sim:9092'],
      kafka: kafka.port('one'),
      commitIntervalMs: 20,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    try {
      await app.start()
      expect(kafka.partitionCount('internal-app-by-value-repartition')).toBe(3)
      expect(kafka.topicConfigs('internal-app-by-value-repartition')['cleanup.policy']).toBe('delete')
      await until(() => kafka.records('counts', 0).length === 6)
      const decoder = new TextDecoder()
      const last = new Map<string, number>()
      for (const record of kafka.records('counts', 0)) {
        last.set(decoder.decode(record.key!), serdes.int32().deserialize(record.value!, {} as never))
      }
      expect(Object.fromEntries(last)).toEqual({ a: 3, b: 2, c: 1 })
    } finally {
      await app.close()
    }
  })

  it('fail the start when one exists with another partition count', async () => {
    const kafka = new SimulatedKafka({ seed: 4 })
    kafka.createTopic('lines', 2)
    kafka.createTopic('counts', 1)
    kafka.createTopic('bad-by-value-repartition', 5)
    const app = createApp(countByValue(), {
      applicationId: 'bad',
      bootstrapServers: ['sim:9092'],
      kafka: kafka.port('one'),
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    await expect(app.start()).rejects.toThrow(
      /internal repartition topic "bad-by-value-repartition" has 5 partition\(s\), but the topology needs 2/,
    )
    await app.close().catch(() => {})
  })

  it('take partition counts along chains, and reject cycles, unknown topics and bad declarations', () => {
    const first = internalTopic('a-repartition', { partitions: { sameAs: ['input'] } })
    const second = internalTopic('b-repartition', { partitions: { sameAs: ['a-repartition', 'other'] } })
    const fixed = internalTopic('c-repartition', { partitions: 7 })
    const existing = new Map([
      ['input', 4],
      ['other', 6],
    ])
    expect(internalPartitionCounts([second, first, fixed], (topic) => existing.get(topic))).toEqual(
      new Map([
        ['c-repartition', 7],
        ['a-repartition', 4],
        ['b-repartition', 6],
      ]),
    )
    const loopA = internalTopic('x', { partitions: { sameAs: ['y'] } })
    const loopB = internalTopic('y', { partitions: { sameAs: ['x'] } })
    expect(() => internalPartitionCounts([loopA, loopB], () => undefined)).toThrow(/in a cycle/)
    expect(() => internalPartitionCounts([first], () => undefined)).toThrow(
      /takes its partition count from topic "input", which does not exist/,
    )
    expect(() => internalTopic('bad name', { partitions: 1 })).toThrow(TopologyError)
    expect(() => internalTopic('ok', { partitions: 0 })).toThrow(/"partitions" must be an integer/)
    expect(() =>
      new TopologyBuilder().addInternalTopic('t', { partitions: 1 }).addInternalTopic('t', { partitions: 1 }),
    ).toThrow(/declared twice/)
  })
})
