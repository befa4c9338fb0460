export type { StoreBackdoor } from './cases.js'
export {
  type StoreTestSuiteOptions,
  type SuiteTestFunction,
  storeTestSuite,
  type TestRegistrar,
} from './store-test-suite.js'
