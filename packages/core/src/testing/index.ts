export {
  type TestDriverOptions,
  type TestInputTopic,
  type TestOutputTopic,
  type TestRecord,
  TopologyTestDriver,
} from './topology-test-driver.js'
