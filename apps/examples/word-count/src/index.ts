export { buildDslWordCountTopology, type DslWordCountTopics } from './dsl-topology.js'
export { buildWordCountTopology, type WordCountTopics, wordsOf } from './topology.js'
