export { createRedisBackend, inputField, RedisBackend } from './redis-backend.js'
export { applicationKeyPattern, type StoreKeys, storeKeys } from './redis-keys.js'
export type { RedisStoreOptions } from './redis-store-options.js'
