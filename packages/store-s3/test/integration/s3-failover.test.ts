// A task whose only durable state is in S3 (logging: false) moves between processes: after a
// SIGKILL, and away from a paused zombie.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  spawnNodeScript,
  startStallingProxy,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createBucket, readManifest, readStoredState, s3Client } from './s3-helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/s3-counting-app.mjs', import.meta.url))
if (!existsSync(fileURLToPath(new URL('../../dist/index.js', import.meta.url)))) {
  throw new Error(
    'the child app imports dist: run `npx turbo run build --filter=@kstreams/store-s3...` first',
  )
}
const defaultPartitions = 3

async function setUp(prefix: string, partitions = defaultPartitions) {
  const client = s3Client()
  onTestFinished(() => client.destroy())
  const { bucket, remove } = await createBucket(client, prefix)
  onTestFinished(remove)
  const [input, output] = await createTestTopics(
    { prefix: `${prefix}-in`, partitions },
    { prefix: `${prefix}-out`, partitions },
  )
  const applicationId = uniqueName(prefix)
  const hosts: string[] = []
  onTestFinished(async () => {
    await Promise.all(hosts.map((host) => rm(host, { recursive: true, force: true })))
  })
  /** Starts the app in a child process, on a state directory of its own (another host). */
  const spawnInstance = async (instance: string, recordDelayMs = 0, s3Endpoint = endpoints.s3Endpoint) => {
    const host = await mkdtemp(join(tmpdir(), `kstreams-${prefix}-${instance}-`))
    hosts.push(host)
    return spawnNodeScript(fixture, {
      APP_ID: applicationId,
      INPUT_TOPIC: input,
      OUTPUT_TOPIC: output,
      KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      STATE_DIR: host,
      BUCKET: bucket,
      INSTANCE: instance,
      RECORD_DELAY_MS: String(recordDelayMs),
      S3_ENDPOINT: s3Endpoint,
      S3_ACCESS_KEY: endpoints.s3AccessKey,
      S3_SECRET_KEY: endpoints.s3SecretKey,
    })
  }
  const root = (partition: number) => `kstreams/${applicationId}/counts/${partition}`
  return { client, bucket, input: input!, output: output!, spawnInstance, root, partitions }
}

