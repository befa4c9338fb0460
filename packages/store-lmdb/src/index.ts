export { createLmdbBackend, LmdbBackend, type LmdbBackendOptions, lmdbMaxKeyBytes } from './lmdb-backend.js'
