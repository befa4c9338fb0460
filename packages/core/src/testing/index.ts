export { SeededRandom } from './seeded-random.js'
export {
  type CommitCrash,
  type SimulatedGroupState,
  SimulatedKafka,
  type SimulatedKafkaOptions,
  type SimulatedKafkaPort,
  type SimulatedMemberState,
  type SimulatedRecord,
  type SimulationEvent,
  type SimulationFaultCounts,
} from './simulated-kafka.js'
export {
  type TestDriverOptions,
  type TestInputTopic,
  type TestOutputTopic,
  type TestRecord,
  TopologyTestDriver,
} from './topology-test-driver.js'
