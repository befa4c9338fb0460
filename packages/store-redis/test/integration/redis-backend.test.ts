// The Redis-specific behaviour on the real redis-server: the write buffer, the atomic flush with
// the commit point, fencing with the ownership token, key isolation, and an unreachable Redis.
import { type CommitPoint, FencedError, KStreamsError, type StoreBackend, StoreError } from '@kstreams/core'
import { endpoints, uniqueName } from '@kstreams/test-helpers'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { createRedisBackend, type RedisStoreOptions, storeKeys } from '../../src/index.js'
import {
  contextFor,
  deletePrefix,
  inspector,
  type PrivateRedis,
  startPrivateRedis,
  uniquePrefix,
} from './redis-test-helpers.js'

const redis = inspector()
const keyPrefix = uniquePrefix('backend')
afterAll(async () => {
  await deletePrefix(redis, keyPrefix)
  await redis.quit()
})

const text = (value: string) => Buffer.from(value)
const show = (value: Uint8Array | undefined) =>
  value === undefined ? 'missing' : Buffer.from(value).toString()

async function open(
  applicationId: string,
  context: Parameters<typeof contextFor>[1] = {},
  options: RedisStoreOptions = {},
): Promise<StoreBackend> {
  const backend = await createRedisBackend({ url: endpoints.redisUrl, keyPrefix, ...options }).open(
    contextFor(applicationId, context),
  )
  onTestFinished(() => backend.close())
  return backend
}

async function entries(backend: StoreBackend, reverse = false): Promise<string[]> {
  const found: string[] = []
  for await (const { key, value } of backend.range({ reverse })) found.push(`${show(key)}=${show(value)}`)
  return found
}

function commitPoint(taskId: string, offset: bigint, changelogOffset?: bigint): CommitPoint {
  return {
    taskId,
    inputs: [{ topic: 'input', partition: 0, offset, completed: [offset + 2n], streamTime: 1000 }],
    changelogs:
      changelogOffset === undefined
        ? []
        : [{ topic: 'app-counts-changelog', partition: 0, offset: changelogOffset }],
    ownership: { taskId, memberId: 'member-a', memberEpoch: 1 },
  }
}

describe('the write buffer', () => {
  it('shows unflushed writes to get, getMany, range and count, and keeps them out of Redis until flush', async () => {
    const applicationId = uniqueName('buffer')
    const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
    const backend = await open(applicationId)
    await backend.write([
      { key: text('x'), value: text('x1') },
      { key: text('y'), value: text('y1') },
    ])
    await backend.flush()
    expect(await redis.hlen(keys.data)).toBe(2)

    await backend.write([
      { key: text('a'), value: text('a1') },
      { key: text('x'), value: null },
      { key: text('y'), value: text('y2') },
      { key: text('z'), value: text('z1') },
      { key: text('z'), value: null },
    ])
    expect(show(await backend.get(text('a')))).toBe('a1')
    expect(show(await backend.get(text('x')))).toBe('missing')
    expect(show(await backend.get(text('y')))).toBe('y2')
    expect((await backend.getMany([text('y'), text('x'), text('a'), text('q')])).map(show)).toEqual([
      'y2',
      'missing',
      'a1',
      'missing',
    ])
    expect(await entries(backend)).toEqual(['a=a1', 'y=y2'])
    expect(await entries(backend, true)).toEqual(['y=y2', 'a=a1'])
    expect(await backend.approximateCount()).toBe(2)
    // Redis still holds the flushed state only.
    expect(await redis.hgetall(keys.data)).toEqual({ x: 'x1', y: 'y1' })
    expect(await redis.zrange(keys.index, '0', '-1')).toEqual(['x', 'y'])

    await backend.flush(commitPoint('0_0', 42n))
    expect(await redis.hgetall(keys.data)).toEqual({ a: 'a1', y: 'y2' })
    expect(await redis.zrange(keys.index, '0', '-1')).toEqual(['a', 'y'])
    expect(JSON.parse((await redis.hget(keys.meta, 'input:input:0'))!)).toEqual({
      topic: 'input',
      partition: 0,
      offset: '42',
      completed: ['44'],
      streamTime: 1000,
      memberId: 'member-a',
      memberEpoch: 1,
    })
    // A commit point without progress (no inputs) leaves the stored position as it is.
    await backend.flush({ ...commitPoint('0_0', 0n), inputs: [] })
    expect(JSON.parse((await redis.hget(keys.meta, 'input:input:0'))!).offset).toBe('42')
  })

  it('writes the buffer down early once it passes maxBufferBytes, without a commit point', async () => {
    const applicationId = uniqueName('bounded')
    const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
    const backend = await open(applicationId, {}, { maxBufferBytes: 20_000 })
    for (let index = 0; index < 50; index += 1) {
      await backend.write([{ key: text(`key-${index}`), value: Buffer.alloc(1000, index) }])
    }
    // Past 20 kB the buffer went to Redis by itself; no commit point came with it.
    const inRedis = await redis.hlen(keys.data)
    expect(inRedis).toBeGreaterThanOrEqual(19)
    expect(inRedis).toBeLessThan(50)
    expect(await redis.hget(keys.meta, 'input:input:0')).toBeNull()
    expect(await backend.approximateCount()).toBe(50)
    expect(Buffer.from((await backend.get(text('key-49')))!)[0]).toBe(49)
    await backend.flush(commitPoint('0_0', 50n))
    expect(await redis.hlen(keys.data)).toBe(50)
  })
})

