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
  type Topology,
  TopologyBuilder,
} from '@kstreams/core'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  setGroupSessionTimeout,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createBigtableBackend } from '../../src/index.js'
import {
  dataRowKey,
  instanceId,
  metaRowKey,
  projectId,
  readCell,
  rowKeysWithPrefix,
  testTable,
} from './helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/bigtable-counting-app.mjs', import.meta.url))
const tableId = testTable('runtime')

/** Counts records per key in a Bigtable store without changelog and writes each new count. */
function countTopology(input: string, output: string, logging = false): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', {
        keySerde: serdes.string(),
        valueSerde: serdes.int64(),
        logging,
        backend: createBigtableBackend({ projectId, instanceId, tableId, createTable: true }),
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
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}

function latestCounts(messages: ReadMessage[]): Map<string, bigint> {
  return new Map(messages.map((message) => [message.key!, message.valueBytes!.readBigInt64BE()]))
}

/** The counts stored in the table for `partitions` of the app's store, read row by row. */
async function storedCounts(applicationId: string, partitions: number): Promise<Map<string, bigint>> {
  const counts = new Map<string, bigint>()
  for (let partition = 0; partition < partitions; partition += 1) {
    const prefix = `${applicationId}/counts/${partition}/`
    for (const rowKey of await rowKeysWithPrefix(tableId, prefix)) {
      const key = rowKey.slice(prefix.length)
      const value = await readCell(
        tableId,
        dataRowKey(applicationId, 'counts', partition, Buffer.from(key, 'latin1')),
      )
      counts.set(key, value!.readBigInt64BE())
    }
  }
  return counts
}

/** The commit point and owner stored in the meta row of a partition. */
async function storedMeta(applicationId: string, partition: number) {
  const row = metaRowKey(applicationId, 'counts', partition)
  const commit = await readCell(tableId, row, 'commit')
  const owner = await readCell(tableId, row, 'owner')
  return {
    commit: commit === undefined ? undefined : JSON.parse(commit.toString()),
    owner: owner === undefined ? undefined : JSON.parse(owner.toString()),
  }
}

/** Changelog records restored per task while `run` runs. */
async function recordRestores(run: () => Promise<void>): Promise<number> {
  let records = 0
  const listener = (message: unknown) => {
    const event = message as { phase: string; records: number }
    if (event.phase === 'end') records += event.records
  }
  subscribe('kstreams:restore', listener)
  try {
    await run()
  } finally {
    unsubscribe('kstreams:restore', listener)
  }
  return records
}

