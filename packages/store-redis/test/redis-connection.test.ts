import type { StoreBackendFactory } from '@kstreams/core'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createRedisBackend, type RedisStoreOptions } from '../src/index.js'
import { isConnectionError, isRetriable } from '../src/redis-connection.js'

function replyError(message: string): Error {
  const error = new Error(message)
  error.name = 'ReplyError'
  return error
}

describe('error classification', () => {
  it('treats a connection failure as retriable and a refused command as not', () => {
    expect(isConnectionError(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(true)
    expect(isRetriable(new Error('Command timed out'))).toBe(true)
    expect(
      isConnectionError(replyError('WRONGTYPE Operation against a key holding the wrong kind of value')),
    ).toBe(false)
    expect(isRetriable(replyError('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(
      false,
    )
    expect(isRetriable(replyError('ERR Error running script'))).toBe(false)
  })

  it('treats transient refusals (memory, busy, loading, failover) as retriable', () => {
    for (const message of [
      "OOM command not allowed when used memory > 'maxmemory'.",
      'BUSY Redis is busy running a script.',
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      'TRYAGAIN Multiple keys request during rehashing of slot',
    ]) {
      expect(isRetriable(replyError(message)), message).toBe(true)
    }
  })
})

describe('types', () => {
  it('gives a store backend factory, and names its options', () => {
    const factory = createRedisBackend({ url: 'redis://127.0.0.1:6379', keyPrefix: 'app', redis: { db: 2 } })
    expectTypeOf(factory).toEqualTypeOf<StoreBackendFactory>()
    expect(factory.name).toBe('redis')
    expect(factory.persistent).toBe(true)
    expectTypeOf<RedisStoreOptions['maxBufferBytes']>().toEqualTypeOf<number | undefined>()
    // @ts-expect-error a misspelled option is a type error (and a ConfigError at run time)
    expect(() => createRedisBackend({ keyprefix: 'app' })).toThrow(/unknown option "keyprefix"/)
  })
})