function records(keys: number, perKey: number) {
  return Array.from({ length: keys * perKey }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' }))
}

/** Counts per key of the input records below `offsets[partition]`. */
function countsBelow(inputs: ReadMessage[], offsets: Map<number, bigint>): Map<string, bigint> {
  const counts = new Map<string, bigint>()
  for (const message of inputs) {
    if (message.offset < (offsets.get(message.partition) ?? 0n)) {
      counts.set(message.key!, (counts.get(message.key!) ?? 0n) + 1n)
    }
  }
  return counts
}

/** The first count each key got in output written by `instance`. */
function firstOutputs(messages: ReadMessage[], instance: string): Map<string, bigint> {
  const first = new Map<string, bigint>()
  for (const message of messages) {
    if (message.headers.get('instance') !== instance || first.has(message.key!)) continue
    first.set(message.key!, message.valueBytes!.readBigInt64BE())
  }
  return first
}

function finalCounts(messages: ReadMessage[]): Map<string, bigint> {
  return new Map(messages.map((message) => [message.key!, message.valueBytes!.readBigInt64BE()]))
}

/** What A's last manifests say: the committed input offset and the stored counts, per partition. */
async function storedState(setup: Awaited<ReturnType<typeof setUp>>) {
  const offsets = new Map<number, bigint>()
  const counts = new Map<string, bigint>()
  const owners = new Map<number, number>()
  for (let partition = 0; partition < setup.partitions; partition += 1) {
    const manifest = await readManifest(setup.client, setup.bucket, setup.root(partition))
    if (manifest === undefined) continue
    owners.set(partition, manifest.owner.memberEpoch)
    const input = manifest.inputs.find((entry) => entry.partition === partition)
    if (input !== undefined) {
      expect(input.completed).toEqual([])
      offsets.set(partition, BigInt(input.offset))
    }
    const state = await readStoredState(setup.client, setup.bucket, setup.root(partition))
    for (const [key, value] of state) counts.set(key, Buffer.from(value).readBigInt64BE())
  }
  return { offsets, counts, owners }
}

describe('S3 stores when a task moves', () => {
  it('crash and move: after a SIGKILL the new owner starts from exactly the state of the last manifest', async () => {
    const setup = await setUp('s3-crash')
    const keys = 60
    const perKey = 150
    await produceStrings(setup.input, records(keys, perKey))
    const inputs = await readTopicUntil(setup.input, (read) => read.length >= keys * perKey)

    const first = await setup.spawnInstance('a')
    await first.waitFor('state running')
    await readTopicUntil(setup.output, (read) => read.length >= 2000, 60_000)
    await first.waitFor('committed')
    await first.kill()

    // A's last manifests, read straight from S3: each holds exactly the counts of the input below
    // the offsets it records (partition mode: a flush covers exactly the records below its point).
    const stored = await storedState(setup)
    expect(stored.offsets.size).toBeGreaterThan(0)
    const expected = countsBelow(inputs, stored.offsets)
    expect(new Map([...stored.counts].sort())).toEqual(new Map([...expected].sort()))
    const covered = [...stored.offsets.values()].reduce((sum, offset) => sum + offset, 0n)
    expect(covered).toBeLessThan(BigInt(keys * perKey))

    const second = await setup.spawnInstance('b')
    await second.waitFor('state running')
    const messages = await readTopicUntil(
      setup.output,
      (read) => {
        const counts = finalCounts(read)
        return counts.size === keys && [...counts.values()].every((count) => count >= BigInt(perKey))
      },
      90_000,
    )
    // B's first count of each key continues from the stored count: B restored exactly that state.
    const continued = firstOutputs(messages, 'b')
    for (const [key, count] of continued) expect(count, key).toBe((stored.counts.get(key) ?? 0n) + 1n)
    expect(continued.size).toBeGreaterThan(0)
    const final = finalCounts(messages)
    const exact = [...final.values()].filter((count) => count === BigInt(perKey)).length
    // Nothing is lost. (A count above perKey would mean A died between its manifest write and its
    // offset commit: then the state covers input the group has not committed; see the README.)
    for (const [key, count] of final) expect(count, key).toBeGreaterThanOrEqual(BigInt(perKey))
    for (let partition = 0; partition < setup.partitions; partition += 1) {
      const manifest = await readManifest(setup.client, setup.bucket, setup.root(partition))
      expect(manifest!.owner.memberEpoch).toBeGreaterThan(stored.owners.get(partition) ?? -1)
    }
    console.info(
      `crash and move: A's manifests covered ${covered} of ${keys * perKey} input records; B continued ${continued.size} keys from the stored counts; ${exact} of ${keys} final counts exact`,
    )
    await second.kill()
  })

  it('zombie: an owner paused in the middle of a flush resumes after the task moved; its manifest write is rejected (KSTREAMS_FENCED) and it drops the task', async () => {
    // One partition, so one task: with several, the frozen commit would also hold back the offset
    // commit of tasks whose manifests were written, and their manifests would then cover input the
    // group never committed (see the README on what a manifest covers after a crash).
    const setup = await setUp('s3-zombie', 1)
    const keys = 30
    const perKey = 100
    await produceStrings(setup.input, records(keys, perKey))
    // A reaches S3 through a proxy that can hold its next manifest write back; it is slow on
    // purpose (5 ms a record), so that it has unflushed changes at every commit.
    const proxy = await startStallingProxy(endpoints.s3Endpoint)
    const zombie = await setup.spawnInstance('a', 5, proxy.endpoint)
    await zombie.waitFor('state running')
    await readTopicUntil(setup.output, (read) => read.length >= 600, 60_000)
    await zombie.waitFor('committed')
    proxy.arm(/^PUT \S*manifest\.json/)
    await proxy.held()
    // Frozen with a flush in flight: its segment is uploaded, its manifest write is on its way.
    zombie.child.kill('SIGSTOP')
    onTestFinished(() => {
      zombie.child.kill('SIGCONT')
    })
    const successor = await setup.spawnInstance('b')
    await successor.waitFor('state running', 90_000)
    await readTopicUntil(
      setup.output,
      (read) => [...finalCounts(read).values()].filter((count) => count === BigInt(perKey)).length === keys,
      90_000,
    )
    await successor.waitFor('committed')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const before = await storedState(setup)
    expect([...before.counts.values()]).toEqual(Array(keys).fill(BigInt(perKey)))

    // The late write reaches S3 (conditional on the version A read, long replaced by B), then A runs again.
    const printedBefore = zombie.output().length
    proxy.release()
    await new Promise((resolve) => setTimeout(resolve, 500))
    zombie.child.kill('SIGCONT')
    // The S3 precondition rejects the late manifest write: the backend raises KSTREAMS_FENCED.
    await zombie.waitFor('object-store fenced', 20_000)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const resumed = zombie.output().slice(printedBefore)
    const after = await storedState(setup)
    // B's state is intact: A's stale manifest did not replace it. (A may own partitions again
    // after it rejoined the group, with a newer epoch, and then carries the same counts on.)
    expect(after.counts).toEqual(before.counts)
    for (const [partition, epoch] of after.owners) {
      expect(epoch, `partition ${partition}`).toBeGreaterThanOrEqual(before.owners.get(partition)!)
    }
    expect(resumed).toMatch(
      /object-store fenced \d+_\d+ at flush \(write the manifest\): ours epoch \d+, theirs epoch \d+/,
    )
    // A dropped the task (the store's FencedError, or the group's answer to its first heartbeat,
    // whichever A's event loop saw first).
    expect(resumed).toMatch(/were fenced|partitions lost/)
    // Not asserted: whether A's app then goes on. When the store's FencedError comes first, core
    // rebuilds the task and asks the group for committed offsets; the group has fenced A too
    // (UNKNOWN_MEMBER_ID), and core stops the app with that KSTREAMS_FENCED instead of rejoining
    // (a core issue, reported; kstreams-app.ts #resetFenced).
    const stopped = /\nerror (KSTREAMS_\w+: [^\n]{0,120})/.exec(resumed)?.[1]
    console.info(
      `zombie: after SIGCONT, A ${stopped === undefined ? 'went on' : `stopped (${stopped})`}; A's log: ${JSON.stringify(
        resumed
          .split('\n')
          .filter(
            (text) => text.startsWith('object-store') || text.startsWith('log') || text.startsWith('error'),
          )
          .slice(0, 5),
      )}`,
    )
    await zombie.kill()
    await successor.kill()
  })
})
