import { createMemoryBackend } from '@kstreams/core'
import { it } from 'vitest'
import { storeTestSuite } from '../src/index.js'

await storeTestSuite(it, createMemoryBackend())
