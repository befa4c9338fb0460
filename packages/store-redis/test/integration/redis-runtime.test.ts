// Redis stores in running apps on the real broker: a counting app with `logging: false` (Redis
// holds the only copy of its state), and an owner SIGKILLed mid-stream whose successor goes on
// from exactly what the killed one had committed.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createApp,
  type KeyValueStore,
  type KStreamsApp,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '@kstreams/core'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  readTopicUntil,
  setGroupSessionTimeout,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { Admin } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { createRedisBackend } from '../../src/index.js'
import {
  allCounts,
  countLines,
  countsCoveredBy,
  deletePrefix,
  ensureBuilt,
  type InputRecord,
  inspector,
  readStoredCounts,
  type StoredPartition,
  uniquePrefix,
} from './redis-test-helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/redis-counting-app.mjs', import.meta.url))
const redis = inspector()
const keyPrefix = uniquePrefix('runtime')

beforeAll(async () => {
  await ensureBuilt()
}, 120_000)
afterAll(async () => {
  await deletePrefix(redis, keyPrefix)
  await redis.quit()
})

async function temporaryStateDir(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'kstreams-redis-app-'))
  onTestFinished(() => rm(directory, { recursive: true, force: true }))
  return directory
}

/** Every record of `topic` with where it is. */
async function inputRecords(topic: string, count: number): Promise<InputRecord[]> {
  const read = await readTopicUntil(topic, (messages) => messages.length >= count, 60_000)
  return read.map((message) => ({ key: message.key!, partition: message.partition, offset: message.offset }))
}

