// Batch processors on the real runtime over SimulatedKafka: batching, per-entry results (retry,
// fail), grouping, bulk store operations, and the checks made when the topology is built.
import { expect, it } from 'vitest'
import {
  type BatchEntry,
  type BatchResult,
  createApp,
  DeadLetterHeaders,
  type KeyValueStore,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { until } from './until.js'

const decoder = new TextDecoder()
const text = (bytes: Uint8Array | null | undefined) => (bytes ? decoder.decode(bytes) : null)

type Entries = ReadonlyArray<BatchEntry<string, string, string, string>>

function start(
  kafka: SimulatedKafka,
  topology: ReturnType<TopologyBuilder['build']>,
  options: { processingErrorPolicy?: 'fail' | 'dead-letter' } = {},
) {
  const app = createApp(topology, {
    applicationId: 'batch-app',
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
    ...options,
  })
  return app
}

const committedToEnd = (kafka: SimulatedKafka, partitions: number) => () =>
  Array.from({ length: partitions }, (_, partition) => partition).every(
    (partition) => kafka.committed('batch-app', 'in', partition)?.offset === kafka.endOffset('in', partition),
  )

it('hands processBatch up to maxBatchRecords records of one task in offset order; entries forward in their own scope', async () => {
  const kafka = new SimulatedKafka({ seed: 6 })
  kafka.createTopic('in', 2)
  kafka.createTopic('out', 2)
  kafka.produce(
    'in',
    Array.from({ length: 400 }, (_, index) => ({ key: `k${index}`, value: `v${index}` })),
  )
  const batches: Array<{ task: string; offsets: bigint[] }> = []
  let context: ProcessorContext<string, string>
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addBatchProcessor('enrich', { parents: ['in'], batch: { maxBatchRecords: 50, lingerMs: 5 } }, () => ({
      init: (processorContext: ProcessorContext<string, string>) => {
        context = processorContext
      },
      processBatch: async (entries: Entries) => {
        batches.push({ task: context.taskId, offsets: entries.map(({ record }) => record.offset!) })
        await new Promise((resolve) => setTimeout(resolve, 2))
        for (const { record, forward } of entries) forward({ ...record, value: `${record.value}+` })
      },
    }))
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['enrich'],
    })
    .build()
  expect(topology.describe().toString()).toContain('concurrency: key')
  const app = start(kafka, topology)
  await app.start()
  await until(committedToEnd(kafka, 2))
  const sizes = batches.map((batch) => batch.offsets.length)
  expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(400)
  expect(Math.max(...sizes)).toBe(50)
  expect(batches.length).toBeLessThan(40)
  for (const { offsets } of batches) {
    expect([...offsets].sort((left, right) => (left < right ? -1 : 1))).toEqual(offsets)
  }
  // Each output went where its input came from (forwarded in the input record's scope).
  for (let partition = 0; partition < 2; partition += 1) {
    const outputs = kafka.records('out', partition).map((record) => text(record.value))
    const inputs = kafka.records('in', partition).map((record) => `${text(record.value)}+`)
    expect(outputs.sort()).toEqual(inputs.sort())
  }
  await app.close()
})

