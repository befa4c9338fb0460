// A counting app with an S3 store and logging: false on the real broker: the bucket is the only
// durable copy of the state, so a new host continues from it; and a commit during an S3 outage
// waits for the server instead of losing anything.
import { execFileSync } from 'node:child_process'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createApp,
  type KeyValueStore,
  type KStreamsApp,
  type Logger,
  type ProcessorContext,
  serdes,
  stores,
  type Topology,
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
import { describe, expect, it, onTestFinished } from 'vitest'
import { createS3Backend } from '../../src/index.js'
import { createBucket, readStoredState, s3Client, s3ClientConfig } from './s3-helpers.js'

const servicesDir = fileURLToPath(new URL('../../../../tooling/services', import.meta.url))

function countTopology(input: string, output: string, bucket: string, endpoint: string): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', {
        keySerde: serdes.string(),
        valueSerde: serdes.int64(),
        logging: false,
        backend: createS3Backend({ bucket, clientConfig: { ...s3ClientConfig, endpoint, maxAttempts: 1 } }),
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

async function setUp(prefix: string, endpoint = endpoints.s3Endpoint) {
  const client = s3Client(endpoint)
  onTestFinished(() => client.destroy())
  const { bucket, remove } = await createBucket(client, prefix)
  onTestFinished(remove)
  const [input, output] = await createTestTopics(
    { prefix: `${prefix}-in`, partitions: 2 },
    { prefix: `${prefix}-out`, partitions: 2 },
  )
  const applicationId = uniqueName(prefix)
  const warnings: string[] = []
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message) => warnings.push(message),
    error: (message) => warnings.push(message),
  }
  /** Starts an instance on a state directory of its own: another host. */
  const start = async (): Promise<KStreamsApp> => {
    const stateDir = await mkdtemp(join(tmpdir(), `kstreams-${prefix}-`))
    onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
    const app = createApp(countTopology(input!, output!, bucket, endpoint), {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      onFatalError: () => {},
      stateDir,
      commitIntervalMs: 200,
      handleSignals: false,
      logger,
    })
    onTestFinished(() => app.close())
    return app
  }
  return { client, bucket, applicationId, input: input!, output: output!, start, warnings }
}

describe('S3 stores in a running app', () => {
  it('keeps the counts in S3 alone (logging: false): a new host continues from them', async () => {
    const { client, bucket, applicationId, input, output, start } = await setUp('s3-app')
    const keys = 500
    await produceStrings(
      input,
      Array.from({ length: keys * 4 }, (_, index) => ({ key: `key-${index % keys}`, value: 'x' })),
    )
    const first = await start()
    await first.start()
    await readTopicUntil(output, (read) => read.length >= keys * 4, 60_000)
    await first.close()
    // What the bucket holds after the graceful close: every count, read from the objects.
    const stored = new Map<string, bigint>()
    for (const partition of [0, 1]) {
      const state = await readStoredState(client, bucket, `kstreams/${applicationId}/counts/${partition}`)
      for (const [key, value] of state) stored.set(key, Buffer.from(value).readBigInt64BE())
    }
    expect(stored.size).toBe(keys)
    expect([...stored.values()].every((count) => count === 4n)).toBe(true)

    await produceStrings(
      input,
      Array.from({ length: keys }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
    )
    const second = await start()
    await second.start()
    const counts = latestCounts(await readTopicUntil(output, (read) => read.length >= keys * 5, 60_000))
    // No changelog exists: the fifth count of every key can only come from the state in S3.
    expect([...counts.values()].every((count) => count === 5n)).toBe(true)
    expect(counts.size).toBe(keys)
    await second.close()
  })

  it('outage: while S3 is down, commits pause without losing anything, and resume afterwards', async () => {
    // A private versitygw on its own port and directory, so the shared one keeps serving others.
    const port = String(17_000 + Math.floor(Math.random() * 2000))
    const environment = {
      ...process.env,
      S3_PORT: port,
      KSTREAMS_SERVICES_DIR: await mkdtemp(join(tmpdir(), 'kstreams-s3-outage-services-')),
    }
    const service = (command: 'start' | 'stop') =>
      execFileSync('bash', [join(servicesDir, 's3.sh'), command], { env: environment, stdio: 'ignore' })
    service('start')
    onTestFinished(async () => {
      service('stop')
      await rm(environment.KSTREAMS_SERVICES_DIR, { recursive: true, force: true })
    })
    const { input, output, start, warnings } = await setUp('s3-outage', `http://127.0.0.1:${port}`)
    const commits: number[] = []
    const onCommit = (event: unknown) => {
      if ((event as { partitions: number }).partitions > 0) commits.push(Date.now())
    }
    subscribe('kstreams:commit', onCommit)
    onTestFinished(() => {
      unsubscribe('kstreams:commit', onCommit)
    })
    const keys = 50
    let produced = 0
    const produceRound = async () => {
      await produceStrings(
        input,
        Array.from({ length: keys }, (_, index) => ({ key: `key-${index}`, value: 'x' })),
      )
      produced += keys
    }
    const app = await start()
    await app.start()
    await produceRound()
    await readTopicUntil(output, (read) => read.length >= produced, 60_000)

    service('stop')
    const stoppedAt = Date.now()
    // Input keeps coming during the outage; it is processed into the working copy, not committed.
    for (let round = 0; round < 6; round += 1) {
      await produceRound()
      await new Promise((resolve) => setTimeout(resolve, 3000))
    }
    const pausedFrom = stoppedAt + 1000
    const duringOutage = commits.filter((time) => time > pausedFrom).length
    service('start')
    const restartedAt = Date.now()
    await produceRound()
    const counts = latestCounts(
      await readTopicUntil(
        output,
        // Every key's last count, not only the first key's: the others may still be on their way.
        (read) => {
          const latest = latestCounts(read)
          return (
            latest.size === keys && [...latest.values()].every((count) => count >= BigInt(produced / keys))
          )
        },
        60_000,
      ),
    )
    const deadline = Date.now() + 30_000
    while (!commits.some((time) => time > restartedAt) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(duringOutage).toBe(0)
    expect(commits.some((time) => time > restartedAt)).toBe(true)
    expect(warnings.some((message) => message.includes('could not flush their stores'))).toBe(true)
    expect(app.state).toBe('running')
    // Every record counted exactly once: nothing lost, nothing counted twice.
    for (const [key, count] of counts) expect(count, key).toBe(BigInt(produced / keys))
    expect(counts.size).toBe(keys)
    console.info(
      `outage: S3 down ${restartedAt - stoppedAt} ms; ${duringOutage} commits during it; first commit ${commits.find((time) => time > restartedAt)! - restartedAt} ms after the restart; ${produced} records counted exactly once`,
    )
    await app.close()
  })
})
