export { bigtableMaxValueBytes, createBigtableBackend } from './bigtable-backend.js'
export type { BigtableBackendOptions } from './bigtable-backend-options.js'
export { bigtableMaxKeyBytes, escapeRowKeyPart } from './row-keys.js'
