// The conformance suite on the real redis-server, with a back door that reads the data hash
// directly (HGET on `{<prefix>:<app>:<store>:<partition>}:data`), not through the backend.
import { storeTestSuite } from '@kstreams/store-test-suite'
import { endpoints } from '@kstreams/test-helpers'
import { afterAll, it } from 'vitest'
import { createRedisBackend, storeKeys } from '../../src/index.js'
import { deletePrefix, inspector, uniquePrefix } from './redis-test-helpers.js'

const redis = inspector()
const keyPrefix = uniquePrefix('conformance')
afterAll(async () => {
  await deletePrefix(redis, keyPrefix)
  await redis.quit()
})

await storeTestSuite(it, createRedisBackend({ url: endpoints.redisUrl, keyPrefix }), {
  backdoor: {
    async read(context, key) {
      const keys = storeKeys(keyPrefix, context.applicationId, context.storeName, context.partition)
      return (await redis.hgetBuffer(keys.data, Buffer.from(key))) ?? undefined
    },
  },
})
