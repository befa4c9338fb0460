// The instances' count store from their CHAOS_STORE variables: LMDB with a changelog by default,
// S3 or Redis without one, and a clear error for a missing or unknown setting.
import { describe, expect, it } from 'vitest'
import { countStoreFromEnv } from '../src/store-backend.js'

const s3 = {
  CHAOS_STORE: 's3',
  CHAOS_S3_ENDPOINT: 'http://127.0.0.1:23370',
  CHAOS_S3_BUCKET: 'chaos-test',
  CHAOS_S3_ACCESS_KEY: 'kstreams',
  CHAOS_S3_SECRET_KEY: 'kstreams-secret',
}

describe('countStoreFromEnv', () => {
  it('is LMDB with a changelog when CHAOS_STORE is unset', () => {
    expect(countStoreFromEnv({}).logging).toBe(true)
    expect(countStoreFromEnv({ CHAOS_STORE: 'lmdb' }).logging).toBe(true)
  })

  it('keeps the counts on the S3 or Redis server alone (no changelog)', () => {
    expect(countStoreFromEnv(s3).logging).toBe(false)
    const redis = countStoreFromEnv({
      CHAOS_STORE: 'redis',
      CHAOS_REDIS_URL: 'redis://127.0.0.1:23370',
      CHAOS_REDIS_PREFIX: 'chaos-test',
    })
    expect(redis.logging).toBe(false)
  })

  it('names the variable that is missing, and an unknown store', () => {
    expect(() => countStoreFromEnv({ ...s3, CHAOS_S3_BUCKET: '' })).toThrow(/CHAOS_S3_BUCKET is not set/)
    expect(() => countStoreFromEnv({ CHAOS_STORE: 'redis', CHAOS_REDIS_PREFIX: 'p' })).toThrow(
      /CHAOS_REDIS_URL is not set/,
    )
    expect(() => countStoreFromEnv({ CHAOS_STORE: 'rocksdb' })).toThrow(
      'CHAOS_STORE must be lmdb, s3 or redis, got "rocksdb"',
    )
  })
})
