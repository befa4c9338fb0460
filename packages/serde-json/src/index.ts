export { formatPath } from './issues.js'
export { type JsonReplacer, type JsonReviver, type JsonSerdeOptions, jsonSerde } from './json-serde.js'
