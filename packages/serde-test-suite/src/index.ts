export { randomGarbage } from './garbage.js'
export {
  type SerdeTestSuiteOptions,
  type SuiteTestFunction,
  serdeTestSuite,
  type TestRegistrar,
} from './serde-test-suite.js'
