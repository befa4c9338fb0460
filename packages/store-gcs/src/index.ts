export { createGcsBackend, type GcsBackendOptions } from './gcs-backend.js'
export { GcsStorage, type GcsStorageOptions } from './gcs-storage.js'
