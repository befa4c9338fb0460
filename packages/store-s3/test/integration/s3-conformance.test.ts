import { storeTestSuite } from '@kstreams/store-test-suite'
import { afterAll, it } from 'vitest'
import { createS3Backend } from '../../src/index.js'
import { createBucket, readStoredState, rootOf, s3Client, s3ClientConfig } from './s3-helpers.js'

const client = s3Client()
const { bucket, remove } = await createBucket(client, 'conformance')
afterAll(async () => {
  await remove()
  client.destroy()
})

await storeTestSuite(it, createS3Backend({ bucket, clientConfig: s3ClientConfig }), {
  backdoor: {
    // Decodes the manifest, snapshot and segments downloaded with a plain S3 client.
    async read(context, key) {
      const state = await readStoredState(client, bucket, rootOf(context))
      return state.get(Buffer.from(key).toString('latin1'))
    },
  },
})
