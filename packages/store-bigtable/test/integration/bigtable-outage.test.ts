// Bigtable away at commit: a private emulator on another port (its own services directory), paused
// with SIGSTOP (requests hang until their deadline) and stopped (connections refused). The shared
// emulator the other tests use is never touched.
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Bigtable } from '@google-cloud/bigtable'
import {
  type CommitPoint,
  createApp,
  type KeyValueStore,
  type ProcessorContext,
  type StoreBackend,
  StoreError,
  serdes,
  stores,
  TopologyBuilder,
} from '@kstreams/core'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { createBigtableBackend } from '../../src/index.js'
import { contextFor, dataRowKey, instanceId, metaRowKey, projectId, text } from './helpers.js'

const script = fileURLToPath(new URL('../../../../tooling/services/bigtable.sh', import.meta.url))
const port = Number(process.env.KSTREAMS_TEST_BIGTABLE_OUTAGE_PORT ?? 18086)
const endpoint = `127.0.0.1:${port}`
let servicesDir: string
let client: Bigtable

function service(command: 'start' | 'stop'): void {
  execFileSync('bash', [script, command], {
    env: { ...process.env, BIGTABLE_PORT: String(port), KSTREAMS_SERVICES_DIR: servicesDir },
    stdio: 'inherit',
  })
}

async function emulatorPid(): Promise<number> {
  return Number((await readFile(join(servicesDir, 'bigtable', 'bigtable.pid'), 'utf8')).trim())
}

beforeAll(async () => {
  servicesDir = await mkdtemp(join(tmpdir(), 'kstreams-bigtable-outage-'))
  service('start')
  client = new Bigtable({ projectId, apiEndpoint: endpoint, metricsEnabled: false })
})

afterAll(async () => {
  await client?.close()
  // SIGCONT first, in case a failed test left it paused: a stopped process ignores SIGTERM.
  await emulatorPid()
    .then((pid) => process.kill(pid, 'SIGCONT'))
    .catch(() => {})
  service('stop')
  await rm(servicesDir, { recursive: true, force: true })
})

async function stored(tableId: string, rowKey: Buffer, column = 'v'): Promise<string | undefined> {
  const [rows] = await client
    .instance(instanceId)
    .table(tableId)
    .getRows({ keys: [rowKey as unknown as string], decode: false })
  const value = rows[0]?.data?.kstreams?.[column]?.[0]?.value as Buffer | undefined
  return value === undefined ? undefined : Buffer.from(value).toString()
}

async function flushError(backend: StoreBackend, commitPoint: CommitPoint): Promise<StoreError> {
  const error = await Promise.resolve(backend.flush(commitPoint)).then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(StoreError)
  return error as StoreError
}

