export { buildWordCountTopology, type WordCountTopics, type WordCountTopology, wordsOf } from './topology.js'
