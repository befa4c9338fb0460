export { endpoints } from './endpoints.js'
export {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  type TestMessage,
  type TestTopicSpec,
} from './kafka.js'
export { type ChildApp, spawnNodeScript } from './processes.js'
export { uniqueName, uniqueSuffix } from './unique-name.js'
