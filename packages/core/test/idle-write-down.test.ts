// An idle task writes its cached changes down ahead of its commit (`cacheIdleWriteDownBatch`), on
// the real runtime over SimulatedKafka: with commits far apart, the changelog holds every key's
// latest count once the input is processed, before any offset is committed; with the option at
// 0 nothing reaches the changelog until a commit.
import { expect, it } from 'vitest'
import { SimulatedKafka } from '../src/testing/index.js'
import { countingTopology } from './counting-topology.js'
import { simulatedApp } from './simulated-app.js'
import { until } from './until.js'

const KEYS = 300
const UPDATES_PER_KEY = 10
const CHANGELOG = 'idle-app-counts-changelog'

function setUp(seed: number) {
  const kafka = new SimulatedKafka({ seed })
  kafka.createTopic('words', 2)
  kafka.createTopic('counts', 2)
  const words = []
  for (let round = 0; round < UPDATES_PER_KEY; round += 1) {
    for (let key = 0; key < KEYS; key += 1) words.push({ key: `w${key}`, value: 'x' })
  }
  kafka.produce('words', words)
  return kafka
}

/** The latest count per key in the changelog (int64 values). */
function changelogCounts(kafka: SimulatedKafka): Map<string, bigint> {
  const latest = new Map<string, bigint>()
  if (!kafka.hasTopic(CHANGELOG)) return latest
  const decoder = new TextDecoder()
  for (const record of kafka.records(CHANGELOG)) {
    const value = record.value!
    latest.set(decoder.decode(record.key!), new DataView(value.buffer, value.byteOffset, 8).getBigInt64(0))
  }
  return latest
}

const committed = (kafka: SimulatedKafka) =>
  [0, 1].map((partition) => kafka.committed('idle-app', 'words', partition)?.offset)

it('an idle task writes every cached change down before its commit, in batches', async () => {
  const kafka = setUp(3)
  const app = simulatedApp(countingTopology(), kafka, 'p1', 'idle-app', {
    commitIntervalMs: 600_000,
    cacheIdleWriteDownBatch: 50,
  })
  await app.start()
  try {
    await until(() => kafka.records('counts').length === KEYS * UPDATES_PER_KEY)
    await until(() => changelogCounts(kafka).size === KEYS)
    const counts = changelogCounts(kafka)
    expect([...counts.values()].every((count) => count === BigInt(UPDATES_PER_KEY))).toBe(true)
    // Written by the idle write-down, not by a commit: nothing is committed yet.
    expect(committed(kafka)).toEqual([undefined, undefined])
  } finally {
    await app.close()
  }
  // The close's commit covers everything; the changelog still says the same.
  expect(
    committed(kafka)
      .map(Number)
      .reduce((sum, offset) => sum + offset, 0),
  ).toBe(KEYS * UPDATES_PER_KEY)
  expect([...changelogCounts(kafka).values()].every((count) => count === BigInt(UPDATES_PER_KEY))).toBe(true)
})

it('with cacheIdleWriteDownBatch 0, cached changes reach the changelog only at a commit', async () => {
  const kafka = setUp(4)
  const app = simulatedApp(countingTopology(), kafka, 'p1', 'idle-app', {
    commitIntervalMs: 600_000,
    cacheIdleWriteDownBatch: 0,
  })
  await app.start()
  try {
    await until(() => kafka.records('counts').length === KEYS * UPDATES_PER_KEY)
    // Idle for a while: the dispatcher has passed over the idle tasks many times.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(changelogCounts(kafka).size).toBe(0)
  } finally {
    await app.close()
  }
  expect(changelogCounts(kafka).size).toBe(KEYS)
})