describe('the flush', () => {
  it('applies many keys through staging keys in one step, and leaves no staging key behind', async () => {
    const applicationId = uniqueName('staged')
    const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
    const backend = await open(
      applicationId,
      { changelogTopic: 'app-counts-changelog' },
      { flushChunkKeys: 25 },
    )
    const batch = Array.from({ length: 300 }, (_, index) => ({
      key: text(`k${index}`),
      value: text(`v${index}`),
    }))
    await backend.write(batch)
    await backend.flush(commitPoint('0_0', 7n, 300n))
    await backend.write([
      { key: text('k0'), value: null },
      ...batch.slice(1, 60).map(({ key }) => ({ key, value: text('w') })),
    ])
    await backend.flush(commitPoint('0_0', 8n, 360n))
    expect(await redis.hlen(keys.data)).toBe(299)
    expect(await redis.zcard(keys.index)).toBe(299)
    expect(await redis.hget(keys.data, 'k1')).toBe('w')
    expect(await redis.hget(keys.data, 'k60')).toBe('v60')
    expect(await redis.keys(`${keys.base}:stage:*`)).toEqual([])
    expect(await redis.hget(keys.meta, 'changelogOffset')).toBe('360')
    expect(await backend.changelogCheckpoint?.()).toBe(360n)
  })

  it('is one atomic step with the commit point: an observer sees the old state or the new one, nothing between', async () => {
    const applicationId = uniqueName('atomic')
    const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
    const backend = await open(applicationId, {}, { flushChunkKeys: 100 })
    const round = (value: string) =>
      Array.from({ length: 5000 }, (_, index) => ({ key: text(`k${index}`), value: text(value) }))
    await backend.write(round('a'))
    await backend.flush(commitPoint('0_0', 1n))
    // Reads the data and the commit point in one script, so each observation is one instant of Redis.
    const observe = async () =>
      (await redis.eval(
        `local first = redis.call('HGET', KEYS[1], 'k0'); local last = redis.call('HGET', KEYS[1], 'k4999')
         local input = redis.call('HGET', KEYS[2], 'input:input:0')
         return {first, last, cjson.decode(input).offset}`,
        2,
        keys.data,
        keys.meta,
      )) as string[]
    await backend.write(round('b'))
    const observations = new Set<string>()
    let flushing = true
    let samples = 0
    const observer = (async () => {
      while (flushing) {
        observations.add((await observe()).join(' '))
        samples += 1
      }
    })()
    await backend.flush(commitPoint('0_0', 2n))
    flushing = false
    await observer
    observations.add((await observe()).join(' '))
    expect([...observations].sort()).toEqual(['a a 1', 'b b 2'].filter((state) => observations.has(state)))
    expect(observations.has('b b 2')).toBe(true)
    // The observer looked while the flush ran (staging, then the apply), not only before and after.
    expect(samples).toBeGreaterThan(1)
  })

  it('reports no changelog checkpoint for a store without changelog or before its first flush', async () => {
    const logged = await open(uniqueName('checkpoint'), { changelogTopic: 'app-counts-changelog' })
    expect(await logged.changelogCheckpoint?.()).toBeUndefined()
    const unlogged = await open(uniqueName('checkpoint'))
    await unlogged.write([{ key: text('a'), value: text('1') }])
    await unlogged.flush(commitPoint('0_0', 1n, 5n))
    expect(await unlogged.changelogCheckpoint?.()).toBeUndefined()
  })
})

