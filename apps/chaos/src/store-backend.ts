// The count store's backend of an instance, from its CHAOS_STORE variables (store-service.ts sets
// them): LMDB on the instance's disk with a changelog (R1–R4), or a server the run owns, S3 (R5) or
// Redis (R6), without a changelog, so that the server holds the only durable copy of the counts
// and its outage is the whole test.
import type { StoreBackendFactory } from '@kstreams/core'
import { createLmdbBackend } from '@kstreams/store-lmdb'
import { createRedisBackend } from '@kstreams/store-redis'
import { createS3Backend } from '@kstreams/store-s3'

export interface CountStore {
  backend: StoreBackendFactory
  /** Whether the store has a changelog topic. */
  logging: boolean
}

type Env = { [name: string]: string | undefined }

function required(env: Env, name: string): string {
  const value = env[name]
  if (value === undefined || value === '') throw new Error(`chaos instance: ${name} is not set`)
  return value
}

export function countStoreFromEnv(env: Env): CountStore {
  const kind = env.CHAOS_STORE ?? 'lmdb'
  switch (kind) {
    case 'lmdb':
      return { backend: createLmdbBackend(), logging: true }
    case 's3':
      return {
        backend: createS3Backend({
          bucket: required(env, 'CHAOS_S3_BUCKET'),
          clientConfig: {
            endpoint: required(env, 'CHAOS_S3_ENDPOINT'),
            region: 'us-east-1',
            forcePathStyle: true,
            credentials: {
              accessKeyId: required(env, 'CHAOS_S3_ACCESS_KEY'),
              secretAccessKey: required(env, 'CHAOS_S3_SECRET_KEY'),
            },
          },
        }),
        logging: false,
      }
    case 'redis':
      return {
        backend: createRedisBackend({
          url: required(env, 'CHAOS_REDIS_URL'),
          keyPrefix: required(env, 'CHAOS_REDIS_PREFIX'),
          // A read of a key the instance has not cached waits through the outage (R6 makes it
          // 15 s by default; --outage-s may make it longer).
          unavailableTimeoutMs: Number(env.CHAOS_REDIS_UNAVAILABLE_TIMEOUT_MS ?? 60_000),
        }),
        logging: false,
      }
    default:
      throw new Error(`chaos instance: CHAOS_STORE must be lmdb, s3 or redis, got "${kind}"`)
  }
}