describe('Bigtable unreachable at flush', () => {
  it('fails the flush with a retriable StoreError, keeps the writes, and flushes them once Bigtable is back', async () => {
    const tableId = 'outage'
    const factory = createBigtableBackend({
      projectId,
      instanceId,
      tableId,
      createTable: true,
      requestTimeoutMs: 1000,
      clientOptions: { apiEndpoint: endpoint },
    })
    const context = contextFor()
    const commitPoint = (offset: bigint): CommitPoint => ({
      taskId: context.taskId,
      inputs: [{ topic: 'input', partition: 3, offset, completed: [], streamTime: 0 }],
      changelogs: [],
      ownership: context.ownership,
    })
    const backend = await factory.open(context)
    try {
      await backend.write([{ key: text('before'), value: text('1') }])
      await backend.flush(commitPoint(1n))
      await backend.write([
        { key: text('during'), value: text('2') },
        { key: text('before'), value: null },
      ])

      // Paused: the requests hang until their deadline.
      const pid = await emulatorPid()
      process.kill(pid, 'SIGSTOP')
      const started = Date.now()
      let error: StoreError
      try {
        error = await flushError(backend, commitPoint(2n))
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      const failedAfterMs = Date.now() - started
      expect(error.retriable).toBe(true)
      expect(error.message).toContain('Bigtable store "counts" of task 0_3')
      expect(error.message).toMatch(
        /flush of row "[^"]+\/counts\/3#meta" failed \(Bigtable unreachable or busy; retriable\)/,
      )
      expect(error.context).toMatchObject({ store: 'counts', taskId: '0_3', operation: 'flush' })
      // The writes are still there for reads and for the next flush; the table has the old state.
      expect(Buffer.from((await backend.get(text('during')))!).toString()).toBe('2')
      expect(await backend.get(text('before'))).toBeUndefined()
      const row = (key: string) => dataRowKey(context.applicationId, 'counts', 3, text(key))
      expect(await stored(tableId, row('before'))).toBe('1')
      expect(await stored(tableId, row('during'))).toBeUndefined()

      // Back: the next flush writes everything, and the commit point with it.
      await backend.flush(commitPoint(2n))
      expect(await stored(tableId, row('during'))).toBe('2')
      expect(await stored(tableId, row('before'))).toBeUndefined()
      const meta = await stored(tableId, metaRowKey(context.applicationId, 'counts', 3), 'commit')
      expect(JSON.parse(meta!).inputs[0].offset).toBe('2')

      // Stopped: connections are refused, the flush fails as retriable again.
      await backend.write([{ key: text('after'), value: text('3') }])
      service('stop')
      const refused = await flushError(backend, commitPoint(3n))
      expect(refused.retriable).toBe(true)
      expect(refused.context).toMatchObject({ operation: 'flush' })
      expect(Buffer.from((await backend.get(text('after')))!).toString()).toBe('3')
      console.info(
        `outage: a paused Bigtable failed the flush after ${failedAfterMs} ms (requestTimeoutMs 1000); a stopped one with: ${refused.message}`,
      )
    } finally {
      await backend.close()
      // Started again (empty: the emulator keeps its tables in memory) for the next tests.
      service('start')
    }
  })

  it('a read waits for a paused Bigtable and returns once it is back; past holdTimeoutMs it fails retriable', async () => {
    const factory = createBigtableBackend({
      projectId,
      instanceId,
      tableId: 'outage-reads',
      createTable: true,
      requestTimeoutMs: 500,
      holdTimeoutMs: 6000,
      clientOptions: { apiEndpoint: endpoint },
    })
    const context = contextFor()
    const backend = await factory.open(context)
    const short = await createBigtableBackend({
      projectId,
      instanceId,
      tableId: 'outage-reads',
      requestTimeoutMs: 500,
      holdTimeoutMs: 1000,
      clientOptions: { apiEndpoint: endpoint },
    }).open(contextFor({ applicationId: context.applicationId, storeName: 'other' }))
    try {
      await backend.write([{ key: text('k'), value: text('stored') }])
      await backend.flush()
      const pid = await emulatorPid()
      process.kill(pid, 'SIGSTOP')
      const started = Date.now()
      let resumed = 0
      const read = Promise.resolve(backend.get(text('k'))).then((value) => ({
        value,
        afterMs: Date.now() - started,
      }))
      const failing = Promise.resolve(short.get(text('k'))).then(
        () => undefined,
        (caught: unknown) => caught,
      )
      try {
        const error = await failing
        expect(error).toBeInstanceOf(StoreError)
        expect((error as StoreError).retriable).toBe(true)
        expect((error as StoreError).context).toMatchObject({ operation: 'get', store: 'other' })
        await new Promise((resolve) => setTimeout(resolve, 1500))
      } finally {
        resumed = Date.now() - started
        process.kill(pid, 'SIGCONT')
      }
      const { value, afterMs } = await read
      expect(Buffer.from(value!).toString()).toBe('stored')
      expect(afterMs).toBeGreaterThanOrEqual(resumed)
    } finally {
      await backend.close()
      await short.close()
    }
  })

  it('a counting app rides out a paused Bigtable: flushes are retried at later commits and the counts stay exact', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'bigtable-outage-in', partitions: 2 },
      { prefix: 'bigtable-outage-out', partitions: 2 },
    )
    const tableId = 'outage-app'
    const warnings: string[] = []
    const app = createApp(
      new TopologyBuilder()
        .addSource('input', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
        .addStore(
          stores.keyValue('counts', {
            keySerde: serdes.string(),
            valueSerde: serdes.int64(),
            logging: false,
            backend: createBigtableBackend({
              projectId,
              instanceId,
              tableId,
              createTable: true,
              requestTimeoutMs: 500,
              clientOptions: { apiEndpoint: endpoint },
            }),
          }),
        )
        .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
          let context: ProcessorContext<string, bigint>
          let counts: KeyValueStore<string, bigint>
          return {
            init: (processorContext: ProcessorContext<string, bigint>) => {
              context = processorContext
              counts = context.getStore<KeyValueStore<string, bigint>>('counts')
            },
            process: async (record: { key: string; timestamp: number }) => {
              const count = ((await counts.get(record.key)) ?? 0n) + 1n
              await counts.put(record.key, count)
              context.forward({ key: record.key, value: count, timestamp: record.timestamp, headers: [] })
            },
          }
        })
        .addSink('output', {
          topic: output!,
          keySerde: serdes.string(),
          valueSerde: serdes.int64(),
          parents: ['count'],
        })
        .build(),
      {
        applicationId: uniqueName('bigtable-outage'),
        bootstrapServers: endpoints.kafkaBootstrapServers,
        onFatalError: () => {},
        commitIntervalMs: 200,
        handleSignals: false,
        logger: { debug() {}, info() {}, error() {}, warn: (message) => warnings.push(message) },
      },
    )
    onTestFinished(() => app.close())
    const keys = 100
    await produceStrings(
      input!,
      Array.from({ length: keys }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
    )
    await app.start()
    await readTopicUntil(output!, (read) => read.length >= keys, 60_000)
    // Paused while records arrive: first for keys the record cache holds (no read needs Bigtable,
    // so commits go on and their flushes fail), then for new keys (their reads wait for Bigtable).
    const pid = await emulatorPid()
    process.kill(pid, 'SIGSTOP')
    const flushWarnings = () => warnings.filter((warning) => warning.includes('could not flush their stores'))
    try {
      await produceStrings(
        input!,
        Array.from({ length: keys }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
      )
      const deadline = Date.now() + 10_000
      while (flushWarnings().length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(flushWarnings().length).toBe(1)
      await produceStrings(
        input!,
        Array.from({ length: keys }, (_, index) => ({ key: `key-${keys + index}`, value: 'x' })),
      )
      await new Promise((resolve) => setTimeout(resolve, 2000))
      expect(app.state).not.toBe('error')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    const latest = (messages: ReadMessage[]) =>
      new Map(messages.map((message) => [message.key!, message.valueBytes!.readBigInt64BE()]))
    const messages = await readTopicUntil(
      output!,
      (read) => {
        const counts = latest(read)
        return (
          [...counts.entries()].filter(([key, count]) => count >= (Number(key.slice(4)) < keys ? 2n : 1n))
            .length ===
          keys * 2
        )
      },
      60_000,
    )
    for (const [key, count] of latest(messages))
      expect(count, key).toBe(Number(key.slice(4)) < keys ? 2n : 1n)
    expect(app.state).toBe('running')
    // One warning for the streak, none after it ended.
    expect(flushWarnings().length).toBe(1)
    await app.close()
    console.info(`outage in an app: the flush warning was: ${flushWarnings()[0]?.slice(0, 400)}`)
  })
})
