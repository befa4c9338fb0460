import { spawn } from 'node:child_process'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
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
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createLmdbBackend } from '../../src/index.js'

/** Counts records per key in an LMDB store and writes each new count. */
function countTopology(input: string, output: string): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', {
        keySerde: serdes.string(),
        valueSerde: serdes.int64(),
        backend: createLmdbBackend(),
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

async function setUp(prefix: string) {
  const [input, output] = await createTestTopics(
    { prefix: `${prefix}-in`, partitions: 2 },
    { prefix: `${prefix}-out`, partitions: 2 },
  )
  const applicationId = uniqueName(prefix)
  deleteTopicsWhenTestEnds(`${applicationId}-counts-changelog`)
  const stateDir = await mkdtemp(join(tmpdir(), `kstreams-${prefix}-`))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  /** Starts an instance; `directory` stands for another host's state directory. */
  const start = (directory = stateDir): KStreamsApp => {
    const app = createApp(countTopology(input!, output!), {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      // A failure is asserted through done(), not by exiting the test process.
      onFatalError: () => {},
      stateDir: directory,
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
    })
    onTestFinished(() => app.close())
    return app
  }
  return { input: input!, output: output!, applicationId, stateDir, start }
}

/** Restore summaries published while `run` runs. */
async function recordRestores(run: () => Promise<void>): Promise<Array<{ taskId: string; records: number }>> {
  const ends: Array<{ taskId: string; records: number }> = []
  const listener = (message: unknown) => {
    const event = message as { phase: string; taskId: string; records: number }
    if (event.phase === 'end') ends.push({ taskId: event.taskId, records: event.records })
  }
  subscribe('kstreams:restore', listener)
  try {
    await run()
  } finally {
    unsubscribe('kstreams:restore', listener)
  }
  return ends
}

function latestCounts(messages: ReadMessage[]): Map<string, bigint> {
  return new Map(messages.map((message) => [message.key!, message.valueBytes!.readBigInt64BE()]))
}

describe('LMDB stores in a running app', () => {
  it('restarts from its checkpoint, replaying only the changelog tail', async () => {
    const { input, output, start } = await setUp('lmdb-restart')
    const keys = 2000
    await produceStrings(
      input,
      Array.from({ length: keys * 5 }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' })),
    )
    const first = start()
    const firstRestores = await recordRestores(async () => {
      await first.start()
      await readTopicUntil(output, (read) => read.length >= keys * 5, 60_000)
      await first.close()
    })
    // Nothing to restore the first time: the changelog was empty.
    expect(firstRestores.reduce((sum, restore) => sum + restore.records, 0)).toBe(0)

    // Meanwhile the tasks run on "another host" (its own state directory, rebuilt from the
    // changelog), which counts 50 more records and so writes the tail of the changelog.
    const elsewhere = await mkdtemp(join(tmpdir(), 'kstreams-lmdb-elsewhere-'))
    onTestFinished(() => rm(elsewhere, { recursive: true, force: true }))
    await produceStrings(
      input,
      Array.from({ length: 50 }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
    )
    const other = start(elsewhere)
    const otherRestores = await recordRestores(async () => {
      await other.start()
      await readTopicUntil(output, (read) => read.length >= keys * 5 + 50, 60_000)
      await other.close()
    })
    const rebuilt = otherRestores.reduce((sum, restore) => sum + restore.records, 0)
    expect(rebuilt).toBeGreaterThanOrEqual(keys)

    await produceStrings(input, [{ key: 'key-1', value: 'x' }])
    const back = start()
    const backRestores = await recordRestores(async () => {
      await back.start()
      await readTopicUntil(output, (read) => latestCounts(read).get('key-1') === 7n, 60_000)
    })
    const replayed = backRestores.reduce((sum, restore) => sum + restore.records, 0)
    expect(backRestores).toHaveLength(2)
    // Back on its own directory, the checkpoint written at close lets it replay only what the other
    // host logged: at most one record per key it touched, far fewer than the store holds.
    expect(replayed).toBeGreaterThan(0)
    expect(replayed).toBeLessThanOrEqual(50)
    const counts = latestCounts(await readTopicUntil(output, (read) => read.length >= keys * 5 + 51))
    expect(counts.get('key-1')).toBe(7n)
    expect(counts.get('key-49')).toBe(6n)
    expect(counts.get('key-50')).toBe(5n)
    console.info(
      `restart from checkpoint: ${keys} keys in the store; a rebuild without a checkpoint replayed ${rebuilt} changelog record(s), the restart from the checkpoint replayed ${replayed}`,
    )
    await back.close()
  })

  it('stops with an error naming the store and the task when the state directory is locked', async () => {
    const { input, applicationId, stateDir, start } = await setUp('lmdb-locked')
    await produceStrings(input, [{ key: 'a', value: 'x' }])
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
    onTestFinished(() => {
      holder.kill()
    })
    await mkdir(join(stateDir, applicationId, '0_0'), { recursive: true })
    await writeFile(
      join(stateDir, applicationId, '0_0', '.lock'),
      JSON.stringify({ pid: holder.pid, host: hostname() }),
    )
    const app = start()
    await app.start()
    const error = await app.done().then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string },
    )
    expect(app.state).toBe('error')
    expect(error?.code).toBe('KSTREAMS_STORE')
    expect(error?.message).toContain('store "counts" of task 0_0')
    expect(error?.message).toContain(`locked by process ${holder.pid}`)
  })

  it('stops with an error naming the store and the task when its data file is corrupt', async () => {
    const { input, output, applicationId, stateDir, start } = await setUp('lmdb-corrupt')
    await produceStrings(input, [{ key: 'a', value: 'x' }])
    const first = start()
    await first.start()
    await readTopicUntil(output, (read) => read.length >= 1, 60_000)
    await first.close()
    // The checkpoint written at close vouches for the local files, so they are opened, not rebuilt.
    const storeDirectory = join(stateDir, applicationId, '0_0', 'counts')
    await writeFile(join(storeDirectory, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a))
    const second = start()
    await second.start()
    const error = await second.done().then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string },
    )
    expect(error?.code).toBe('KSTREAMS_STORE')
    expect(error?.message).toContain('"counts"')
    expect(error?.message).toContain('0_0')
  })
})
