// A Redis outage during a run: a private redis-server (its own port and directory, persistent like
// a production one) is stopped for 20 s under a counting app with `logging: false`. Commits pause
// (the flush fails with a retriable StoreError, so no offset is committed), nothing is lost, and
// the app goes on and commits once Redis is back.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { Admin } from '@platformatic/kafka'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest'
import {
  allCounts,
  ensureBuilt,
  type InputRecord,
  inspector,
  type PrivateRedis,
  readStoredCounts,
  startPrivateRedis,
  uniquePrefix,
} from './redis-test-helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/redis-counting-app.mjs', import.meta.url))
const outageMs = 20_000
let privateRedis: PrivateRedis
let redis: Redis

beforeAll(async () => {
  await ensureBuilt()
  privateRedis = await startPrivateRedis()
  redis = inspector(privateRedis.url)
}, 120_000)
afterAll(async () => {
  redis?.disconnect()
  await privateRedis?.close()
})

async function committedTotal(groupId: string): Promise<bigint> {
  const admin = new Admin({
    clientId: uniqueName('test-offsets'),
    bootstrapBrokers: endpoints.kafkaBootstrapServers,
  })
  try {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] })
    let total = 0n
    for (const topic of group?.topics ?? [])
      for (const partition of topic.partitions) total += partition.committedOffset
    return total
  } finally {
    await admin.close()
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

it('pauses commits while Redis is away, loses nothing, and goes on committing once it is back', async () => {
  const [input] = await createTestTopics({ prefix: 'redis-outage-in', partitions: 2 })
  const applicationId = uniqueName('redis-outage')
  const keyPrefix = uniquePrefix('outage')
  const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-redis-outage-'))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  const first = Array.from({ length: 2000 }, (_, index) => ({ key: `key-${index % 100}`, value: 'x' }))
  await produceStrings(input!, first)
  const app = spawnNodeScript(fixture, {
    APP_ID: applicationId,
    INPUT_TOPIC: input!,
    KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
    REDIS_URL: privateRedis.url,
    KEY_PREFIX: keyPrefix,
    STATE_DIR: stateDir,
    COMMIT_INTERVAL_MS: '300',
    // Reads of keys the app has not cached wait for Redis through the whole outage.
    UNAVAILABLE_TIMEOUT_MS: '60000',
  })
  await app.waitFor('state running')
  const deadline = Date.now() + 60_000
  while ((await committedTotal(applicationId)) < 2000n && Date.now() < deadline) await sleep(100)
  expect(await committedTotal(applicationId)).toBe(2000n)

  await privateRedis.stop()
  const stoppedAt = Date.now()
  // Input during the outage: keys the app has cached (counted in its cache, flushes fail) and new
  // keys (their reads wait for Redis).
  const during = Array.from({ length: 1500 }, (_, index) => ({
    key: index % 3 === 0 ? `new-${index % 60}` : `key-${index % 100}`,
    value: 'y',
  }))
  await produceStrings(input!, during)
  await sleep(1500)
  const committedEarly = await committedTotal(applicationId)
  await sleep(outageMs - (Date.now() - stoppedAt))
  const committedLate = await committedTotal(applicationId)
  const restartAt = Date.now()
  await privateRedis.start()

  const total = first.length + during.length
  const records: InputRecord[] = (
    await readTopicUntil(input!, (messages) => messages.length >= total, 60_000)
  ).map((message) => ({ key: message.key!, partition: message.partition, offset: message.offset }))
  while ((await committedTotal(applicationId)) < BigInt(total) && Date.now() < restartAt + 60_000)
    await sleep(200)
  const resumedAfterMs = Date.now() - restartAt
  const output = app.output()

  // No offset was committed while Redis was away: not by Kafka's account, nor by the app's.
  expect(committedLate).toBe(committedEarly)
  const commitTimes = [...output.matchAll(/^committed \d+ (\d+)$/gm)].map((match) => Number(match[1]))
  expect(commitTimes.filter((time) => time > stoppedAt + 1500 && time < restartAt)).toEqual([])
  // The app told once per streak that the store's Redis is unreachable, naming the store, and kept running.
  expect(output).toMatch(/^warn .*Redis store "counts" of task 0_\d.*unreachable/m)
  expect(output).not.toContain('failed ')
  expect(app.child.exitCode).toBeNull()
  // It goes on and commits everything; every input has its effect, none is lost.
  expect(await committedTotal(applicationId)).toBe(BigInt(total))
  expect(commitTimes.some((time) => time > restartAt)).toBe(true)
  const stored = await readStoredCounts(redis, keyPrefix, applicationId, 'counts', 2)
  const truth = new Map<string, bigint>()
  for (const record of records) truth.set(record.key, (truth.get(record.key) ?? 0n) + 1n)
  const counts = allCounts(stored)
  expect([...counts.keys()].sort()).toEqual([...truth.keys()].sort())
  for (const [key, count] of truth) expect(counts.get(key)!, key).toBeGreaterThanOrEqual(count)
  const exact = [...truth].every(([key, count]) => counts.get(key) === count)
  const warning = output.split('\n').find((line) => line.startsWith('warn '))
  console.info(
    `redis outage: stopped ${outageMs} ms with ${committedEarly} offsets committed, none committed meanwhile; all ${total} committed ${resumedAfterMs} ms after Redis was back; counts ${exact ? 'exact' : 'at least the truth'} for ${truth.size} keys; the app warned: ${warning}`,
  )
}, 120_000)
