// Hostile records on a real broker (a private one whose message.max.bytes is raised to 16 MiB),
// each under the policies fail, continue and dead-letter: 10 MB values (readable and not), a
// record larger than the output topic accepts, header names that are not UTF-8, and a changelog
// entry its store cannot read. In continue mode nothing stops and every skipped record is
// counted on kstreams:record:error; in dead-letter mode the dead-letter topic holds the
// original bytes.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { type DedicatedKafka, startDedicatedKafka, uniqueName } from '@kstreams/test-helpers'
import { Admin, Consumer, Producer } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import {
  ConfigError,
  channels,
  createApp,
  DeadLetterHeaders,
  type KeyValueStore,
  KStreamsError,
  type ProcessorContext,
  type RecordErrorPolicy,
  type StreamsConfig,
  serdes,
  silentLogger,
  stores,
  type Topology,
  TopologyBuilder,
} from '../../src/index.js'

const MiB = 1024 * 1024
let kafka: DedicatedKafka

beforeAll(async () => {
  kafka = await startDedicatedKafka({
    port: 24292,
    properties: { 'message.max.bytes': 16 * MiB, 'replica.fetch.max.bytes': 16 * MiB },
  })
}, 300_000)

afterAll(() => kafka?.close())

interface RawRecord {
  key: Buffer | null
  value: Buffer | null
  headers: Array<[Buffer, Buffer]>
}

async function produceRaw(topic: string, records: RawRecord[]): Promise<void> {
  const producer = new Producer({
    clientId: uniqueName('hostile-producer'),
    bootstrapBrokers: kafka.bootstrapServers,
    idempotent: true,
  })
  try {
    // One at a time: each may be 10 MB, and their order matters.
    for (const record of records) {
      await producer.send({
        messages: [
          {
            topic,
            key: record.key ?? undefined,
            value: record.value ?? undefined,
            headers: new Map(record.headers),
          },
        ],
        acks: -1,
      })
    }
  } finally {
    await producer.close()
  }
}

/** Reads `topic` from the start, keys, values and header names as raw bytes, until `done`. */
async function readRaw(topic: string, done: (records: RawRecord[]) => boolean): Promise<RawRecord[]> {
  const consumer = new Consumer({
    groupId: uniqueName('hostile-reader'),
    clientId: uniqueName('hostile-reader'),
    bootstrapBrokers: kafka.bootstrapServers,
    maxWaitTime: 200,
    maxBytes: 32 * MiB,
  })
  const records: RawRecord[] = []
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 180_000
      const timer = setInterval(() => {
        if (done(records)) finish()
        else if (Date.now() > deadline)
          finish(new Error(`reading ${topic}: ${records.length} record(s) only`))
      }, 100)
      const finish = (error?: Error) => {
        clearInterval(timer)
        stream.removeAllListeners('data')
        if (error) reject(error)
        else resolve()
      }
      stream.on('data', (message) => {
        records.push({
          key: (message.key as Buffer | undefined) ?? null,
          value: (message.value as Buffer | undefined) ?? null,
          headers: [...(message.headers as Map<Buffer, Buffer>)],
        })
      })
      stream.on('error', (error) => finish(error))
    })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return records
}

const textOf = (record: RawRecord) => record.value?.toString('utf8')

/** Record errors published while the current test runs. */
function recordErrors(): Array<{ stage: string; policy: string }> {
  const seen: Array<{ stage: string; policy: string }> = []
  const onError = (message: unknown) => seen.push(message as { stage: string; policy: string })
  subscribe(channels.recordError.name, onError)
  onTestFinished(() => {
    unsubscribe(channels.recordError.name, onError)
  })
  return seen
}

function startApp(topology: Topology, config: Partial<StreamsConfig>) {
  const applicationId = config.applicationId ?? uniqueName('hostile-app')
  const app = createApp(topology, {
    applicationId,
    bootstrapServers: kafka.bootstrapServers,
    commitIntervalMs: 200,
    handleSignals: false,
    onFatalError: () => {},
    logger: silentLogger,
    deadLetterTopic: `${applicationId}-dlq`,
    ...config,
  })
  onTestFinished(() => app.close())
  return { app, applicationId, deadLetterTopic: `${applicationId}-dlq` }
}

/** Copies string values, throwing on the value "poison". */
function copyTopology(input: string, output: string): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('copy', { parents: ['input'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          if (record.value === 'poison') throw new Error('poison value')
          context.forward(record)
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['copy'],
    })
    .build()
}