it('a partial failure retries only the entries reported for retry, and a failed entry gets the error policy', async () => {
  const kafka = new SimulatedKafka({ seed: 7 })
  kafka.createTopic('in', 1)
  kafka.createTopic('out', 1)
  kafka.createTopic('batch-app-dlq', 1)
  kafka.produce(
    'in',
    Array.from({ length: 30 }, (_, index) => ({ key: `k${index}`, value: `v${index}` })),
  )
  const attempts = new Map<string, number>()
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addBatchProcessor(
      'write',
      {
        parents: ['in'],
        batch: { maxBatchRecords: 10, lingerMs: 5 },
        retry: { maxAttempts: 4, backoff: { initialMs: 10, jitter: 0 } },
      },
      () => ({
        processBatch: (entries: Entries): BatchResult[] =>
          entries.map(({ record, forward }) => {
            const attempt = (attempts.get(record.value) ?? 0) + 1
            attempts.set(record.value, attempt)
            if (record.value === 'v7') return { status: 'fail', error: new Error('v7 is invalid') }
            if (record.value === 'v3' && attempt < 3) return 'retry'
            forward(record)
            return 'ok'
          }),
      }),
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['write'],
    })
    .build()
  const app = start(kafka, topology, { processingErrorPolicy: 'dead-letter' })
  await app.start()
  await until(committedToEnd(kafka, 1))
  expect(attempts.get('v3')).toBe(3)
  expect(attempts.get('v7')).toBe(1)
  expect(attempts.get('v4')).toBe(1)
  const outputs = kafka.records('out', 0).map((record) => text(record.value))
  expect(outputs).toHaveLength(29)
  expect(outputs).not.toContain('v7')
  const dead = kafka.records('batch-app-dlq', 0)
  expect(dead.map((record) => text(record.value))).toEqual(['v7'])
  const header = (name: string) => text(dead[0]!.headers.find(([key]) => key === name)?.[1])
  expect(header(DeadLetterHeaders.errorMessage)).toMatch(
    /reported fail for the record at in\[0\]@7: v7 is invalid/,
  )
  expect(header(DeadLetterHeaders.causeMessage)).toBe('v7 is invalid')
  await app.close()
})

it('groups batches by key in unordered mode, and bulk store operations count exactly', async () => {
  const kafka = new SimulatedKafka({ seed: 8 })
  kafka.createTopic('in', 1)
  kafka.produce(
    'in',
    Array.from({ length: 120 }, (_, index) => ({ key: `k${index % 4}`, value: `v${index}` })),
  )
  const keysPerBatch: number[] = []
  let counts: KeyValueStore<string, bigint>
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addBatchProcessor(
      'count',
      {
        parents: ['in'],
        stores: ['counts'],
        concurrency: 'unordered',
        maxInFlight: 128,
        batch: { maxBatchRecords: 8, lingerMs: 5, groupBy: 'key' },
      },
      () => ({
        init: (context: ProcessorContext<never, never>) => {
          counts = context.getStore('counts')
        },
        processBatch: async (entries: ReadonlyArray<BatchEntry<string, string, never, never>>) => {
          const keys = [...new Set(entries.map(({ record }) => record.key))]
          keysPerBatch.push(keys.length)
          // Batches of one group never run at once, so this read-modify-write (with an await in
          // between) loses no update although the mode is unordered.
          const [current] = await counts.getMany(keys)
          await new Promise((resolve) => setTimeout(resolve, 3))
          await counts.putMany([[keys[0]!, (current ?? 0n) + BigInt(entries.length)]])
        },
      }),
    )
    .build()
  const app = start(kafka, topology)
  await app.start()
  await until(committedToEnd(kafka, 1))
  expect(new Set(keysPerBatch)).toEqual(new Set([1]))
  for (let key = 0; key < 4; key += 1) expect(await counts!.get(`k${key}`)).toBe(30n)
  await app.close()
})

it('checks batch processors when the topology is built', () => {
  const builder = () =>
    new TopologyBuilder().addSource('in', {
      topics: ['in'],
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
    })
  const batcher = () => ({ processBatch: () => {} })
  expect(() =>
    builder().addBatchProcessor('b', { parents: ['in'], concurrency: 'partition' as 'key' }, batcher),
  ).toThrow(/"concurrency" must be 'key' or 'unordered' \(a batch needs several records in flight\)/)
  expect(() =>
    builder().addBatchProcessor(
      'b',
      { parents: ['in'], maxInFlight: 20, batch: { maxBatchRecords: 50 } },
      batcher,
    ),
  ).toThrow(/"batch.maxBatchRecords" \(50\) is more than "maxInFlight" \(20\)/)
  expect(() =>
    builder().addBatchProcessor('b', { parents: ['in'], batch: { lingerMs: -1 } }, batcher),
  ).toThrow(/"lingerMs" must be an integer of at least 0, got -1/)
})