/** Polls Redis until `done(state)`; throws with the last state when `timeoutMs` passes. */
async function waitForStored(
  applicationId: string,
  partitions: number,
  done: (state: StoredPartition[]) => boolean,
  timeoutMs = 60_000,
): Promise<StoredPartition[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const state = await readStoredCounts(redis, keyPrefix, applicationId, 'counts', partitions)
    if (done(state)) return state
    if (Date.now() > deadline) {
      throw new Error(
        `Redis state not reached in ${timeoutMs} ms: ${JSON.stringify(state.map((part) => part.inputs))}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** True when the stored commit point of every partition is at its end offset. */
function coversAll(records: readonly InputRecord[]) {
  const ends = new Map<number, bigint>()
  for (const record of records) ends.set(record.partition, (ends.get(record.partition) ?? 0n) + 1n)
  return (state: StoredPartition[]) =>
    state.every(
      (part, partition) =>
        part.inputs[0] !== undefined && BigInt(part.inputs[0].offset) >= (ends.get(partition) ?? 0n),
    )
}

async function committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
  const admin = new Admin({
    clientId: uniqueName('test-offsets'),
    bootstrapBrokers: endpoints.kafkaBootstrapServers,
  })
  try {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] })
    const offsets = new Map<number, bigint>()
    for (const partition of group?.topics.find((entry) => entry.name === topic)?.partitions ?? []) {
      offsets.set(partition.partitionIndex, partition.committedOffset)
    }
    return offsets
  } finally {
    await admin.close()
  }
}

describe('a counting app on Redis', () => {
  function start(applicationId: string, input: string, stateDir: string, logging = false): KStreamsApp {
    const topology = new TopologyBuilder()
      .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addStore(
        stores.keyValue('counts', {
          keySerde: serdes.string(),
          valueSerde: serdes.int64(),
          logging,
          backend: createRedisBackend({ url: endpoints.redisUrl, keyPrefix }),
        }),
      )
      .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
        let counts: KeyValueStore<string, bigint>
        return {
          init: (context: ProcessorContext<never, never>) => {
            counts = context.getStore<KeyValueStore<string, bigint>>('counts')
          },
          process: async (record: { key: string }) => {
            await counts.put(record.key, ((await counts.get(record.key)) ?? 0n) + 1n)
          },
        }
      })
      .build()
    const app = createApp(topology, {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      onFatalError: () => {},
      stateDir,
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
    })
    onTestFinished(() => app.close())
    return app
  }

  it('with logging: false, keeps its counts in Redis with the commit point, and another host goes on from them', async () => {
    const [input] = await createTestTopics({ prefix: 'redis-count-in', partitions: 2 })
    const applicationId = uniqueName('redis-count')
    const keys = 300
    await produceStrings(
      input!,
      Array.from({ length: keys * 10 }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' })),
    )
    const first = start(applicationId, input!, await temporaryStateDir())
    await first.start()
    let records = await inputRecords(input!, keys * 10)
    let state = await waitForStored(applicationId, 2, coversAll(records))
    await first.close()
    expect(allCounts(state).size).toBe(keys)
    for (const [key, count] of allCounts(state)) expect(count, key).toBe(10n)
    for (const part of state) {
      expect(part.inputs[0]!.topic).toBe(input)
      expect(part.owner?.memberId).not.toBe('')
      expect(part.owner!.memberEpoch).toBeGreaterThan(0)
    }

    // Another host (an empty state directory, no changelog) continues from what Redis holds.
    await produceStrings(
      input!,
      Array.from({ length: keys }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
    )
    const second = start(applicationId, input!, await temporaryStateDir())
    await second.start()
    records = await inputRecords(input!, keys * 11)
    state = await waitForStored(applicationId, 2, coversAll(records))
    await second.close()
    expect(countLines(allCounts(state))).toEqual(
      countLines(
        countsCoveredBy(
          records,
          state.flatMap((part) => part.inputs),
        ),
      ),
    )
    for (const [key, count] of allCounts(state)) expect(count, key).toBe(11n)
  })

  it('with a changelog, a new host restores only the changelog tail after the offset Redis stored', async () => {
    const [input] = await createTestTopics({ prefix: 'redis-logged-in', partitions: 2 })
    const applicationId = uniqueName('redis-logged')
    deleteTopicsWhenTestEnds(`${applicationId}-counts-changelog`)
    const keys = 1000
    await produceStrings(
      input!,
      Array.from({ length: keys * 2 }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' })),
    )
    const restored: number[] = []
    const listener = (message: unknown) => {
      const event = message as { phase: string; records: number }
      if (event.phase === 'end') restored.push(event.records)
    }
    subscribe('kstreams:restore', listener)
    onTestFinished(() => {
      unsubscribe('kstreams:restore', listener)
    })
    const first = start(applicationId, input!, await temporaryStateDir(), true)
    await first.start()
    let records = await inputRecords(input!, keys * 2)
    await waitForStored(applicationId, 2, coversAll(records))
    await first.close()
    const stored = await Promise.all(
      [0, 1].map((partition) =>
        redis.hget(`{${keyPrefix}:${applicationId}:counts:${partition}}:meta`, 'changelogOffset'),
      ),
    )
    // Each partition's changelog holds a record per key it counted; Redis stored where it stood.
    expect(stored.map(Number).reduce((sum, offset) => sum + offset, 0)).toBeGreaterThanOrEqual(keys)

    await produceStrings(
      input!,
      Array.from({ length: 50 }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
    )
    restored.length = 0
    // Another host: no local checkpoint, so only Redis's changelog checkpoint can spare the replay.
    const second = start(applicationId, input!, await temporaryStateDir(), true)
    await second.start()
    records = await inputRecords(input!, keys * 2 + 50)
    const state = await waitForStored(applicationId, 2, coversAll(records))
    await second.close()
    expect(restored).toHaveLength(2)
    expect(restored.reduce((sum, count) => sum + count, 0)).toBe(0)
    const counts = allCounts(state)
    for (let index = 0; index < keys; index += 1)
      expect(counts.get(`key-${index}`)).toBe(index < 50 ? 3n : 2n)
    console.info(
      `changelog checkpoint: ${keys} keys, changelog offsets stored in Redis ${stored.join(', ')}; the new host replayed ${restored.reduce((sum, count) => sum + count, 0)} changelog record(s)`,
    )
  })
})

describe('an owner SIGKILLed mid-stream', () => {
  it('leaves in Redis exactly the state of its last commit, and its successor goes on from it', async () => {
    const [input] = await createTestTopics({ prefix: 'redis-crash-in', partitions: 2 })
    const applicationId = uniqueName('redis-crash')
    await setGroupSessionTimeout(applicationId, 3000)
    const keys = 100
    const total = 8000
    await produceStrings(
      input!,
      Array.from({ length: total }, (_, index) => ({ key: `key-${index % keys}`, value: String(index) })),
    )
    const records = await inputRecords(input!, total)
    const env = {
      APP_ID: applicationId,
      INPUT_TOPIC: input!,
      KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      REDIS_URL: endpoints.redisUrl,
      KEY_PREFIX: keyPrefix,
      COMMIT_INTERVAL_MS: '300',
      // About 2000 records a second, so the owner is killed with most of the input still to do.
      SLEEP_EVERY: '10',
      SLEEP_MS: '5',
    }
    const owner = spawnNodeScript(fixture, { ...env, STATE_DIR: await temporaryStateDir() })
    await owner.waitFor('state running')
    // Killed after a few commits, so part of its work is committed and part only buffered.
    const deadline = Date.now() + 60_000
    while ((owner.output().match(/^committed /gm) ?? []).length < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await owner.kill()

    const killed = await readStoredCounts(redis, keyPrefix, applicationId, 'counts', 2)
    const killedInputs = killed.flatMap((part) => part.inputs)
    const killedCovered = killedInputs.reduce((sum, entry) => sum + Number(entry.offset), 0)
    expect(killedInputs).toHaveLength(2)
    expect(killedCovered).toBeGreaterThan(0)
    expect(killedCovered).toBeLessThan(total)
    // Every key in Redis has exactly the count of the input records below the stored commit point:
    // no write of the killed owner after its last commit reached Redis, and none of one is missing.
    expect(countLines(allCounts(killed))).toEqual(countLines(countsCoveredBy(records, killedInputs)))
    const killedOwner = killed[0]!.owner!

    // Kafka's committed offsets trail the stored commit point when the owner died between the
    // flush and the offset commit; the successor then processes those records once more.
    const committed = await committedOffsets(applicationId, input!)
    const replayed: InputRecord[] = []
    for (const entry of killedInputs) {
      const from = committed.get(entry.partition) ?? 0n
      expect(from).toBeLessThanOrEqual(BigInt(entry.offset))
      for (const record of records) {
        if (
          record.partition === entry.partition &&
          record.offset >= from &&
          record.offset < BigInt(entry.offset)
        ) {
          replayed.push(record)
        }
      }
    }

    const successor = spawnNodeScript(fixture, {
      ...env,
      SLEEP_EVERY: '0',
      STATE_DIR: await temporaryStateDir(),
    })
    await successor.waitFor('state running')
    const final = await waitForStored(applicationId, 2, coversAll(records), 90_000)
    const expected = countsCoveredBy(
      records,
      final.flatMap((part) => part.inputs),
    )
    for (const record of replayed) expected.set(record.key, expected.get(record.key)! + 1n)
    expect(countLines(allCounts(final))).toEqual(countLines(expected))
    for (const part of final) expect(part.owner!.memberEpoch).toBeGreaterThan(killedOwner.memberEpoch)
    console.info(
      `crash and move: owner killed with ${killedCovered} of ${total} records in its last stored commit point (Kafka had committed ${[...committed.values()].reduce((sum, offset) => sum + Number(offset), 0)}); Redis matched that commit point exactly for ${allCounts(killed).size} keys; the successor replayed ${replayed.length} record(s) of the flush-to-commit window and ended with counts exact for all ${keys} keys`,
    )
  })
})

describe('a zombie owner', () => {
  it('cannot overwrite its successor: after SIGCONT none of its writes reaches Redis', async () => {
    const [input] = await createTestTopics({ prefix: 'redis-zombie-in', partitions: 1 })
    const applicationId = uniqueName('redis-zombie')
    await setGroupSessionTimeout(applicationId, 3000)
    const keys = 50
    const total = 4000
    await produceStrings(
      input!,
      Array.from({ length: total }, (_, index) => ({ key: `key-${index % keys}`, value: String(index) })),
    )
    const records = await inputRecords(input!, total)
    const env = {
      APP_ID: applicationId,
      INPUT_TOPIC: input!,
      KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      REDIS_URL: endpoints.redisUrl,
      KEY_PREFIX: keyPrefix,
      COMMIT_INTERVAL_MS: '300',
    }
    // Slow (about 500 records a second): stopped with most of its input fetched and unprocessed.
    const zombie = spawnNodeScript(fixture, {
      ...env,
      SLEEP_EVERY: '1',
      SLEEP_MS: '2',
      STATE_DIR: await temporaryStateDir(),
    })
    await zombie.waitFor('state running')
    const deadline = Date.now() + 30_000
    while ((zombie.output().match(/^committed /gm) ?? []).length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    zombie.child.kill('SIGSTOP')
    const stoppedOwner = (await readStoredCounts(redis, keyPrefix, applicationId, 'counts', 1))[0]!.owner!

    // The group gives the task to a successor once the stopped member's session expired.
    const successor = spawnNodeScript(fixture, { ...env, STATE_DIR: await temporaryStateDir() })
    const settled = await waitForStored(applicationId, 1, coversAll(records), 60_000)
    expect(settled[0]!.owner!.memberEpoch).toBeGreaterThan(stoppedOwner.memberEpoch)
    expect(settled[0]!.owner!.memberId).not.toBe(stoppedOwner.memberId)

    // The zombie wakes up with writes in its buffer and records it had fetched; it goes on and
    // tries to commit them. Redis refuses (or the group fences it first): the successor's state stays.
    const before = countLines(allCounts(settled))
    zombie.child.kill('SIGCONT')
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const after = await readStoredCounts(redis, keyPrefix, applicationId, 'counts', 1)
    expect(countLines(allCounts(after))).toEqual(before)
    // The owner Redis names never goes back to the stopped token (the group may give the task to
    // the woken member again, under a new member epoch).
    expect(after[0]!.owner!.memberEpoch).toBeGreaterThanOrEqual(settled[0]!.owner!.memberEpoch)
    for (const [key, count] of allCounts(after))
      expect(count, key).toBeGreaterThanOrEqual(BigInt(total / keys))
    const zombieLines = zombie
      .output()
      .split('\n')
      .filter((line) => /fenced|FENCED|owned by|^error|^warn|^failed|^state/.test(line))
    console.info(
      `zombie: stopped as ${JSON.stringify(stoppedOwner)}; after SIGCONT it said: ${zombieLines.join(' | ') || '(nothing about fencing)'}`,
    )
    await successor.kill()
  })
})
