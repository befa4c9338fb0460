import { describe, expect, it } from 'vitest'
import { applicationKeyPattern, storeKeys } from '../src/index.js'
import { resolveOptions } from '../src/redis-store-options.js'

describe('key layout', () => {
  it('puts application, store and partition in one hash tag', () => {
    const keys = storeKeys('kstreams', 'orders-app', 'counts', 3)
    expect(keys.data).toBe('{kstreams:orders-app:counts:3}:data')
    expect(keys.index).toBe('{kstreams:orders-app:counts:3}:index')
    expect(keys.meta).toBe('{kstreams:orders-app:counts:3}:meta')
    expect(keys.stage('n1').puts).toBe('{kstreams:orders-app:counts:3}:stage:n1:puts')
  })

  it('escapes separators and braces so that different names never make the same key', () => {
    const colonInApplication = storeKeys('kstreams', 'a:b', 'c', 0)
    const colonInStore = storeKeys('kstreams', 'a', 'b:c', 0)
    expect(colonInApplication.data).not.toBe(colonInStore.data)
    // A brace in a name would end the hash tag early and split a task's keys over slots.
    const braces = storeKeys('kstreams', 'app}', '{store', 1)
    expect(braces.base).toBe('{kstreams:app%7D:%7Bstore:1}')
    expect(storeKeys('kstreams', '100%', 's', 0).base).toBe('{kstreams:100%25:s:0}')
  })

  it('matches every store of one application with a glob-escaped pattern', () => {
    expect(applicationKeyPattern('kstreams', 'app*')).toBe('{kstreams:app\\*:*')
  })
})

describe('options', () => {
  it('names an unknown option and a bad value', () => {
    expect(() => resolveOptions({ urll: 'x' } as never)).toThrow(/unknown option "urll"/)
    expect(() => resolveOptions({ maxBufferBytes: 0 })).toThrow(
      /"maxBufferBytes" must be a positive integer, got 0/,
    )
    expect(() => resolveOptions({ keyPrefix: '' })).toThrow(/"keyPrefix"/)
  })

  it('reads REDIS_URL when no url is given', () => {
    const saved = process.env.REDIS_URL
    process.env.REDIS_URL = 'redis://example.invalid:7000'
    try {
      expect(resolveOptions({}).url).toBe('redis://example.invalid:7000')
      expect(resolveOptions({ url: 'redis://other:1' }).url).toBe('redis://other:1')
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL
      else process.env.REDIS_URL = saved
    }
  })
})
