import { storeRoot } from '@kstreams/store-object'
import { storeTestSuite } from '@kstreams/store-test-suite'
import { afterAll, it } from 'vitest'
import { createGcsBackend } from '../../src/index.js'
import { createBucket, gcsStorageOptions, readStoredState } from './gcs-helpers.js'

const { bucket, remove } = await createBucket('conformance')
afterAll(remove)

await storeTestSuite(it, createGcsBackend({ bucket: bucket.name, storageOptions: gcsStorageOptions }), {
  backdoor: {
    // Decodes the manifest, snapshot and segments downloaded with a plain GCS client.
    async read(context, key) {
      const state = await readStoredState(bucket, storeRoot('kstreams', context))
      return state.get(Buffer.from(key).toString('latin1'))
    },
  },
})
