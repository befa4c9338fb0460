// The query server and local views of one instance in this process, on the real broker: a store
// still restoring, bad requests, window and session routes, authorization and the bind address.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { get as httpsGet } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  createMemoryBackend,
  createQueryClient,
  type KeyValueStore,
  type KStreamsApp,
  KStreamsError,
  type StoreBackendFactory,
  serdes,
  sessionCount,
  sessionWindows,
  stores,
  type Topology,
  TopologyBuilder,
  tumblingWindows,
  windowedCount,
} from '../../src/index.js'

/** A memory backend whose writes wait for `open()` of the gate: holds a restore in the middle. */
function gatedBackend(): { factory: StoreBackendFactory; open: () => void } {
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const memory = createMemoryBackend()
  const factory: StoreBackendFactory = {
    name: 'gated-memory',
    persistent: false,
    async open(context) {
      const inner = await memory.open(context)
      return {
        contractVersion: 1,
        capabilities: inner.capabilities,
        get: (key) => inner.get(key),
        getMany: (keys) => inner.getMany(keys),
        write: async (batch) => {
          await gate
          return inner.write(batch)
        },
        range: (options) => inner.range(options),
        approximateCount: () => inner.approximateCount(),
        flush: (commitPoint) => inner.flush(commitPoint),
        close: () => inner.close(),
      }
    },
  }
  return { factory, open: release }
}

function countingTopology(topic: string, backend?: StoreBackendFactory) {
  return new TopologyBuilder()
    .addSource('input', { topics: [topic], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend }))
    .addStore(stores.window('per-minute', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
    .addStore(stores.session('visits', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
      let counts: KeyValueStore<string, bigint>
      return {
        init: (context) => {
          counts = context.getStore('counts')
        },
        process: async (record) => {
          await counts.put(record.key, ((await counts.get(record.key)) ?? 0n) + 1n)
        },
      }
    })
    .addProcessor(
      'minutes',
      { parents: ['input'], stores: ['per-minute'] },
      windowedCount({
        store: 'per-minute',
        windows: tumblingWindows({ sizeMs: 60_000, graceMs: 86_400_000 }),
      }),
    )
    .addProcessor(
      'sessions',
      { parents: ['input'], stores: ['visits'] },
      sessionCount({
        store: 'visits',
        windows: sessionWindows({ inactivityGapMs: 1000, graceMs: 86_400_000 }),
      }),
    )
    .build()
}

async function startApp<T extends Topology>(topology: T, applicationId: string): Promise<KStreamsApp<T>> {
  const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-query-server-'))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  const app = createApp(topology, {
    applicationId,
    bootstrapServers: endpoints.kafkaBootstrapServers,
    commitIntervalMs: 300,
    stateDir,
    handleSignals: false,
  })
  onTestFinished(() => app.close())
  await app.start()
  return app
}

