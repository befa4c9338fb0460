export {
  TopologyTestDriver,
  type TestDriverOptions,
  type TestInputTopic,
  type TestOutputTopic,
  type TestRecord,
} from './topology-test-driver.js'
