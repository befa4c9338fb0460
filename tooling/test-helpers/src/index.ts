export { endpoints } from './endpoints.js'
export { uniqueName, uniqueSuffix } from './unique-name.js'
export { createTestTopics, type TestTopicSpec } from './kafka.js'
