// The `stores` namespace: store builders and the backends that ship with core.

import { sessionStore, windowStore } from '../windows/window-store.js'
import { keyValueStore } from './key-value-store.js'
import { createMemoryBackend } from './memory-backend.js'

/**
 * @example
 * builder.addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
 */
export const stores = {
  keyValue: keyValueStore,
  window: windowStore,
  session: sessionStore,
  /** The in-memory backend (the default). */
  memory: createMemoryBackend,
} as const
