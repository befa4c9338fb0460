import { packageVitestConfig } from '@kstreams/test-helpers/vitest-config'

// Packing and installing from the registry take minutes on a loaded 2-core machine.
export default packageVitestConfig(import.meta.dirname, {
  services: ['kafka'],
  integrationTimeoutMs: 300_000,
})