describe('fencing', () => {
  it('refuses to open for an owner older than the one Redis names', async () => {
    const applicationId = uniqueName('fence-open')
    await open(applicationId, { ownership: { memberId: 'member-b', memberEpoch: 7 } })
    const error = await open(applicationId, { ownership: { memberId: 'member-a', memberEpoch: 5 } }).catch(
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(FencedError)
    expect((error as FencedError).code).toBe('KSTREAMS_FENCED')
    const message = (error as Error).message
    expect(message).toContain('store "counts" of task 0_0')
    expect(message).toContain('member "member-b" epoch 7')
    expect(message).toContain('member "member-a" epoch 5')
  })

  it('refuses the flush of an owner after a newer one claimed the task, writing nothing of it', async () => {
    for (const flushChunkKeys of [10_000, 5]) {
      const applicationId = uniqueName('fence-flush')
      const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
      const zombie = await open(applicationId, { ownership: { memberEpoch: 3 } }, { flushChunkKeys })
      await zombie.write([{ key: text('before'), value: text('1') }])
      await zombie.flush(commitPoint('0_0', 10n))
      await zombie.write(
        Array.from({ length: 20 }, (_, index) => ({ key: text(`late-${index}`), value: text('z') })),
      )
      const successor = await open(applicationId, { ownership: { memberId: 'member-b', memberEpoch: 4 } })
      const error = await Promise.resolve(zombie.flush(commitPoint('0_0', 99n))).catch(
        (caught: unknown) => caught,
      )
      expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_FENCED')
      expect((error as Error).message).toContain('member "member-b" epoch 4')
      expect((error as Error).message).toContain('member "member-a" epoch 3')
      // Neither the writes nor the commit point of the refused flush reached Redis.
      expect(await redis.hkeys(keys.data)).toEqual(['before'])
      expect(JSON.parse((await redis.hget(keys.meta, 'input:input:0'))!).offset).toBe('10')
      expect(await redis.keys(`${keys.base}:stage:*`)).toEqual([])
      // The zombie stays fenced; the successor works.
      await expect(Promise.resolve(zombie.flush())).rejects.toThrow(FencedError)
      await successor.write([{ key: text('after'), value: text('2') }])
      await successor.flush(commitPoint('0_0', 11n))
      expect((await redis.hkeys(keys.data)).sort()).toEqual(['after', 'before'])
    }
  })
})

describe('isolation', () => {
  it('keeps two applications with the same store name, and two partitions, apart', async () => {
    const first = uniqueName('app-one')
    const second = uniqueName('app-two')
    const backends = [
      await open(first, { partition: 0 }),
      await open(second, { partition: 0 }),
      await open(first, { partition: 1 }),
    ]
    for (const [index, backend] of backends.entries()) {
      await backend.write([
        { key: text('shared-key'), value: text(`value-${index}`) },
        { key: text(`own-${index}`), value: text('x') },
      ])
      await backend.flush()
    }
    const reopened = [
      await open(first, { partition: 0 }),
      await open(second, { partition: 0 }),
      await open(first, { partition: 1 }),
    ]
    expect(
      await Promise.all(reopened.map(async (backend) => show(await backend.get(text('shared-key'))))),
    ).toEqual(['value-0', 'value-1', 'value-2'])
    expect(await entries(reopened[1]!)).toEqual(['own-1=x', 'shared-key=value-1'])
    expect(await reopened[2]!.approximateCount()).toBe(2)
  })
})

describe('an unreachable Redis', () => {
  let privateRedis: PrivateRedis
  let client: Redis
  beforeAll(async () => {
    privateRedis = await startPrivateRedis()
    client = inspector(privateRedis.url)
  })
  afterAll(async () => {
    client.disconnect()
    await privateRedis.close()
  })

  it('fails the flush with a retriable StoreError, keeps the buffer, and flushes it once Redis is back', async () => {
    const applicationId = uniqueName('away')
    const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
    const backend = await createRedisBackend({
      url: privateRedis.url,
      keyPrefix,
      unavailableTimeoutMs: 500,
    }).open(contextFor(applicationId))
    onTestFinished(() => backend.close())
    await backend.write([{ key: text('stored'), value: text('s') }])
    await backend.flush(commitPoint('0_0', 1n))
    await backend.write([{ key: text('pending'), value: text('p') }])
    await privateRedis.stop()
    try {
      const error = await Promise.resolve(backend.flush(commitPoint('0_0', 2n))).catch(
        (caught: unknown) => caught,
      )
      expect(error).toBeInstanceOf(StoreError)
      expect((error as StoreError).retriable).toBe(true)
      expect((error as Error).message).toContain('store "counts" of task 0_0')
      expect((error as Error).message).toContain('flush of 1 changed key(s), the first "pending"')
      expect((error as Error).message).toContain('unreachable')
      // The task's own writes are still read from the buffer; other keys wait, then fail naming the key.
      expect(show(await backend.get(text('pending')))).toBe('p')
      const started = Date.now()
      const readError = await Promise.resolve(backend.get(text('stored'))).catch((caught: unknown) => caught)
      expect(Date.now() - started).toBeGreaterThanOrEqual(400)
      expect(readError).toBeInstanceOf(StoreError)
      expect((readError as StoreError).retriable).toBe(true)
      expect((readError as Error).message).toContain('get of key "stored"')
    } finally {
      await privateRedis.start()
    }
    // A read waits for the client to reconnect (a flush would fail until then, to be retried).
    expect(show(await backend.get(text('stored')))).toBe('s')
    await backend.write([{ key: text('later'), value: text('l') }])
    await backend.flush(commitPoint('0_0', 3n))
    // The persistence of the private Redis kept the first flush; the retried one added the rest.
    expect(await client.hgetall(keys.data)).toEqual({ stored: 's', pending: 'p', later: 'l' })
    expect(JSON.parse((await client.hget(keys.meta, 'input:input:0'))!).offset).toBe('3')
  })

  it('holds a read while Redis is away, up to unavailableTimeoutMs, and answers once it is back', async () => {
    const applicationId = uniqueName('wait')
    const backend = await createRedisBackend({
      url: privateRedis.url,
      keyPrefix,
      unavailableTimeoutMs: 20_000,
    }).open(contextFor(applicationId))
    onTestFinished(() => backend.close())
    await backend.write([{ key: text('k'), value: text('v') }])
    await backend.flush()
    await privateRedis.stop()
    const read = Promise.resolve(backend.get(text('k')))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await privateRedis.start()
    expect(show(await read)).toBe('v')
  })
})