const failure = (app: { done(): Promise<void> }) =>
  app.done().then(
    () => undefined,
    (error: unknown) => error,
  )

const policies: readonly RecordErrorPolicy[] = ['fail', 'continue', 'dead-letter']

describe('hostile inputs on a real broker', () => {
  it.each(policies)(
    "10 MB values, readable and not, under deserialization policy '%s'",
    async (policy) => {
      const [input, output] = await kafka.createTopics({ prefix: 'big-in' }, { prefix: 'big-out' })
      const readable = Buffer.alloc(10 * MiB, 'x')
      // 0xff never appears in UTF-8: the string serde cannot read it.
      const unreadable = Buffer.alloc(10 * MiB, 0xff)
      await produceRaw(input!, [
        { key: Buffer.from('big'), value: readable, headers: [] },
        { key: Buffer.from('bad'), value: unreadable, headers: [] },
        { key: Buffer.from('after'), value: Buffer.from('after'), headers: [] },
      ])
      const errors = recordErrors()
      const { app, deadLetterTopic } = startApp(copyTopology(input!, output!), {
        deserializationErrorPolicy: policy,
      })
      await app.start()
      if (policy === 'fail') {
        const error = await failure(app)
        expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_SERDE')
        const copied = await readRaw(output!, (records) => records.length >= 1)
        expect(copied.map((record) => record.value?.length)).toEqual([10 * MiB])
        return
      }
      const copied = await readRaw(output!, (records) => records.length >= 2)
      expect(copied.map((record) => record.key?.toString())).toEqual(['big', 'after'])
      expect(copied[0]!.value!.equals(readable)).toBe(true)
      expect(errors.map((event) => [event.stage, event.policy])).toEqual([['deserialization', policy]])
      if (policy === 'dead-letter') {
        const [dead] = await readRaw(deadLetterTopic, (records) => records.length >= 1)
        expect(dead!.key?.toString()).toBe('bad')
        expect(dead!.value!.equals(unreadable)).toBe(true)
      }
      expect(app.state).toBe('running')
    },
    300_000,
  )

  it.each(['fail', 'continue'] as const)(
    "a record larger than the output topic accepts, under production policy '%s'",
    async (policy) => {
      const [input] = await kafka.createTopics({ prefix: 'large-in' })
      const [output] = await kafka.createTopics({
        prefix: 'large-out',
        configs: { 'max.message.bytes': String(MiB) },
      })
      await produceRaw(input!, [
        { key: Buffer.from('large'), value: Buffer.alloc(2 * MiB, 'y'), headers: [] },
        { key: Buffer.from('after'), value: Buffer.from('after'), headers: [] },
      ])
      const warnings: string[] = []
      const { app } = startApp(copyTopology(input!, output!), {
        productionErrorPolicy: policy,
        logger: { ...silentLogger, warn: (message) => warnings.push(message) },
      })
      await app.start()
      if (policy === 'fail') {
        const error = await failure(app)
        expect(KStreamsError.isInstance(error)).toBe(true)
        expect(String((error as Error).message)).toMatch(/too large|MESSAGE_TOO_LARGE|RECORD/i)
        return
      }
      const copied = await readRaw(output!, (records) => records.some((record) => textOf(record) === 'after'))
      expect(copied.map(textOf)).toEqual(['after'])
      // Counted: the one refused record is logged as skipped.
      expect(warnings.filter((warning) => warning.includes('policy continue: skipped'))).toHaveLength(1)
      expect(app.state).toBe('running')
    },
    300_000,
  )

  it("rejects productionErrorPolicy 'dead-letter' by name: the broker refused the record, a DLQ would too", () => {
    expect(() =>
      createApp(copyTopology('a', 'b'), {
        applicationId: 'x',
        bootstrapServers: kafka.bootstrapServers,
        productionErrorPolicy: 'dead-letter' as 'fail',
      }),
    ).toThrow(ConfigError)
  })

  it.each(policies)(
    "header names that are not UTF-8, under processing policy '%s'",
    async (policy) => {
      const [input, output] = await kafka.createTopics({ prefix: 'headers-in' }, { prefix: 'headers-out' })
      const invalidName = Buffer.from([0x74, 0xff, 0xfe, 0x78])
      const headers: Array<[Buffer, Buffer]> = [
        [invalidName, Buffer.from([0xc3, 0x28])],
        [Buffer.from('ok'), Buffer.from('fine')],
      ]
      await produceRaw(input!, [
        { key: Buffer.from('k1'), value: Buffer.from('poison'), headers },
        { key: Buffer.from('k2'), value: Buffer.from('after'), headers },
      ])
      const errors = recordErrors()
      const { app, deadLetterTopic } = startApp(copyTopology(input!, output!), {
        processingErrorPolicy: policy,
      })
      await app.start()
      if (policy === 'fail') {
        const error = await failure(app)
        expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_PROCESSING')
        return
      }
      const [copied] = await readRaw(output!, (records) => records.length >= 1)
      expect(textOf(copied!)).toBe('after')
      // A header the processor forwards keeps its bytes, its name included.
      expect(copied!.headers.map(([name, value]) => [name.toString('hex'), value.toString('hex')])).toEqual(
        headers.map(([name, value]) => [name.toString('hex'), value.toString('hex')]),
      )
      expect(errors.map((event) => event.stage)).toEqual(['processing'])
      if (policy === 'dead-letter') {
        const [dead] = await readRaw(deadLetterTopic, (records) => records.length >= 1)
        expect(textOf(dead!)).toBe('poison')
        const original = dead!.headers.filter(([name]) => !name.toString('latin1').startsWith('kstreams.'))
        expect(original.map(([name, value]) => [name.toString('hex'), value.toString('hex')])).toEqual(
          headers.map(([name, value]) => [name.toString('hex'), value.toString('hex')]),
        )
        expect(
          dead!.headers.find(([name]) => name.toString() === DeadLetterHeaders.stage)?.[1].toString(),
        ).toBe('processing')
      }
    },
    300_000,
  )

  it.each(policies)(
    "a changelog entry its store cannot read, under processing policy '%s'",
    async (policy) => {
      const [input, output] = await kafka.createTopics(
        { prefix: 'changelog-in' },
        { prefix: 'changelog-out' },
      )
      const applicationId = uniqueName('hostile-changelog')
      // The changelog as kstreams would create it, holding a count of 3 bytes (an int64 takes 8).
      const changelog = `${applicationId}-counts-changelog`
      await createTopic(changelog, { 'cleanup.policy': 'compact' })
      await produceRaw(changelog, [
        { key: Buffer.from('a'), value: Buffer.from([1, 2, 3]), headers: [] },
        { key: Buffer.from('b'), value: Buffer.from([0, 0, 0, 0, 0, 0, 0, 5]), headers: [] },
      ])
      await produceRaw(input!, [
        { key: Buffer.from('a'), value: Buffer.from('1'), headers: [] },
        { key: Buffer.from('b'), value: Buffer.from('2'), headers: [] },
      ])
      const errors = recordErrors()
      const { app, deadLetterTopic } = startApp(countingTopology(input!, output!), {
        applicationId,
        processingErrorPolicy: policy,
      })
      await app.start()
      if (policy === 'fail') {
        const error = await failure(app)
        expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_PROCESSING')
        expect(String((error as Error).message)).toContain('counts')
        return
      }
      // b's restored count (5) goes on; a's unreadable entry fails the record that reads it.
      const [counted] = await readRaw(output!, (records) => records.length >= 1)
      expect(counted!.key?.toString()).toBe('b')
      expect(counted!.value!.readBigInt64BE()).toBe(6n)
      expect(errors.map((event) => event.stage)).toEqual(['processing'])
      if (policy === 'dead-letter') {
        const [dead] = await readRaw(deadLetterTopic, (records) => records.length >= 1)
        expect(dead!.key?.toString()).toBe('a')
        expect(textOf(dead!)).toBe('1')
      }
    },
    300_000,
  )
})

async function createTopic(name: string, configs: Record<string, string>): Promise<void> {
  const admin = new Admin({ clientId: uniqueName('hostile-admin'), bootstrapBrokers: kafka.bootstrapServers })
  try {
    await admin.createTopics({
      topics: [name],
      partitions: 1,
      replicas: 1,
      configs: Object.entries(configs).map(([configName, value]) => ({ name: configName, value })),
    })
  } finally {
    await admin.close()
  }
}

function countingTopology(input: string, output: string): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
      let context: ProcessorContext<string, bigint>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext) => {
          context = processorContext
          counts = context.getStore('counts')
        },
        process: async (record) => {
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({ ...record, value: count })
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}
