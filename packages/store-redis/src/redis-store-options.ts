import { ConfigError } from '@kstreams/core'
import type { RedisOptions } from 'ioredis'

/** Options of `createRedisBackend`. */
export interface RedisStoreOptions {
  /**
   * Where Redis is: `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS.
   * @default process.env.REDIS_URL, else redis://127.0.0.1:6379
   * @example 'redis://:secret@redis.internal:6379/2'
   */
  url?: string
  /**
   * ioredis options (host, port, username, password, tls, sentinels, `retryStrategy`, …), applied
   * over the `url`. The backend sets `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` and
   * `autoResendUnfulfilledCommands: false` itself (it waits for an unreachable Redis on its own
   * terms, see `unavailableTimeoutMs`), and `lazyConnect: true`.
   * @default {} (retryStrategy: reconnect after 100 ms, 200 ms, … at most every second)
   */
  redis?: RedisOptions
  /**
   * First part of every key (inside the hash tag), so several deployments can share one Redis.
   * @default 'kstreams'
   */
  keyPrefix?: string
  /**
   * Bytes of unflushed writes a store of a task buffers (keys, values and 64 bytes per key). Past
   * it, `write()` writes the buffer down to Redis before it resolves (an early write-down, without
   * a commit point): memory stays bounded, and the stored state may then run ahead of the
   * committed offsets until the next commit (at-least-once).
   * @default 67108864 (64 MiB)
   */
  maxBufferBytes?: number
  /**
   * How long a read (`get`, `getMany`, a page of `range`, `approximateCount`), an open or an early
   * write-down waits for an unreachable Redis before it fails with a retriable `StoreError`. A
   * `flush` does not wait: it fails at once, and the runtime flushes again at the next commit.
   * @default 30000
   */
  unavailableTimeoutMs?: number
  /**
   * A command without a reply after this long fails (ioredis `commandTimeout`), so that a hung
   * server is treated as an unreachable one.
   * @default 10000
   */
  commandTimeoutMs?: number
  /**
   * A flush with more changed keys than this stages them in temporary keys in chunks of this
   * many, then applies them in one script: no single command carries the whole buffer, and the
   * apply is still one atomic step.
   * @default 10000
   */
  flushChunkKeys?: number
  /** Keys per page of a range scan (each page is one round trip, at most 4 MiB of values). @default 256 */
  rangePageKeys?: number
}

export interface ResolvedRedisStoreOptions {
  url: string
  redis: RedisOptions
  keyPrefix: string
  maxBufferBytes: number
  unavailableTimeoutMs: number
  commandTimeoutMs: number
  flushChunkKeys: number
  rangePageKeys: number
}

const known = new Set([
  'url',
  'redis',
  'keyPrefix',
  'maxBufferBytes',
  'unavailableTimeoutMs',
  'commandTimeoutMs',
  'flushChunkKeys',
  'rangePageKeys',
])

export function resolveOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  for (const name of Object.keys(options)) {
    if (!known.has(name)) {
      throw new ConfigError(
        `createRedisBackend: unknown option "${name}"; the options are ${[...known].join(', ')}`,
        { context: { option: name } },
      )
    }
  }
  const positive = (name: keyof RedisStoreOptions, fallback: number): number => {
    const value = options[name] ?? fallback
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new ConfigError(
        `createRedisBackend: option "${name}" must be a positive integer, got ${String(value)}`,
        { context: { option: name } },
      )
    }
    return value
  }
  const keyPrefix = options.keyPrefix ?? 'kstreams'
  if (typeof keyPrefix !== 'string' || keyPrefix.length === 0) {
    throw new ConfigError('createRedisBackend: option "keyPrefix" must be a non-empty string', {
      context: { option: 'keyPrefix' },
    })
  }
  return {
    url: options.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redis: options.redis ?? {},
    keyPrefix,
    maxBufferBytes: positive('maxBufferBytes', 64 * 1024 * 1024),
    unavailableTimeoutMs: positive('unavailableTimeoutMs', 30_000),
    commandTimeoutMs: positive('commandTimeoutMs', 10_000),
    flushChunkKeys: positive('flushChunkKeys', 10_000),
    rangePageKeys: positive('rangePageKeys', 256),
  }
}
