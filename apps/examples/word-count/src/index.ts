export { buildWordCountTopology, type WordCountTopics, wordsOf } from './topology.js'