async function waitFor<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read().catch((error) => error as T)
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out; last: ${String(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const BASE = Date.UTC(2026, 0, 1)

async function setUp() {
  const [input] = await createTestTopics({ prefix: 'query-server-in', partitions: 2 })
  const applicationId = uniqueName('query-server')
  deleteTopicsWhenTestEnds(
    `${applicationId}-counts-changelog`,
    `${applicationId}-per-minute-changelog`,
    `${applicationId}-visits-changelog`,
    `${applicationId}-instances`,
  )
  const records = []
  for (let index = 0; index < 200; index += 1) {
    // key-N gets N % 4 + 1 records, 100 ms apart (one session each), in the first minute.
    for (let count = 0; count <= index % 4; count += 1) {
      records.push({ key: `key-${index}`, value: 'x', timestamp: BASE + count * 100 })
    }
  }
  await produceStrings(input!, records)
  return { input: input!, applicationId, expected: (index: number) => BigInt((index % 4) + 1) }
}

async function restoringChecks(
  second: KStreamsApp<ReturnType<typeof countingTopology>>,
  gated: { open: () => void },
  expected: (index: number) => bigint,
): Promise<void> {
  const server = await second.serveQueries()
  const error = await waitFor(
    () => second.store('counts').get('key-3'),
    (value) => KStreamsError.isInstance(value),
  )
  expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_STORE')
  expect(KStreamsError.isInstance(error) && error.retriable).toBe(true)
  expect((error as unknown as Error).message).toMatch(
    /is restoring from its changelog \((store "\S+" at changelog offset \d+ of \d+|waiting for the restores of other tasks to end|starting)/,
  )
  // allowRestoring reads the partial state (nothing is applied while the gate holds the restore).
  const partial = await second.store('counts', { allowRestoring: true }).get('key-3')
  expect(partial === undefined || typeof partial === 'bigint').toBe(true)
  const over = await fetch(`${server.url}/v1/stores/counts/get?key=${encodeURIComponent('"key-3"')}`)
  expect(over.status).toBe(503)
  const body = (await over.json()) as { error: { code: string; retriable: boolean; restoring: boolean } }
  expect(body.error).toMatchObject({ code: 'KSTREAMS_STORE', retriable: true, restoring: true })
  expect((await fetch(`${server.url}/ready`)).status).toBe(503)
  expect((await fetch(`${server.url}/health`)).status).toBe(200)
  gated.open()
  await waitFor(
    () => second.store('counts').get('key-3'),
    (value) => value === expected(3),
  )
  await waitFor(
    async () => (await fetch(`${server.url}/ready`)).status,
    (status) => status === 200,
  )
}

describe('query server', () => {
  it('a store still restoring answers "restoring" (retriable, with progress) unless allowRestoring; ready once restored', async () => {
    const { input, applicationId, expected } = await setUp()
    const first = await startApp(countingTopology(input), applicationId)
    await waitFor(
      () => first.store('counts').get('key-199'),
      (value) => value === expected(199),
    )
    await first.close()
    const gated = gatedBackend()
    const second = await startApp(countingTopology(input, gated.factory), applicationId)
    try {
      await restoringChecks(second, gated, expected)
    } finally {
      gated.open()
    }
  }, 300_000)

  it('bad requests get clear 4xx errors and the server stays up; window and session routes answer', async () => {
    const { input, applicationId, expected } = await setUp()
    const topology = countingTopology(input)
    const app = await startApp(topology, applicationId)
    const server = await app.serveQueries({ maxBodyBytes: 1024, maxPageSize: 50 })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    await waitFor(
      () => app.store('counts').get('key-199'),
      (value) => value === expected(199),
    )
    const call = async (path: string, init?: RequestInit) => {
      const response = await fetch(`${server.url}${path}`, init)
      return {
        status: response.status,
        body: (await response.json()) as { error?: { code: string; message: string } },
      }
    }
    const unknown = await call('/v1/stores/nope/get?key=%22a%22')
    expect(unknown.status).toBe(404)
    expect(unknown.body.error?.message).toMatch(
      /unknown store "nope" \(queryable stores: "counts", "per-minute", "visits"\)/,
    )
    const malformed = await call('/v1/stores/counts/get?key=not-json')
    expect(malformed.status).toBe(400)
    expect(malformed.body.error?.message).toMatch(/"key" is not valid JSON/)
    const notHex = await call('/v1/stores/counts/get?keyBytes=zz')
    expect(notHex.status).toBe(400)
    expect(notHex.body.error?.message).toMatch(/"keyBytes" must be hex/)
    const noKey = await call('/v1/stores/counts/get')
    expect(noKey.status).toBe(400)
    expect(noKey.body.error?.message).toMatch(/missing "key"/)
    const oversize = await call('/v1/stores/counts/get-many', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: Array.from({ length: 200 }, (_, index) => `key-${index}`) }),
    })
    expect(oversize.status).toBe(413)
    expect(oversize.body.error?.message).toMatch(/larger than 1024 bytes \(maxBodyBytes\)/)
    const unbounded = await call('/v1/stores/counts/all')
    expect(unbounded.status).toBe(400)
    expect(unbounded.body.error?.message).toMatch(/"all" needs "limit"/)
    const tooMany = await call('/v1/stores/counts/range?from=%22a%22&to=%22z%22&limit=51')
    expect(tooMany.status).toBe(400)
    const wrongKind = await call('/v1/stores/per-minute/get?key=%22a%22')
    expect(wrongKind.status).toBe(404)
    expect(wrongKind.body.error?.message).toMatch(/is a window store: its operations are fetch, fetch-all/)
    // A rebalance may restore a task meanwhile (a retriable 503): wait for the answer.
    const found = await waitFor(
      () => call('/v1/stores/counts/get?key=%22key-7%22'),
      (answer) => answer.status === 200,
    )
    expect(found.body).toMatchObject({ found: true, value: { $bigint: String(expected(7)) } })
    // Still up after all that: paging through all() with continuation tokens sees every key once.
    const client = createQueryClient<typeof topology>({ endpoints: [server.url], topology, pageSize: 7 })
    const keys: string[] = []
    for await (const { key } of client.store('counts').all()) keys.push(key)
    expect(keys.length).toBe(200)
    expect(await client.store('counts').getMany(['key-1', 'absent', 'key-2'])).toEqual([
      expected(1),
      undefined,
      expected(2),
    ])
    expect(new Set(keys).size).toBe(200)
    // Raw bytes by content negotiation: the int64 serde's 8 bytes.
    const raw = await waitFor(
      () =>
        fetch(`${server.url}/v1/stores/counts/get?key=%22key-7%22`, {
          headers: { accept: 'application/octet-stream' },
        }),
      (response) => response.status === 200,
    )
    expect(raw.headers.get('content-type')).toBe('application/octet-stream')
    expect(Buffer.from(await raw.arrayBuffer()).readBigInt64BE()).toBe(expected(7))
    // Window and session stores, typed through the client.
    const minutes = await client.store('per-minute').fetch('key-7', BASE - 1, BASE + 60_000)
    expect(minutes).toEqual([{ key: 'key-7', window: { start: BASE, end: BASE + 60_000 }, value: 4 }])
    const sessions = await client.store('visits').fetch('key-6')
    expect(sessions).toEqual([{ key: 'key-6', window: { start: BASE, end: BASE + 201 }, value: 3 }])
    let windows = 0
    for await (const entry of client.store('per-minute').fetchAll(BASE, BASE)) windows += entry.value
    expect(windows).toBe(200 * 2.5)
    // Local views read the same.
    const local = app.store('visits')
    const localSessions = []
    for await (const entry of local.fetch('key-6')) localSessions.push(entry)
    expect(localSessions).toEqual(sessions)
    const metadata = await app.metadataForKey('counts', 'key-7')
    expect(metadata.owner?.self).toBe(true)
  }, 300_000)

  it('the authorization hook decides every request', async () => {
    const { input, applicationId } = await setUp()
    const app = await startApp(countingTopology(input), applicationId)
    const server = await app.serveQueries({
      authorize: ({ headers, operation }) =>
        operation === 'health' || headers.authorization === 'Bearer letmein',
    })
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    const denied = await fetch(`${server.url}/v1/stores/counts/get?key=%22key-1%22`)
    expect(denied.status).toBe(403)
    const allowed = await fetch(`${server.url}/v1/stores`, { headers: { authorization: 'Bearer letmein' } })
    expect(allowed.status).toBe(200)
    expect(await allowed.json()).toEqual({
      stores: [
        { name: 'counts', kind: 'key-value' },
        { name: 'per-minute', kind: 'window' },
        { name: 'visits', kind: 'session' },
      ],
    })
  }, 300_000)

  it('serves HTTPS with a TLS context', async () => {
    // A self-signed certificate for 127.0.0.1, made for this test only (openssl req -x509).
    const cert = readFileSync(new URL('./fixtures/query-tls-cert.pem', import.meta.url))
    const key = readFileSync(new URL('./fixtures/query-tls-key.pem', import.meta.url))
    const { input, applicationId } = await setUp()
    const app = await startApp(countingTopology(input), applicationId)
    const server = await app.serveQueries({ tls: { key, cert } })
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      httpsGet(`${server.url}/v1/stores`, { ca: cert }, (response) => {
        let body = ''
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString()
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      }).on('error', reject)
    })
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body).stores).toHaveLength(3)
    // Plain HTTP to the TLS port is not served.
    await expect(fetch(server.url.replace('https:', 'http:') + '/health')).rejects.toThrow()
  }, 300_000)
})
