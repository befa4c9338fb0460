// The private store server of an R5 or R6 run: versitygw (S3) or redis-server, started through the
// repository's own service scripts (tooling/services/s3.sh, redis.sh) on the run's own port and in
// a state folder of its own, so that the shared services on 7070 and 6379 are never touched. The
// scenario stops and starts it; its data stays (versitygw's POSIX folder; Redis with an append-only
// file fsynced at every write, as a production Redis that keeps its data would be).
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'

const execFileAsync = promisify(execFile)
const servicesDir = fileURLToPath(new URL('../../../tooling/services', import.meta.url))

/** Where a run's state store lives: LMDB on the instance's disk, or a server the run owns. */
export type StoreKind = 'lmdb' | 's3' | 'redis'

const s3Credentials = { accessKeyId: 'kstreams', secretAccessKey: 'kstreams-secret' }

export interface StoreService {
  kind: 's3' | 'redis'
  /** The S3 endpoint or the Redis URL. */
  url: string
  /** Variables for every instance: how to reach the store (read by store-backend.ts). */
  instanceEnv: { [name: string]: string }
  /** Stops the server (its data kept). */
  stop(): Promise<void>
  /** Starts it again on the same data; resolves once it answers. */
  start(): Promise<void>
  /** Stops it and removes its folder. */
  close(): Promise<void>
}

/** Servers that run, so that the CLI can stop them when it is interrupted. */
export const runningStoreServices = new Set<StoreService>()

export async function startStoreService(
  kind: 's3' | 'redis',
  port: number,
  runId: string,
): Promise<StoreService> {
  const directory = await mkdtemp(join(tmpdir(), `kstreams-chaos-${kind}-`))
  const env = {
    ...process.env,
    KSTREAMS_SERVICES_DIR: directory,
    ...(kind === 's3'
      ? {
          S3_PORT: String(port),
          S3_ACCESS_KEY: s3Credentials.accessKeyId,
          S3_SECRET_KEY: s3Credentials.secretAccessKey,
        }
      : { REDIS_PORT: String(port), REDIS_EXTRA_ARGS: '--appendonly yes --appendfsync always' }),
  }
  const script = join(servicesDir, `${kind}.sh`)
  const run = async (action: 'start' | 'stop') => {
    try {
      await execFileAsync('bash', [script, action], { env, timeout: 180_000 })
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string }
      throw new Error(
        `chaos: ${kind}.sh ${action} on port ${port} failed (logs in ${directory}): ${stderr || stdout || (error as Error).message}`,
      )
    }
  }
  await run('start')
  const url = kind === 's3' ? `http://127.0.0.1:${port}` : `redis://127.0.0.1:${port}`
  let instanceEnv: { [name: string]: string }
  if (kind === 's3') {
    const bucket = `chaos-${runId}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 63)
    const client = new S3Client({
      endpoint: url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: s3Credentials,
    })
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }))
    } catch (error) {
      await run('stop')
      throw new Error(`chaos: could not create the bucket ${bucket} on ${url}: ${(error as Error).message}`, {
        cause: error,
      })
    } finally {
      client.destroy()
    }
    instanceEnv = {
      CHAOS_STORE: 's3',
      CHAOS_S3_ENDPOINT: url,
      CHAOS_S3_BUCKET: bucket,
      CHAOS_S3_ACCESS_KEY: s3Credentials.accessKeyId,
      CHAOS_S3_SECRET_KEY: s3Credentials.secretAccessKey,
    }
  } else instanceEnv = { CHAOS_STORE: 'redis', CHAOS_REDIS_URL: url, CHAOS_REDIS_PREFIX: `chaos-${runId}` }
  const service: StoreService = {
    kind,
    url,
    instanceEnv,
    stop: () => run('stop'),
    start: () => run('start'),
    async close() {
      runningStoreServices.delete(service)
      await run('stop')
      await rm(directory, { recursive: true, force: true })
    },
  }
  runningStoreServices.add(service)
  return service
}
