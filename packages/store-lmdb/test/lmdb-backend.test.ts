import { storeTestSuite } from '@kstreams/store-test-suite'
import { open } from 'lmdb'
import { it } from 'vitest'
import { createLmdbBackend } from '../src/index.js'

await storeTestSuite(it, createLmdbBackend(), {
  backdoor: {
    // Reads the directory with lmdb-js directly, after the backend closed it.
    async read(context, key) {
      const database = open<Uint8Array, Uint8Array>({
        path: context.directory,
        noSubdir: false,
        readOnly: true,
        keyEncoding: 'binary',
        encoding: 'binary',
      })
      try {
        return database.getBinary(key)
      } finally {
        await database.close()
      }
    },
  },
})
