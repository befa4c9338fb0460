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
const partitions = 3

async function setUp(prefix: string) {
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
  const spawnInstance = async (instance: string, recordDelayMs = 0) => {
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
      S3_ENDPOINT: endpoints.s3Endpoint,
      S3_ACCESS_KEY: endpoints.s3AccessKey,
      S3_SECRET_KEY: endpoints.s3SecretKey,
    })
  }
  const root = (partition: number) => `kstreams/${applicationId}/counts/${partition}`
  return { client, bucket, input: input!, output: output!, spawnInstance, root }
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
  for (let partition = 0; partition < partitions; partition += 1) {
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
    for (let partition = 0; partition < partitions; partition += 1) {
      const manifest = await readManifest(setup.client, setup.bucket, setup.root(partition))
      expect(manifest!.owner.memberEpoch).toBeGreaterThan(stored.owners.get(partition) ?? -1)
    }
    console.info(
      `crash and move: A's manifests covered ${covered} of ${keys * perKey} input records; B continued ${continued.size} keys from the stored counts; ${exact} of ${keys} final counts exact`,
    )
    await second.kill()
  })

  it('zombie: a paused owner that resumes after the task moved drops its tasks and cannot overwrite the new owner', async () => {
    const setup = await setUp('s3-zombie')
    const keys = 30
    const perKey = 100
    await produceStrings(setup.input, records(keys, perKey))
    // Slow on purpose (5 ms a record): A is paused mid-stream, with changes it has not flushed.
    const zombie = await setup.spawnInstance('a', 5)
    await zombie.waitFor('state running')
    await readTopicUntil(setup.output, (read) => read.length >= 600, 60_000)
    await zombie.waitFor('committed')
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

    // A resumes with a stale working copy and unflushed changes, and flushes at its next commit.
    const printedBefore = zombie.output().length
    zombie.child.kill('SIGCONT')
    await zombie.waitFor('were fenced', 20_000).catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const resumed = zombie.output().slice(printedBefore)
    const after = await storedState(setup)
    // B's state is intact: no manifest of A's stale state replaced it. (A may own partitions again
    // after it rejoined, with a newer epoch, and then carries the same counts on.)
    expect(after.counts).toEqual(before.counts)
    for (const [partition, epoch] of after.owners) {
      expect(epoch, `partition ${partition}`).toBeGreaterThanOrEqual(before.owners.get(partition)!)
    }
    const fencedByStore = resumed.includes('were fenced')
    console.info(
      `zombie: after SIGCONT, A ${fencedByStore ? 'was fenced by the S3 manifest precondition (KSTREAMS_FENCED) and dropped its tasks' : 'lost its tasks through the group before its next flush'}; its log since: ${JSON.stringify(
        resumed
          .split('\n')
          .filter((text) => text.startsWith('log') || text.startsWith('error'))
          .slice(0, 6),
      )}`,
    )
    // Whichever came first after SIGCONT (A's flush hitting the manifest precondition, or the
    // group's heartbeat answer), A must not have stopped on an error: it dropped its tasks.
    expect(resumed).not.toContain('\nerror ')
    expect(resumed).toMatch(/were fenced|partitions lost/)
    await zombie.kill()
    await successor.kill()
  })
})
