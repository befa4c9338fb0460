import { expect, it } from 'vitest'
import {
  type AppState,
  type BackendRangeOptions,
  type BackendWrite,
  createApp,
  createMemoryBackend,
  FencedError,
  type KafkaPort,
  type KeyValueStore,
  type KStreamsError,
  type Processor,
  type ProcessorContext,
  type StoreBackend,
  type StoreBackendFactory,
  StoreError,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { countingTopology } from './counting-topology.js'
import { until } from './until.js'

it('reports a produce failure during a broker outage as the outage: one KSTREAMS_KAFKA error naming the brokers and how long', async () => {
  const kafka = new SimulatedKafka({ seed: 3, failSends: [0] })
  kafka.createTopic('in', 1)
  kafka.createTopic('out', 1)
  kafka.produce('in', [{ key: 'a', value: 'one' }])
  const port = kafka.port('instance')
  const sinceMs = Date.now()
  // The simulated producer fails its first send; the port says no broker has answered meanwhile.
  const outageAware: KafkaPort = {
    createConsumer: (options) => port.createConsumer(options),
    createReader: (options) => port.createReader(options),
    createProducer: (options) => port.createProducer(options),
    createAdmin: (options) => port.createAdmin(options),
    connectivity: { outage: () => ({ sinceMs, brokers: 'sim:9092', lastError: 'connect ECONNREFUSED' }) },
  }
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSink('out', { topic: 'out', keySerde: serdes.string(), valueSerde: serdes.string(), parents: ['in'] })
    .build()
  const states: AppState[] = []
  const app = createApp(topology, {
    applicationId: 'outage-app',
    bootstrapServers: ['sim:9092'],
    kafka: outageAware,
    commitIntervalMs: 30,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
  })
  app.on('stateChange', (state) => states.push(state))
  await app.start()
  const error = (await app.done().catch((failure: unknown) => failure)) as KStreamsError
  expect(error.code).toBe('KSTREAMS_KAFKA')
  expect(error.message).toMatch(/^Kafka at sim:9092 has been unreachable for \d+\.\d s: /)
  expect((error.cause as KStreamsError).code).toBe('KSTREAMS_PRODUCTION')
  expect(states.at(-1)).toBe('error')
  expect(app.state).toBe('error')
})

it('a store that says its owner was fenced loses that task, not the app: it is rebuilt from the committed offsets and nothing is lost', async () => {
  const kafka = new SimulatedKafka({ seed: 5 })
  kafka.createTopic('words', 2)
  kafka.createTopic('counts', 2)
  const words = Array.from({ length: 400 }, (_, index) => ({
    key: `w${index % 10}`,
    value: `w${index % 10}`,
  }))
  kafka.produce('words', words.slice(0, 200))
  let fencedFlushes = 0
  let fenceNext = false
  const memory = createMemoryBackend()
  // A backend whose flush says, once, that a newer owner took the task over.
  const fencing: StoreBackendFactory = {
    name: 'fencing-memory',
    persistent: false,
    open: async (context) => {
      const backend = await memory.open(context)
      const wrapped: StoreBackend = {
        contractVersion: 1,
        capabilities: backend.capabilities,
        get: (key: Uint8Array) => backend.get(key),
        getMany: (keys: readonly Uint8Array[]) => backend.getMany(keys),
        write: (batch: readonly BackendWrite[]) => backend.write(batch),
        range: (options?: BackendRangeOptions) => backend.range(options),
        approximateCount: () => backend.approximateCount(),
        close: () => backend.close(),
        flush: async () => {
          if (fenceNext && context.partition === 0) {
            fenceNext = false
            fencedFlushes += 1
            throw new FencedError(`store "counts" of task ${context.taskId}: a newer owner wrote it`, {
              context: { store: 'counts', taskId: context.taskId },
            })
          }
        },
      }
      return wrapped
    },
  }
  const topology = countingTopology(fencing)
  const errors: string[] = []
  const app = createApp(topology, {
    applicationId: 'fenced-store',
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    cacheMaxBytesPerTask: 0,
    handleSignals: false,
    logger: { ...silentLogger, error: (message: string) => errors.push(message) },
    onFatalError: () => {},
  })
  await app.start()
  const committedEnd = (partition: number) =>
    kafka.committed('fenced-store', 'words', partition)?.offset ?? 0n
  const until = async (condition: () => boolean) => {
    const deadline = Date.now() + 10_000
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('timed out')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  await until(() => committedEnd(0) + committedEnd(1) > 0n)
  fenceNext = true
  kafka.produce('words', words.slice(200))
  await until(() => fencedFlushes === 1)
  await until(
    () => committedEnd(0) === kafka.endOffset('words', 0) && committedEnd(1) === kafka.endOffset('words', 1),
  )
  expect(app.state).toBe('running')
  expect(errors.some((message) => message.includes('were fenced'))).toBe(true)
  // Every word's last count is at least its number of occurrences: nothing was lost.
  const last = new Map<string, bigint>()
  for (let partition = 0; partition < 2; partition += 1) {
    for (const record of kafka.records('counts', partition)) {
      last.set(new TextDecoder().decode(record.key!), Buffer.from(record.value!).readBigInt64BE())
    }
  }
  for (let index = 0; index < 10; index += 1) expect(last.get(`w${index}`)).toBeGreaterThanOrEqual(40n)
  await app.close()
})

/** A count topology over a memory backend whose flush fails (retriably) on partition 0 while `down()`. */
function unreachableStoreApp(
  kafka: SimulatedKafka,
  applicationId: string,
  down: () => boolean,
  options = {},
) {
  const memory = createMemoryBackend()
  const flaky: StoreBackendFactory = {
    name: 'flaky-remote',
    persistent: false,
    open: async (context) => {
      const backend = await memory.open(context)
      return {
        ...{ contractVersion: 1 as const, capabilities: backend.capabilities },
        get: (key: Uint8Array) => backend.get(key),
        getMany: (keys: readonly Uint8Array[]) => backend.getMany(keys),
        write: (batch: readonly BackendWrite[]) => backend.write(batch),
        range: (options?: BackendRangeOptions) => backend.range(options),
        approximateCount: () => backend.approximateCount(),
        close: () => backend.close(),
        flush: async () => {
          if (down() && context.partition === 0) {
            throw new StoreError(
              `store "counts" of task ${context.taskId}: flush failed: connect ECONNREFUSED`,
              {
                retriable: true,
                context: { store: 'counts', taskId: context.taskId },
              },
            )
          }
        },
      }
    },
  }
  const topology = new TopologyBuilder()
    .addSource('words', { topics: ['words'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend: flaky }),
    )
    .addProcessor(
      'count',
      { parents: ['words'], stores: ['counts'] },
      (): Processor<string, string, string, bigint> => {
        let counts: KeyValueStore<string, bigint>
        return {
          init: (context) => {
            counts = context.getStore<KeyValueStore<string, bigint>>('counts')
          },
          process: async (record) => {
            await counts.put(record.key, ((await counts.get(record.key)) ?? 0n) + 1n)
          },
        }
      },
    )
    .build()
  const warnings: string[] = []
  const app = createApp(topology, {
    applicationId,
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    handleSignals: false,
    logger: { ...silentLogger, warn: (message: string) => warnings.push(message) },
    onFatalError: () => {},
    ...options,
  })
  return { app, warnings }
}

it("a store that cannot reach its service at commit holds back only its task's offsets; commits resume when it returns", async () => {
  const kafka = new SimulatedKafka({ seed: 8 })
  kafka.createTopic('words', 2)
  const words = (count: number) =>
    Array.from({ length: count }, (_, index) => ({ key: `w${index % 8}`, value: 'x' }))
  kafka.produce('words', words(100))
  let down = true
  const { app, warnings } = unreachableStoreApp(kafka, 'unreachable-store', () => down)
  const committed = (partition: number) => kafka.committed('unreachable-store', 'words', partition)?.offset
  await app.start()
  // Partition 1 commits to its end; partition 0 commits nothing while its store is away.
  await until(() => committed(1) === kafka.endOffset('words', 1))
  kafka.produce('words', words(50))
  await until(() => committed(1) === kafka.endOffset('words', 1))
  expect(committed(0)).toBeUndefined()
  expect(app.state).toBe('running')
  expect(warnings.filter((message) => message.includes('could not flush their stores'))).toHaveLength(1)
  expect(warnings[0]).toMatch(/task\(s\) 0_0 could not flush .*storeUnavailableTimeoutMs.*ECONNREFUSED/)
  down = false
  await until(() => committed(0) === kafka.endOffset('words', 0))
  await app.close()
})

it('a store away for longer than storeUnavailableTimeoutMs fails the app with its error', async () => {
  const kafka = new SimulatedKafka({ seed: 9 })
  kafka.createTopic('words', 2)
  kafka.produce('words', [
    { key: 'a', value: 'x' },
    { key: 'b', value: 'y' },
  ])
  const { app } = unreachableStoreApp(kafka, 'store-gone', () => true, { storeUnavailableTimeoutMs: 200 })
  await app.start()
  const error = (await app.done().catch((failure: unknown) => failure)) as KStreamsError
  expect(error.code).toBe('KSTREAMS_STORE')
  expect(error.message).toMatch(
    /could not flush their stores for \d+ ms \(storeUnavailableTimeoutMs is 200\): .*ECONNREFUSED/,
  )
  expect(app.state).toBe('error')
})

it('a store write refused for a newer owner loses the task (no error policy applies); it is rebuilt and nothing is lost', async () => {
  const kafka = new SimulatedKafka({ seed: 10 })
  kafka.createTopic('words', 2)
  kafka.createTopic('counts', 2)
  const words = Array.from({ length: 300 }, (_, index) => ({ key: `w${index % 6}`, value: 'x' }))
  kafka.produce('words', words.slice(0, 150))
  let fenceNext = false
  let fencedWrites = 0
  const memory = createMemoryBackend()
  const fencing: StoreBackendFactory = {
    name: 'fencing-writes',
    persistent: false,
    open: async (context) => {
      const backend = await memory.open(context)
      return {
        contractVersion: 1 as const,
        capabilities: backend.capabilities,
        get: (key: Uint8Array) => backend.get(key),
        getMany: (keys: readonly Uint8Array[]) => backend.getMany(keys),
        write: async (batch: readonly BackendWrite[]) => {
          if (fenceNext && context.partition === 0) {
            fenceNext = false
            fencedWrites += 1
            throw new FencedError(`store "counts" of task ${context.taskId}: a newer owner wrote it`)
          }
          await backend.write(batch)
        },
        range: (options?: BackendRangeOptions) => backend.range(options),
        approximateCount: () => backend.approximateCount(),
        close: () => backend.close(),
        flush: () => {},
      }
    },
  }
  const topology = new TopologyBuilder()
    .addSource('words', { topics: ['words'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend: fencing }),
    )
    .addProcessor(
      'count',
      { parents: ['words'], stores: ['counts'] },
      (): Processor<string, string, string, bigint> => {
        let context: ProcessorContext<string, bigint>
        let counts: KeyValueStore<string, bigint>
        return {
          init: (processorContext) => {
            context = processorContext
            counts = context.getStore<KeyValueStore<string, bigint>>('counts')
          },
          process: async (record) => {
            const count = ((await counts.get(record.key)) ?? 0n) + 1n
            await counts.put(record.key, count)
            context.forward({ ...record, value: count })
          },
        }
      },
    )
    .addSink('out', {
      topic: 'counts',
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
  const errors: string[] = []
  const app = createApp(topology, {
    applicationId: 'fenced-write',
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    cacheMaxBytesPerTask: 0,
    // Were the refusal a processing error, `continue` would skip the record and lose its count.
    processingErrorPolicy: 'continue',
    handleSignals: false,
    logger: { ...silentLogger, error: (message: string) => errors.push(message) },
    onFatalError: () => {},
  })
  await app.start()
  const committedEnd = (partition: number) =>
    kafka.committed('fenced-write', 'words', partition)?.offset ?? 0n
  await until(() => committedEnd(0) + committedEnd(1) > 0n)
  fenceNext = true
  kafka.produce('words', words.slice(150))
  await until(() => fencedWrites === 1)
  await until(
    () => committedEnd(0) === kafka.endOffset('words', 0) && committedEnd(1) === kafka.endOffset('words', 1),
  )
  expect(app.state).toBe('running')
  expect(errors.some((message) => message.includes('were fenced'))).toBe(true)
  const last = new Map<string, bigint>()
  for (let partition = 0; partition < 2; partition += 1) {
    for (const record of kafka.records('counts', partition)) {
      last.set(new TextDecoder().decode(record.key!), Buffer.from(record.value!).readBigInt64BE())
    }
  }
  for (let index = 0; index < 6; index += 1) expect(last.get(`w${index}`)).toBeGreaterThanOrEqual(50n)
  await app.close()
})
