import { packageVitestConfig } from '@kstreams/test-helpers/vitest-config'

export default packageVitestConfig(import.meta.dirname)
