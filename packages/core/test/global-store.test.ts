import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  createApp,
  type KeyValueStore,
  MemoryBackend,
  type Processor,
  type ProcessorContext,
  type StoreBackendFactory,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
  TopologyError,
} from '../src/index.js'
import { SimulatedKafka, TopologyTestDriver } from '../src/testing/index.js'
import { until } from './until.js'

/** Resolves once the asynchronous `condition` holds, checking every 5 ms. */
async function eventually(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const products = () =>
  stores.keyValue('products', { keySerde: serdes.string(), valueSerde: serdes.string(), logging: false })

/** Looks each order's product up in the global store and forwards `order:product` (or `order:?`). */
function lookup(): Processor<string, string, string, string> {
  let context: ProcessorContext<string, string>
  let store: KeyValueStore<string, string>
  return {
    init: (processorContext) => {
      context = processorContext
      store = context.getStore<KeyValueStore<string, string>>('products')
    },
    process: async (record) => {
      const product = await store.get(record.value)
      context.forward({ ...record, value: `${record.key}:${product ?? '?'}` })
    },
  }
}

function topology() {
  return new TopologyBuilder()
    .addGlobalStore(products(), { topic: 'products' })
    .addSource('orders', { topics: ['orders'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('lookup', { parents: ['orders'], stores: ['products'] }, lookup)
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['lookup'],
    })
    .build()
}

describe('global stores on the test driver', () => {
  it('a record piped to the global topic is in the store for every later lookup; a tombstone deletes it', async () => {
    const driver = new TopologyTestDriver(topology())
    const productsTopic = driver.createInputTopic('products', serdes.string(), serdes.string())
    const orders = driver.createInputTopic('orders', serdes.string(), serdes.string())
    const out = driver.createOutputTopic('out', serdes.string(), serdes.string())
    await productsTopic.pipeInput('p1', 'apple')
    await orders.pipeInput('o1', 'p1')
    await orders.pipeInput('o2', 'p2')
    await productsTopic.pipeInput('p2', 'pear')
    await orders.pipeInput('o3', 'p2')
    await productsTopic.pipeInput('p1', null as unknown as string)
    await orders.pipeInput('o4', 'p1')
    expect(out.readValues()).toEqual(['o1:apple', 'o2:?', 'o3:pear', 'o4:?'])
    const store = await driver.getStore<KeyValueStore<string, string>>('products')
    expect(await store.get('p2')).toBe('pear')
    await driver.close()
  })

  it('a sink writing to a global store topic updates the store, as the broker would', async () => {
    const built = new TopologyBuilder()
      .addGlobalStore(products(), { topic: 'products' })
      .addSource('updates', { topics: ['updates'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addSink('to-products', {
        topic: 'products',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['updates'],
      })
      .build()
    const driver = new TopologyTestDriver(built)
    await driver.createInputTopic('updates', serdes.string(), serdes.string()).pipeInput('p9', 'plum')
    const store = await driver.getStore<KeyValueStore<string, string>>('products')
    expect(await store.get('p9')).toBe('plum')
    await driver.close()
  })

  it('a processor that writes to a global store fails with a StoreError: it is read-only', async () => {
    const built = new TopologyBuilder()
      .addGlobalStore(products(), { topic: 'products' })
      .addSource('orders', { topics: ['orders'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('writer', { parents: ['orders'], stores: ['products'] }, () => {
        let store: KeyValueStore<string, string>
        return {
          init: (context) => {
            store = context.getStore<KeyValueStore<string, string>>('products')
          },
          process: async (record) => {
            expect(await store.get(record.key)).toBeUndefined()
            await store.put(record.key, record.value)
          },
        }
      })
      .build()
    const driver = new TopologyTestDriver(built)
    await expect(
      driver.createInputTopic('orders', serdes.string(), serdes.string()).pipeInput('o1', 'p1'),
    ).rejects.toThrow(/global store "products" is read-only for processors \(put\)/)
    await driver.close()
  })

  it('global stores are listed by describe() and belong to no sub-topology', () => {
    const built = topology()
    expect(built.subtopologies).toHaveLength(1)
    expect(built.subtopologies[0]!.stores).toEqual([])
    expect(built.sourceTopics).toEqual(['orders'])
    expect(built.describe().text).toContain('Global store: products (topic: products)')
  })
})

describe('global store configuration errors', () => {
  it('a global store with logging on, no topic, or a topic also read by a source is a TopologyError', () => {
    const logged = stores.keyValue('g', { keySerde: serdes.string(), valueSerde: serdes.string() })
    expect(() => new TopologyBuilder().addGlobalStore(logged, { topic: 't' })).toThrow(/logging off/)
    expect(() => new TopologyBuilder().addGlobalStore(products(), { topic: '' })).toThrow(/needs a "topic"/)
    expect(() =>
      new TopologyBuilder()
        .addSource('s', { topics: ['products'], keySerde: serdes.string(), valueSerde: serdes.string() })
        .addGlobalStore(products(), { topic: 'products' }),
    ).toThrow(TopologyError)
    expect(() =>
      new TopologyBuilder()
        .addGlobalStore(products(), { topic: 'products' })
        .addSource('s', { topics: ['products'], keySerde: serdes.string(), valueSerde: serdes.string() }),
    ).toThrow(/global store "products"/)
    expect(() =>
      new TopologyBuilder()
        .addStore(stores.keyValue('products', { keySerde: serdes.string(), valueSerde: serdes.string() }))
        .addGlobalStore(products(), { topic: 'products' }),
    ).toThrow(/added twice/)
  })
})

describe('global stores in the runtime (simulated Kafka)', () => {
  it('start() fills the store from every partition before the first record runs, then keeps it up to date', async () => {
    const kafka = new SimulatedKafka({ seed: 11 })
    kafka.createTopic('products', 3)
    kafka.createTopic('orders', 2)
    kafka.createTopic('out', 2)
    const encode = (text: string) => new TextEncoder().encode(text)
    const rows = Array.from({ length: 60 }, (_, index) => ({ key: `p${index}`, value: `product-${index}` }))
    kafka.produce(
      'products',
      rows.map((row) => ({ key: encode(row.key), value: encode(row.value) })),
    )
    kafka.produce(
      'orders',
      rows.map((row, index) => ({ key: encode(`o${index}`), value: encode(row.key) })),
    )
    const app = createApp(topology(), {
      applicationId: 'global-store-app',
      bootstrapServers: ['sim:9092'],
      kafka: kafka.port('instance'),
      commitIntervalMs: 20,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    await app.start()
    const store = app.getStore<KeyValueStore<string, string>>('products', 0)!
    expect(await store.approximateCount()).toBe(60)
    const outputs = () =>
      [0, 1].flatMap((partition) =>
        kafka.records('out', partition).map((record) => new TextDecoder().decode(record.value!)),
      )
    await until(() => outputs().length === 60)
    expect(outputs().filter((value) => value.endsWith(':?'))).toEqual([])
    kafka.produce('products', [{ key: encode('p-new'), value: encode('fresh') }])
    await eventually(async () => (await store.get('p-new')) === 'fresh')
    kafka.produce('orders', [{ key: encode('late'), value: encode('p-new') }])
    await until(() => outputs().includes('late:fresh'))
    kafka.produce('products', [{ key: encode('p-new'), value: null }])
    await eventually(async () => (await store.get('p-new')) === undefined)
    await app.close()
  })

  it('start() fails with a TopologyError naming the store when its topic does not exist', async () => {
    const kafka = new SimulatedKafka({ seed: 12 })
    kafka.createTopic('orders', 1)
    kafka.createTopic('out', 1)
    const app = createApp(topology(), {
      applicationId: 'global-store-missing',
      bootstrapServers: ['sim:9092'],
      kafka: kafka.port('instance'),
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    await expect(app.start()).rejects.toThrow(/global store\(s\) "products" \("products"\) do not exist/)
  })

  it('a persistent global store resumes from its checkpointed offsets: a restart reads only what is new', async () => {
    const kafka = new SimulatedKafka({ seed: 13 })
    kafka.createTopic('products', 2)
    kafka.createTopic('orders', 1)
    kafka.createTopic('out', 1)
    const encode = (text: string) => new TextEncoder().encode(text)
    const produce = (from: number, to: number) =>
      kafka.produce(
        'products',
        Array.from({ length: to - from }, (_, index) => ({
          key: encode(`p${from + index}`),
          value: encode(`product-${from + index}`),
        })),
      )
    produce(0, 50)
    // A "disk" that outlives the app: the same backend for every open of the store.
    const disk = new MemoryBackend()
    const persistent: StoreBackendFactory = {
      name: 'persistent-memory',
      persistent: true,
      open: () => ({
        contractVersion: disk.contractVersion,
        capabilities: { ...disk.capabilities, persistent: true },
        get: (key: Uint8Array) => disk.get(key),
        getMany: (keys: readonly Uint8Array[]) => disk.getMany(keys),
        write: (batch: Parameters<MemoryBackend['write']>[0]) => disk.write(batch),
        range: (options?: Parameters<MemoryBackend['range']>[0]) => disk.range(options),
        approximateCount: () => disk.approximateCount(),
        flush: async () => {},
        close: async () => {},
      }),
    }
    const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-global-'))
    const restored: string[] = []
    const logger = {
      ...silentLogger,
      info: (message: string) => {
        if (message.startsWith('global stores')) restored.push(message)
      },
    }
    const persistentTopology = () =>
      new TopologyBuilder()
        .addGlobalStore(
          stores.keyValue('products', {
            keySerde: serdes.string(),
            valueSerde: serdes.string(),
            logging: false,
            backend: persistent,
          }),
          { topic: 'products' },
        )
        .addSource('orders', { topics: ['orders'], keySerde: serdes.string(), valueSerde: serdes.string() })
        .addProcessor('lookup', { parents: ['orders'], stores: ['products'] }, lookup)
        .addSink('out', {
          topic: 'out',
          keySerde: serdes.string(),
          valueSerde: serdes.string(),
          parents: ['lookup'],
        })
        .build()
    const run = async (port: string) => {
      const app = createApp(persistentTopology(), {
        applicationId: 'global-checkpoint',
        bootstrapServers: ['sim:9092'],
        kafka: kafka.port(port),
        stateDir,
        handleSignals: false,
        logger,
        onFatalError: () => {},
      })
      await app.start()
      const count = await app.getStore<KeyValueStore<string, string>>('products', 0)!.approximateCount()
      await app.close()
      return count
    }
    try {
      expect(await run('first')).toBe(50)
      produce(50, 60)
      expect(await run('second')).toBe(60)
      expect(restored[0]).toContain('restored 50 record(s)')
      expect(restored[1]).toContain('restored 10 record(s)')
    } finally {
      await rm(stateDir, { recursive: true, force: true })
    }
  })
})
