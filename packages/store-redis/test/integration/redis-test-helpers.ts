// What the Redis tests share: a plain ioredis client on the shared server, unique key prefixes whose
// keys are deleted when the test file ends, and backend contexts.
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { BackendContext, OwnershipToken } from '@kstreams/core'
import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { Redis } from 'ioredis'
import { storeKeys } from '../../src/index.js'

const execFileAsync = promisify(execFile)

/** A client for looking at (and cleaning up) what the backend wrote. */
export function inspector(url = endpoints.redisUrl): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  // Errors while a private Redis is stopped on purpose; the commands report their own.
  client.on('error', () => {})
  return client
}

/** Deletes every key under `{<prefix>:…`. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== '0')
}

export function uniquePrefix(name: string): string {
  return uniqueName(`test-${name}`)
}

export function contextFor(
  applicationId: string,
  options: {
    storeName?: string
    partition?: number
    ownership?: Partial<OwnershipToken>
    changelogTopic?: string
  } = {},
): BackendContext {
  const partition = options.partition ?? 0
  const taskId = `0_${partition}`
  return {
    applicationId,
    taskId,
    partition,
    storeName: options.storeName ?? 'counts',
    directory: '/nonexistent-redis-stores-use-no-directory',
    ownership: { taskId, memberId: 'member-a', memberEpoch: 1, ...options.ownership },
    ...(options.changelogTopic === undefined ? {} : { changelogTopic: options.changelogTopic }),
  }
}

/** A private redis-server (tooling/services/redis.sh on its own port and directory) a test may stop. */
export interface PrivateRedis {
  port: number
  url: string
  start(): Promise<void>
  stop(): Promise<void>
  close(): Promise<void>
}

const redisScript = fileURLToPath(new URL('../../../../tooling/services/redis.sh', import.meta.url))

/**
 * Starts a private Redis with append-only persistence (fsync on every write), so that its data
 * survives `stop()` and `start()` as a production Redis's would. `close()` stops it and removes its
 * directory.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  const directory = await mkdtemp(join(tmpdir(), 'kstreams-private-redis-'))
  const env = {
    ...process.env,
    REDIS_PORT: String(port),
    KSTREAMS_SERVICES_DIR: directory,
    REDIS_EXTRA_ARGS: '--appendonly yes --appendfsync always',
  }
  const run = async (action: string) => {
    await execFileAsync('bash', [redisScript, action], { env })
  }
  await run('start')
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start: () => run('start'),
    stop: () => run('stop'),
    async close() {
      await run('stop')
      await rm(directory, { recursive: true, force: true })
    },
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** One input partition of a commit point as the backend stores it in `:meta` (offsets as strings). */
export interface StoredInput {
  topic: string
  partition: number
  offset: string
  completed: string[]
}

/** What the backend holds for one store of one partition: counts (int64 values) and the commit point. */
export interface StoredPartition {
  counts: Map<string, bigint>
  inputs: StoredInput[]
  owner: { memberId: string; memberEpoch: number } | undefined
}

/** Reads the data hash and the meta hash of `store` of each partition straight from Redis. */
export async function readStoredCounts(
  redis: Redis,
  keyPrefix: string,
  applicationId: string,
  storeName: string,
  partitions: number,
): Promise<StoredPartition[]> {
  const result: StoredPartition[] = []
  for (let partition = 0; partition < partitions; partition += 1) {
    const keys = storeKeys(keyPrefix, applicationId, storeName, partition)
    const counts = new Map<string, bigint>()
    const flat = (await redis.callBuffer('HGETALL', keys.data)) as Buffer[]
    for (let index = 0; index < flat.length; index += 2) {
      counts.set(flat[index]!.toString(), flat[index + 1]!.readBigInt64BE())
    }
    const meta = await redis.hgetall(keys.meta)
    result.push({
      counts,
      inputs: Object.entries(meta)
        .filter(([field]) => field.startsWith('input:'))
        .map(([, value]) => JSON.parse(value) as StoredInput),
      owner:
        meta['owner:memberEpoch'] === undefined
          ? undefined
          : { memberId: meta['owner:memberId'] ?? '', memberEpoch: Number(meta['owner:memberEpoch']) },
    })
  }
  return result
}

/** An input record by where it is. */
export interface InputRecord {
  key: string
  partition: number
  offset: bigint
}

/** Counts per key of the records that `inputs` (a stored commit point) says are done. */
export function countsCoveredBy(
  records: readonly InputRecord[],
  inputs: readonly StoredInput[],
): Map<string, bigint> {
  const counts = new Map<string, bigint>()
  for (const record of records) {
    const input = inputs.find((candidate) => candidate.partition === record.partition)
    if (input === undefined) continue
    const done = record.offset < BigInt(input.offset) || input.completed.includes(record.offset.toString())
    if (done) counts.set(record.key, (counts.get(record.key) ?? 0n) + 1n)
  }
  return counts
}

/** The union of the counts of every partition (each key lives in one partition). */
export function allCounts(partitions: readonly StoredPartition[]): Map<string, bigint> {
  const counts = new Map<string, bigint>()
  for (const partition of partitions) for (const [key, count] of partition.counts) counts.set(key, count)
  return counts
}

/** Sorted `key=count` lines, for readable comparisons. */
export function countLines(counts: Map<string, bigint>): string[] {
  return [...counts].map(([key, count]) => `${key}=${count}`).sort()
}

const packageDir = fileURLToPath(new URL('../..', import.meta.url))

/**
 * Builds the package (tsc) unless dist is newer than every source file: child apps import it from
 * dist, as an application does, and must run this source.
 */
export async function ensureBuilt(): Promise<void> {
  const newest = async (directory: string, extension: string): Promise<number | undefined> => {
    const names = await readdir(directory).catch(() => [] as string[])
    const times = await Promise.all(
      names
        .filter((name) => name.endsWith(extension))
        .map(async (name) => (await stat(join(directory, name))).mtimeMs),
    )
    return times.length === 0 ? undefined : Math.max(...times)
  }
  const source = (await newest(join(packageDir, 'src'), '.ts')) ?? Number.POSITIVE_INFINITY
  const oldestBuilt = await (async () => {
    const names = (await readdir(join(packageDir, 'dist')).catch(() => [] as string[])).filter((name) =>
      name.endsWith('.js'),
    )
    if (names.length === 0) return undefined
    const times = await Promise.all(
      names.map(async (name) => (await stat(join(packageDir, 'dist', name))).mtimeMs),
    )
    return Math.min(...times)
  })()
  if (oldestBuilt !== undefined && oldestBuilt >= source) return
  await execFileAsync(
    process.execPath,
    [join(packageDir, '../../node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: packageDir },
  )
}
