export { endpoints } from './endpoints.js'
export {
  createTestTopics,
  createTopicsOn,
  deleteTopicsWhenTestEnds,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  setGroupSessionTimeout,
  type TestMessage,
  type TestTopicSpec,
} from './kafka.js'
export {
  type DedicatedKafka,
  type DedicatedKafkaOptions,
  type DedicatedKafkaSecurity,
  startDedicatedKafka,
} from './kafka-broker.js'
export { type ChildApp, spawnNodeScript } from './processes.js'
export { type StallingProxy, startStallingProxy } from './stalling-proxy.js'
export { uniqueName, uniqueSuffix } from './unique-name.js'