describe('Bigtable stores in a running app', () => {
  it('with a changelog, a new host restores only the changelog tail after the stored checkpoint', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'bigtable-logged-in', partitions: 2 },
      { prefix: 'bigtable-logged-out', partitions: 2 },
    )
    const applicationId = uniqueName('bigtable-logged')
    deleteTopicsWhenTestEnds(`${applicationId}-counts-changelog`)
    const start = async (): Promise<KStreamsApp> => {
      // Every instance on a fresh state directory: another host, with no local checkpoint file.
      const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-bigtable-logged-'))
      onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
      const app = createApp(countTopology(input!, output!, true), {
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
    const keys = 500
    await produceStrings(
      input!,
      Array.from({ length: keys * 2 }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' })),
    )
    const first = await start()
    await first.start()
    await readTopicUntil(output!, (read) => read.length >= keys * 2, 60_000)
    await first.close()
    const changelogOffsets = await Promise.all(
      [0, 1].map(async (partition) => {
        const meta = await storedMeta(applicationId, partition)
        return meta.commit.changelogs.find(
          (changelog: { partition: number }) => changelog.partition === partition,
        )
      }),
    )
    expect(changelogOffsets.every((entry) => entry !== undefined && BigInt(entry.offset) > 0n)).toBe(true)

    await produceStrings(input!, [{ key: 'key-7', value: 'x' }])
    const second = await start()
    const restored = await recordRestores(async () => {
      await second.start()
      await readTopicUntil(output!, (read) => latestCounts(read).get('key-7') === 3n, 60_000)
    })
    // Nothing past the checkpoint stored at the last flush: no changelog record is replayed,
    // where a host without that checkpoint would replay at least one per key (500).
    expect(restored).toBe(0)
    await second.close()
  })

  it('counts with logging off: the table holds the state, and a restarted app goes on from it', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'bigtable-count-in', partitions: 2 },
      { prefix: 'bigtable-count-out', partitions: 2 },
    )
    const applicationId = uniqueName('bigtable-count')
    const start = (): KStreamsApp => {
      const app = createApp(countTopology(input!, output!), {
        applicationId,
        bootstrapServers: endpoints.kafkaBootstrapServers,
        onFatalError: () => {},
        commitIntervalMs: 200,
        handleSignals: false,
        logger: silentLogger,
      })
      onTestFinished(() => app.close())
      return app
    }
    const keys = 200
    await produceStrings(
      input!,
      Array.from({ length: keys * 5 }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' })),
    )
    const first = start()
    await first.start()
    await readTopicUntil(output!, (read) => read.length >= keys * 5, 60_000)
    await first.close()
    // No changelog topic: the counts are in the table, with a commit point per partition.
    const stored = await storedCounts(applicationId, 2)
    expect(stored.size).toBe(keys)
    for (const [key, count] of stored) expect(count, key).toBe(5n)
    const metas = [await storedMeta(applicationId, 0), await storedMeta(applicationId, 1)]
    const committed = metas.reduce((sum, meta) => sum + Number(meta.commit.inputs[0].offset), 0)
    expect(committed).toBe(keys * 5)
    expect(metas[0]!.commit.changelogs).toEqual([])

    // A second instance (another member, a newer epoch) finds the counts in the table.
    await produceStrings(input!, [{ key: 'key-1', value: 'x' }])
    const second = start()
    await second.start()
    const counts = latestCounts(
      await readTopicUntil(output!, (read) => latestCounts(read).get('key-1') === 6n, 60_000),
    )
    expect(counts.get('key-1')).toBe(6n)
    await second.close()
    const partitionOfKey1 = (await storedCounts(applicationId, 1)).has('key-1') ? 0 : 1
    const owner = (await storedMeta(applicationId, partitionOfKey1)).owner
    expect(owner.memberEpoch).toBeGreaterThan(metas[partitionOfKey1]!.owner.memberEpoch)
  })

  it('after a SIGKILL the next owner finds exactly the counts of the input below the stored commit point', async () => {
    const partitions = 2
    const [input, output] = await createTestTopics(
      { prefix: 'bigtable-crash-in', partitions },
      { prefix: 'bigtable-crash-out', partitions },
    )
    const applicationId = uniqueName('bigtable-crash')
    // The killed member's partitions move after 3 s instead of the broker's 10.
    await setGroupSessionTimeout(applicationId, 3000)
    const keys = 300
    const perKey = 40
    await produceStrings(
      input!,
      Array.from({ length: keys * perKey }, (_, index) => ({
        key: `key-${index % keys}`,
        value: `v-${index}`,
      })),
    )
    // The table exists before the children start (they open it without createTable).
    const creator = await createBigtableBackend({ projectId, instanceId, tableId, createTable: true }).open({
      applicationId: uniqueName('table-creator'),
      taskId: '0_0',
      partition: 0,
      storeName: 'none',
      directory: '',
      ownership: { taskId: '0_0', memberId: '', memberEpoch: 0 },
    })
    await creator.close()
    const env = {
      APP_ID: applicationId,
      INPUT_TOPIC: input,
      OUTPUT_TOPIC: output,
      KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      TABLE_ID: tableId,
      PROJECT_ID: projectId,
      INSTANCE_ID: instanceId,
    }
    const owner = spawnNodeScript(fixture, env)
    await owner.waitFor('state running')
    await readTopicUntil(output!, (read) => read.length >= 3000, 60_000)
    // Killed right after a commit, mid-stream: what it processed since is in no flush.
    const commits = () =>
      owner
        .output()
        .split('\n')
        .filter((line) => line.startsWith('committed')).length
    const before = commits()
    const deadline = Date.now() + 30_000
    while (commits() === before && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 5))
    await owner.kill()
    const killedAfterOutputs = (await readTopicUntil(output!, () => true, 5_000)).length

    const metas = await Promise.all([0, 1].map((partition) => storedMeta(applicationId, partition)))
    const storedOffsets = metas.map((meta) => BigInt(meta.commit.inputs[0].offset))
    const records = await readTopicUntil(input!, (read) => read.length >= keys * perKey, 30_000)
    const expected = new Map<string, bigint>()
    for (const record of records) {
      if (record.offset < storedOffsets[record.partition]!) {
        expected.set(record.key!, (expected.get(record.key!) ?? 0n) + 1n)
      }
    }
    const covered = storedOffsets.reduce((sum, offset) => sum + offset, 0n)
    expect(covered).toBeGreaterThan(0n)
    expect(covered).toBeLessThan(BigInt(keys * perKey))
    const stored = await storedCounts(applicationId, partitions)
    expect(Object.fromEntries(stored)).toEqual(Object.fromEntries(expected))

    const successor = spawnNodeScript(fixture, env)
    await successor.waitFor('state running')
    const messages = await readTopicUntil(
      output!,
      (read) => {
        const counts = latestCounts(read)
        return counts.size === keys && [...counts.values()].every((count) => count >= BigInt(perKey))
      },
      120_000,
    )
    // The successor went on from the stored counts and the committed offsets: every count is exact.
    for (const [key, count] of latestCounts(messages)) expect(count, key).toBe(BigInt(perKey))
    await successor.waitFor('committed')
    const after = await Promise.all([0, 1].map((partition) => storedMeta(applicationId, partition)))
    for (const [partition, meta] of after.entries()) {
      expect(meta.owner.memberId).not.toBe(metas[partition]!.owner.memberId)
      expect(meta.owner.memberEpoch).toBeGreaterThan(metas[partition]!.owner.memberEpoch)
    }
    console.info(
      `crash and move: ${keys * perKey} records over ${keys} keys; owner SIGKILLed after ${killedAfterOutputs} outputs with ${covered} input records under its stored commit points; the table held exactly their counts; the successor ended with exact counts (${messages.length - keys * perKey} outputs replayed)`,
    )
    await successor.kill()
  })
})
