// Object-storage state (S3 on versitygw) against changelog restore, on one task with a store of
// `records` distinct keys (default 1,000,000; the keys and int64 values the count app writes):
// - how long a new owner takes to have the task's store ready: the object store downloads the
//   snapshot (ranged GETs in parallel) into a fresh LMDB working copy; the changelog side is the
//   count app restoring the same store from its changelog into LMDB (time from the first restore
//   start to its end, as in the `restore` scenario);
// - what a commit costs when 10,000 keys changed since the previous one: flush(commitPoint) of the
//   object store (segment upload + conditional manifest write) next to an LMDB flush alone.
import { execFileSync } from 'node:child_process'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3'
import {
  type BackendContext,
  type BackendWrite,
  type CommitPoint,
  createMemoryBackend,
  type StoreBackend,
} from '@kstreams/core'
import { createLmdbBackend } from '@kstreams/store-lmdb'
import { createS3Backend } from '@kstreams/store-s3'
import {
  createTopics,
  deleteTopics,
  preload,
  type RunResult,
  runId,
  runOneShot,
  runSide,
} from '../harness.js'
import type { Scenario, ScenarioOptions } from './scenario.js'

const servicesDir = fileURLToPath(new URL('../../../../tooling/services', import.meta.url))
const changedPerCommit = 10_000
const commits = 60
/** Between commits, as processing would be (commits are every 5 s by default). */
const pauseMs = 50

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!
}

function result(side: string, records: number, seconds: number, latencies?: number[]): RunResult {
  const sorted = latencies ? [...latencies].sort((left, right) => left - right) : undefined
  return {
    side,
    records,
    seconds,
    recordsPerSecond: records / seconds,
    megabytesPerSecond: Number.NaN,
    cpuSecondsPer100k: Number.NaN,
    windowCpuSecondsPer100k: Number.NaN,
    brokerCpuSecondsPer100k: Number.NaN,
    latencyP50Ms: sorted ? percentile(sorted, 0.5) : Number.NaN,
    latencyP99Ms: sorted ? percentile(sorted, 0.99) : Number.NaN,
    peakRssMegabytes: Number.NaN,
  }
}

const int64 = (value: bigint) => {
  const bytes = Buffer.alloc(8)
  bytes.writeBigInt64BE(value)
  return bytes
}

/** `changedPerCommit` random keys of the store get a new value, then the backend flushes; returns flush times (ms). */
async function commitLatencies(
  backend: StoreBackend,
  keys: number,
  context: BackendContext,
): Promise<number[]> {
  const latencies: number[] = []
  for (let round = 0; round < commits; round += 1) {
    const batch: BackendWrite[] = []
    for (let index = 0; index < changedPerCommit; index += 1) {
      batch.push({
        key: Buffer.from(`key-${Math.floor(Math.random() * keys)}`),
        value: int64(BigInt(round + 2)),
      })
    }
    await backend.write(batch)
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
    const commitPoint: CommitPoint = {
      taskId: context.taskId,
      inputs: [
        {
          topic: 'input',
          partition: 0,
          offset: BigInt((round + 1) * changedPerCommit),
          completed: [],
          streamTime: 0,
        },
      ],
      changelogs: [],
      ownership: context.ownership,
    }
    const started = performance.now()
    await backend.flush(commitPoint)
    latencies.push(performance.now() - started)
  }
  return latencies
}

