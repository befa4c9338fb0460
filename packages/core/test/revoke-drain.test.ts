// A revocation with work in flight, on the real runtime over SimulatedKafka: the revoked task
// drains for revokeDrainMs, commits what finished (with its completed-offset map), gives up the
// rest, and nothing of a given-up record reaches the sink; the next owner skips what was done.
import { expect, it } from 'vitest'
import {
  type ConfigError,
  createApp,
  type KStreamsApp,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { until } from './until.js'

const decoder = new TextDecoder()

it('a revoked task drains for revokeDrainMs, commits what finished with its map, and a given-up record reaches no sink', async () => {
  const kafka = new SimulatedKafka({ seed: 4 })
  kafka.createTopic('in', 2)
  kafka.createTopic('out', 2)
  // Partition 1: ten records of ten keys; the third one is slow (2 s).
  const records = Array.from({ length: 10 }, (_, index) => ({
    key: `k${index}`,
    value: index === 2 ? 'slow' : `r${index}`,
    partition: 1,
  }))
  kafka.produce('in', [...records, { key: 'a', value: 'p0', partition: 0 }])
  /** Values each instance processed (called process for), by instance. */
  const calls = new Map<string, string[]>()
  const topologyFor = (instance: string) =>
    new TopologyBuilder()
      .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor(
        'call',
        { parents: ['in'], concurrency: 'key', maxInFlight: 32 },
        (): Processor<string, string, string, string> => {
          let context: ProcessorContext<string, string>
          return {
            init: (processorContext) => {
              context = processorContext
            },
            process: async (record) => {
              calls.set(instance, [...(calls.get(instance) ?? []), record.value])
              await new Promise((resolve) => setTimeout(resolve, record.value === 'slow' ? 2000 : 1))
              context.forward({ ...record, value: `${record.value} by ${instance}` })
            },
          }
        },
      )
      .addSink('out', {
        topic: 'out',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['call'],
        partitioner: (record) => record.partition ?? 0,
      })
      .build()
  const start = async (instance: string): Promise<KStreamsApp> => {
    const app = createApp(topologyFor(instance), {
      applicationId: 'drain-app',
      bootstrapServers: ['sim:9092'],
      clientId: instance,
      kafka: kafka.port(instance),
      commitIntervalMs: 50,
      revokeDrainMs: 200,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    await app.start()
    return app
  }
  const outputs = () => kafka.records('out', 1).map((record) => decoder.decode(record.value!))
  const first = await start('a')
  // Everything but the slow record is done (and its completed offsets are in a commit's map).
  await until(() => outputs().length === 9)
  await until(
    () => (kafka.committed('drain-app', 'in', 1)?.metadata ?? '').match(/"(completed|bits)"/) !== null,
  )
  const second = await start('b')
  // Partition 1 moves to b (partition p goes to the (p mod n)-th member); a gives the slow record up.
  await until(() => outputs().includes('slow by b'))
  await until(() => kafka.committed('drain-app', 'in', 1)?.offset === 10n)
  // a's slow call finishes after its task was closed: its result must not reach the sink.
  await new Promise((resolve) => setTimeout(resolve, 2100))
  expect(outputs().filter((value) => value.startsWith('slow'))).toEqual(['slow by b'])
  // b skipped the nine records a had completed: the map was committed at the revocation.
  expect(calls.get('b')!.filter((value) => value !== 'p0')).toEqual(['slow'])
  expect(outputs()).toHaveLength(10)
  await Promise.all([first.close(), second.close()])
}, 20_000)

it('revokeDrainMs may not exceed rebalanceTimeoutMs', () => {
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSink('out', { topic: 'out', keySerde: serdes.string(), valueSerde: serdes.string(), parents: ['in'] })
    .build()
  let error: ConfigError | undefined
  try {
    createApp(topology, {
      applicationId: 'x',
      bootstrapServers: ['sim:9092'],
      rebalanceTimeoutMs: 10_000,
      revokeDrainMs: 20_000,
      handleSignals: false,
    })
  } catch (caught) {
    error = caught as ConfigError
  }
  expect(error?.code).toBe('KSTREAMS_CONFIG')
  expect(error?.message).toMatch(/"revokeDrainMs" \(20000\) must not exceed "rebalanceTimeoutMs" \(10000\)/)
})

it('close waits for running or retrying records once (closeTimeoutMs), not again for revokeDrainMs', async () => {
  for (const mode of ['retrying', 'running'] as const) {
    const kafka = new SimulatedKafka({ seed: 5 })
    kafka.createTopic('in', 1)
    kafka.produce('in', [
      { key: 'slow', value: 'slow' },
      { key: 'b', value: 'fast' },
    ])
    let started = 0
    const topology = new TopologyBuilder()
      .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor(
        'call',
        {
          parents: ['in'],
          concurrency: 'key',
          retry: { maxAttempts: 2, backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } },
        },
        (): Processor<string, string> => ({
          process: async (record) => {
            started += 1
            if (record.value !== 'slow') return
            if (mode === 'retrying') throw new Error('unavailable')
            await new Promise((resolve) => setTimeout(resolve, 60_000).unref())
          },
        }),
      )
      .build()
    const app = createApp(topology, {
      applicationId: `close-${mode}`,
      bootstrapServers: ['sim:9092'],
      kafka: kafka.port('instance'),
      commitIntervalMs: 20,
      closeTimeoutMs: 200,
      revokeDrainMs: 20_000,
      rebalanceTimeoutMs: 30_000,
      processingTimeoutMs: 0,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    await app.start()
    await until(() => started >= 2)
    const closing = Date.now()
    await app.close()
    // One wait of closeTimeoutMs (200 ms); a second one of revokeDrainMs would take 20 s.
    expect(Date.now() - closing, mode).toBeLessThan(10_000)
  }
}, 60_000)
