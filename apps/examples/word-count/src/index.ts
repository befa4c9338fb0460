export { buildDslWordCountTopology, type DslWordCountTopics } from './dsl-topology.js'
export { buildWordCountTopology, type WordCountTopics, type WordCountTopology, wordsOf } from './topology.js'