export const objectStore: Scenario = {
  name: 'object-store',
  description:
    'a new owner readies a task with a store of N keys: S3 object-storage restore vs changelog restore into LMDB; and commit latency with 10k changed keys',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    execFileSync('bash', [join(servicesDir, 's3.sh'), 'start'], { stdio: 'inherit' })
    const keys = options.records
    const id = runId()
    const results: RunResult[] = []
    const directories: string[] = []
    const directory = async () => {
      const made = await mkdtemp(join(tmpdir(), 'kstreams-bench-object-'))
      directories.push(made)
      return made
    }
    const input = `bench-object-in-${id}`
    const output = `bench-object-out-${id}`
    const group = `bench-object-${id}`
    const changelog = `${group}-counts-changelog`
    try {
      // Changelog side: the count app builds a store of `keys` keys on one partition (one task),
      // then a fresh instance restores it into LMDB.
      await createTopics([input, output], 1)
      // The store holds int64 counts whatever the input values are; small values keep one produce
      // batch (10,000 records, all to the one partition) under the broker's 1 MiB limit.
      const valueBytes = Math.min(options.valueBytes, 16)
      await preload(input, keys, valueBytes, keys)
      await runSide({
        side: 'build',
        runner: './run-kstreams.js',
        input,
        output,
        records: keys,
        valueBytes,
        latencyRecords: 0,
        latencyRate: options.latencyRate,
        env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory', BENCH_GROUP: group },
      })
      const restored = await runOneShot('./run-kstreams.js', {
        BENCH_MODE: 'restore',
        BENCH_GROUP: group,
        BENCH_INPUT: input,
        BENCH_OUTPUT: output,
        BENCH_TASKS: '1',
        BENCH_BACKEND: 'lmdb',
      })
      results.push(result('changelog restore into LMDB (1 task)', restored.records, restored.seconds))
      console.info(
        `changelog restore: ${restored.records} records into LMDB in ${restored.seconds.toFixed(2)} s`,
      )

      // Object side: the same keys and values, written once and compacted into one snapshot.
      const client = new S3Client({
        endpoint: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7070',
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: {
          accessKeyId: process.env.S3_ACCESS_KEY ?? 'kstreams',
          secretAccessKey: process.env.S3_SECRET_KEY ?? 'kstreams-secret',
        },
      })
      const bucket = `bench-object-${id}`.toLowerCase().replace(/[^a-z0-9-]/g, '-')
      await client.send(new CreateBucketCommand({ Bucket: bucket }))
      const factory = createS3Backend({ bucket, client, prefix: 'bench' })
      const context = async (memberEpoch: number): Promise<BackendContext> => ({
        applicationId: group,
        taskId: '0_0',
        partition: 0,
        storeName: 'counts',
        directory: await directory(),
        ownership: { taskId: '0_0', memberId: `bench-${memberEpoch}`, memberEpoch },
      })
      // A memory working copy compacts inside the flush: the bucket then holds one snapshot.
      const builder = await createS3Backend({
        bucket,
        client,
        prefix: 'bench',
        compactAfterSegments: 1,
        workingCopy: createMemoryBackend(),
      }).open(await context(1))
      for (let start = 0; start < keys; start += 50_000) {
        const batch: BackendWrite[] = []
        for (let index = start; index < Math.min(keys, start + 50_000); index += 1) {
          batch.push({ key: Buffer.from(`key-${index}`), value: int64(1n) })
        }
        await builder.write(batch)
      }
      await builder.flush()
      await builder.close()

      const events: Array<{
        event: string
        bytes?: number
        objects?: number
        compacted?: boolean
        durationMs: number
      }> = []
      const listener = (message: unknown) => events.push(message as (typeof events)[number])
      subscribe('kstreams:object-store', listener)
      try {
        const ownerContext = await context(2)
        const started = performance.now()
        const owner = await factory.open(ownerContext)
        const seconds = (performance.now() - started) / 1000
        const count = await owner.approximateCount()
        results.push(result('object-storage restore from S3 into LMDB (1 task)', count, seconds))
        const restoreEvent = events.find((event) => event.event === 'restore')
        console.info(
          `object-storage restore: ${count} keys, ${restoreEvent?.objects} object(s), ${((restoreEvent?.bytes ?? 0) / 2 ** 20).toFixed(1)} MiB in ${seconds.toFixed(2)} s`,
        )

        const objectLatencies = await commitLatencies(owner, keys, ownerContext)
        results.push(
          result(
            `commit, S3 store, ${changedPerCommit} changed keys`,
            commits * changedPerCommit,
            objectLatencies.reduce((sum, latency) => sum + latency, 0) / 1000,
            objectLatencies,
          ),
        )
        const flushes = events.filter((event) => event.event === 'flush')
        const plain = flushes
          .filter((event) => !event.compacted)
          .map((event) => event.durationMs)
          .sort((left, right) => left - right)
        console.info(
          `object-store commits without compaction (${plain.length}): p50 ${percentile(plain, 0.5)} ms, p90 ${percentile(plain, 0.9)} ms, max ${plain.at(-1)} ms; segment ${((flushes.find((event) => !event.compacted)?.bytes ?? 0) / 1024).toFixed(0)} KiB`,
        )
        const compactions = flushes.filter((event) => event.compacted)
        if (compactions.length > 0) {
          console.info(
            `object-store commits naming a snapshot taken in the background: ${compactions.length} of ${commits}: ${compactions.map((event) => `${event.durationMs} ms`).join(', ')}`,
          )
        }
        await owner.close()
      } finally {
        unsubscribe('kstreams:object-store', listener)
      }

      const lmdbContext = await context(3)
      const lmdb = await createLmdbBackend().open(lmdbContext)
      for (let start = 0; start < keys; start += 50_000) {
        const batch: BackendWrite[] = []
        for (let index = start; index < Math.min(keys, start + 50_000); index += 1) {
          batch.push({ key: Buffer.from(`key-${index}`), value: int64(1n) })
        }
        await lmdb.write(batch)
      }
      await lmdb.flush()
      const lmdbLatencies = await commitLatencies(lmdb, keys, lmdbContext)
      const sortedLmdb = [...lmdbLatencies].sort((left, right) => left - right)
      console.info(
        `LMDB flush alone: p50 ${percentile(sortedLmdb, 0.5).toFixed(2)} ms, max ${sortedLmdb.at(-1)!.toFixed(2)} ms`,
      )
      results.push(
        result(
          `commit, LMDB alone, ${changedPerCommit} changed keys`,
          commits * changedPerCommit,
          lmdbLatencies.reduce((sum, latency) => sum + latency, 0) / 1000,
          lmdbLatencies,
        ),
      )
      await lmdb.close()
      for (;;) {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }))
        const objects = (listed.Contents ?? []).map((object) => ({ Key: object.Key! }))
        if (objects.length === 0) break
        await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
        )
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }))
      client.destroy()
      return results
    } finally {
      await deleteTopics([input, output, changelog]).catch(() => {})
      await Promise.all(directories.map((made) => rm(made, { recursive: true, force: true })))
    }
  },
}
