// Serves the word count's `word-counts` store over HTTP: creates the topics (once), produces a few
// lines, runs the app and its query server, and keeps running until Ctrl-C. Start it twice (with
// PORT=7071 for the second) to see two instances share the partitions; query it with
// `npm run query -- fox dog` (src/query-counts.ts).
//
//   KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 PORT=7070 npm run serve
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, silentLogger } from '@kstreams/core'
import { Admin, compatibilityPartitioner, Producer, stringSerializers } from '@platformatic/kafka'
import { buildWordCountTopology } from './topology.js'

const bootstrapServers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',')
const port = Number(process.env.PORT ?? 7070)
const prefix = process.env.TOPIC_PREFIX ?? 'word-count-queries'
const topics = {
  inputTopic: `${prefix}-lines`,
  wordsTopic: `${prefix}-words`,
  outputTopic: `${prefix}-counts`,
}

const admin = new Admin({ clientId: `${prefix}-admin`, bootstrapBrokers: bootstrapServers })
const existing = new Set(await admin.listTopics())
const missing = Object.values(topics).filter((topic) => !existing.has(topic))
if (missing.length > 0) {
  await admin.createTopics({ topics: missing, partitions: 3, replicas: 1 })
  // First start: some text to count.
  const producer = new Producer({
    partitioner: compatibilityPartitioner,
    clientId: `${prefix}-producer`,
    bootstrapBrokers: bootstrapServers,
    serializers: stringSerializers,
    idempotent: true,
  })
  const text = [
    'the quick brown fox jumps over the lazy dog',
    'the dog barks and the fox runs',
    'a stream is a table in motion',
  ]
  await producer.send({ messages: text.map((value) => ({ topic: topics.inputTopic, value })), acks: -1 })
  await producer.close()
}
await admin.close()

const app = createApp(buildWordCountTopology(topics), {
  applicationId: `${prefix}-app`,
  bootstrapServers,
  stateDir: await mkdtemp(join(tmpdir(), 'kstreams-word-count-queries-')),
  commitIntervalMs: 500,
  logger: silentLogger,
})
await app.start()
// Bound to 127.0.0.1 (the default); pass host: '0.0.0.0' and an advertisedEndpoint to expose it.
const server = await app.serveQueries({ port })
console.log(`serving the word-count store at ${server.url} (Ctrl-C to stop)`)
console.log(`  curl '${server.url}/v1/stores/word-counts/get?key=%22fox%22'`)
console.log(`  curl '${server.url}/v1/stores/word-counts/all?limit=10'`)
await app.done()
