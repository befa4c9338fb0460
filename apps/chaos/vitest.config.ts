import { packageVitestConfig } from '@kstreams/test-helpers/vitest-config'

// No shared services: the chaos test starts a private broker (it stops it in R2).
export default packageVitestConfig(import.meta.dirname, { integrationTimeoutMs: 900_000 })
