import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { Redis } from 'ioredis'
import { expect, it, onTestFinished } from 'vitest'

it('puts and gets a value in the real Redis server', async () => {
  const redis = new Redis(endpoints.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  onTestFinished(() => redis.quit().then(() => undefined))
  const key = uniqueName('smoke')
  onTestFinished(() => redis.del(key).then(() => undefined))
  await redis.set(key, 'hello')
  expect(await redis.get(key)).toBe('hello')
  expect(await redis.get(`${key}-missing`)).toBeNull()
})
