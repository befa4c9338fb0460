// Interactive queries on the real broker: three (then four, then three) instances of a counting
// app as child processes, each serving its stores; the typed client routes every read to the
// owner and must agree with counts the test computes from what it produced.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type ChildApp,
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  createQueryClient,
  type KeyValueStore,
  KStreamsError,
  serdes,
  stores,
  type Topology,
  TopologyBuilder,
} from '../../src/index.js'

const fixture = fileURLToPath(new URL('./fixtures/query-app.mjs', import.meta.url))

/** The topology of the fixture, for its type and for routing (same stores, serdes and topic). */
function queryTopology(topic: string) {
  return new TopologyBuilder()
    .addSource('input', { topics: [topic], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => ({ process: () => {} }))
    .build()
}

async function setUp(keys: number, perKey: (index: number) => number) {
  const [input] = await createTestTopics({ prefix: 'queries-in', partitions: 6 })
  const applicationId = uniqueName('queries')
  deleteTopicsWhenTestEnds(`${applicationId}-counts-changelog`, `${applicationId}-instances`)
  const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-queries-'))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  const expected = new Map<string, bigint>()
  const records: Array<{ key: string; value: string }> = []
  for (let index = 0; index < keys; index += 1) {
    const key = `key-${index}`
    expected.set(key, BigInt(perKey(index)))
    for (let count = 0; count < perKey(index); count += 1) records.push({ key, value: `v${count}` })
  }
  // Interleaved, so that every partition gets records of many keys throughout.
  records.sort((left, right) => (left.value < right.value ? -1 : left.value > right.value ? 1 : 0))
  await produceStrings(input!, records)
  const env = {
    APP_ID: applicationId,
    INPUT_TOPIC: input,
    KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
    STATE_DIR: stateDir,
  }
  const start = async (extra: { [name: string]: string } = {}) => {
    const child = spawnNodeScript(fixture, { ...env, ...extra })
    await child.waitFor('serving ', 120_000)
    const url = /serving (\S+)/.exec(child.output())![1]!
    return { child, url }
  }
  return { input: input!, expected, start }
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

type Client = ReturnType<typeof createQueryClient<Topology<{ counts: KeyValueStore<string, bigint> }>>>

async function allRight(client: Client, expected: Map<string, bigint>): Promise<string[]> {
  const wrong: string[] = []
  const keys = [...expected.keys()]
  const store = client.store('counts')
  for (let start = 0; start < keys.length; start += 100) {
    const batch = keys.slice(start, start + 100)
    const values = await Promise.all(batch.map((key) => store.get(key)))
    batch.forEach((key, index) => {
      if (values[index] !== expected.get(key))
        wrong.push(`${key}: ${String(values[index])} != ${expected.get(key)}`)
    })
  }
  return wrong
}

async function stopCleanly(child: ChildApp): Promise<void> {
  child.child.kill('SIGTERM')
  await child.waitFor('closed', 60_000)
}

describe('interactive queries on a real broker', () => {
  it('three instances: every key read through the client from any instance is the count the test computed', async () => {
    const { input, expected, start } = await setUp(3000, (index) => 1 + (index % 7))
    // The third proxies reads of keys it does not own; the others redirect them.
    const instances = await Promise.all([start(), start(), start({ PROXY: 'true' })])
    const topology = queryTopology(input)
    // Wait until every instance lists all three and the counts converged (processing takes a while).
    const first = createQueryClient<typeof topology>({ endpoints: [instances[0]!.url], topology })
    await waitUntil(
      async () =>
        (await first.metadata()).instances.filter((instance) => instance.tasks.length > 0).length === 3,
      120_000,
      'three instances with tasks',
    )
    await waitUntil(
      async () => (await allRight(first, expected)).length === 0,
      180_000,
      'the counts to converge',
    )
    // Through each instance as the only seed, with and without the topology value (redirects).
    for (const { url } of instances) {
      const routed = createQueryClient<typeof topology>({ endpoints: [url], topology })
      expect(await allRight(routed, expected)).toEqual([])
      const redirected = createQueryClient<typeof topology>({ endpoints: [url] })
      expect((await allRight(redirected, expected)).slice(0, 5)).toEqual([])
    }
    // Over plain HTTP: a non-owner redirects (307 to the owner) or, opted in, proxies (200).
    const sample = [...expected.keys()].slice(0, 60)
    let redirects = 0
    for (const key of sample) {
      const path = `/v1/stores/counts/get?key=${encodeURIComponent(JSON.stringify(key))}`
      const direct = await fetch(`${instances[0]!.url}${path}`, { redirect: 'manual' })
      if (direct.status === 307) {
        redirects += 1
        expect(instances.map(({ url }) => url)).toContain(new URL(direct.headers.get('location')!).origin)
      } else expect(direct.status).toBe(200)
      const proxied = await fetch(`${instances[2]!.url}${path}`, { redirect: 'manual' })
      expect(proxied.status).toBe(200)
      expect(await proxied.json()).toMatchObject({
        found: true,
        value: { $bigint: String(expected.get(key)) },
      })
    }
    expect(redirects).toBeGreaterThan(0)
    // getMany groups keys by owner (with the topology) or sends them to one instance, which
    // answers the keys it owns and marks the others moved (without it).
    const someKeys = [...expected.keys()].slice(0, 250)
    const withoutTopology = createQueryClient<typeof topology>({ endpoints: [instances[1]!.url] })
    for (const client of [first, withoutTopology]) {
      expect(await client.store('counts').getMany(someKeys)).toEqual(someKeys.map((key) => expected.get(key)))
    }
    // A range over every instance comes back merged in key byte order, with every key once.
    const all: Array<[string, bigint]> = []
    for await (const { key, value } of first.store('counts').all()) all.push([key, value])
    const sorted = [...expected.entries()].sort(([left], [right]) =>
      Buffer.compare(Buffer.from(left), Buffer.from(right)),
    )
    expect(all).toEqual(sorted)
    const range: string[] = []
    for await (const { key } of first.store('counts').range('key-10', 'key-19')) range.push(key)
    expect(range).toEqual(sorted.map(([key]) => key).filter((key) => key >= 'key-10' && key <= 'key-19'))
    expect(await first.store('counts').approximateCount()).toBe(expected.size)
    // metadataForKey agrees with where the key is read: the owner answers it directly.
    const metadata = await first.metadata()
    expect(metadata.stores.counts?.partitions).toBe(6)
    const owned = metadata.instances.flatMap((instance) => instance.stores.counts ?? [])
    expect(owned.sort((left, right) => left - right)).toEqual([0, 1, 2, 3, 4, 5])
  }, 420_000)

  it('keeps answering through a rebalance (a fourth instance joins, then one leaves): right values or retriable errors, never a wrong one', async () => {
    const { input, expected, start } = await setUp(600, (index) => 1 + (index % 5))
    const instances = await Promise.all([start(), start(), start()])
    const topology = queryTopology(input)
    const client = createQueryClient<typeof topology>({
      endpoints: instances.map(({ url }) => url),
      topology,
      maxAttempts: 3,
    })
    await waitUntil(
      async () => (await allRight(client, expected)).length === 0,
      180_000,
      'the counts to converge',
    )
    const wrong: string[] = []
    let answered = 0
    let retriable = 0
    let stop = false
    const keys = [...expected.keys()]
    const reader = (async () => {
      for (let index = 0; !stop; index += 1) {
        const key = keys[index % keys.length]!
        try {
          const value = await client.store('counts').get(key)
          answered += 1
          if (value !== expected.get(key)) wrong.push(`${key}: ${String(value)} != ${expected.get(key)}`)
        } catch (error) {
          if (!(KStreamsError.isInstance(error) && error.retriable)) throw error
          retriable += 1
        }
      }
    })()
    const fourth = await start()
    await waitUntil(
      async () =>
        (await client.metadata()).instances.filter((instance) => instance.tasks.length > 0).length === 4,
      120_000,
      'the fourth instance to get tasks',
    )
    await stopCleanly(instances[0]!.child)
    await waitUntil(
      async () => {
        const metadata = await client.metadata()
        const live = metadata.instances.filter((instance) => instance.tasks.length > 0)
        return live.length === 3 && live.every((instance) => instance.tasks.every((task) => !task.restoring))
      },
      120_000,
      'the group to settle on three instances',
    )
    stop = true
    await reader
    expect(wrong).toEqual([])
    expect(answered).toBeGreaterThan(0)
    // Settled: every key is right again, through any of the remaining instances.
    const settled = createQueryClient<typeof topology>({ endpoints: [fourth.url], topology })
    await waitUntil(
      async () => (await allRight(settled, expected)).length === 0,
      120_000,
      'all answers right after the rebalance',
    )
    expect(await allRight(settled, expected)).toEqual([])
    console.log(`during the rebalance: ${answered} right answers, ${retriable} retriable errors`)
  }, 600_000)
})
