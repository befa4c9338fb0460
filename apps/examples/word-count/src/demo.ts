// The README demo: creates topics on the local broker, produces sample text, runs the word-count
// topology (written in the DSL) with kstreams, reads the counts back from the output topic and checks them.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, silentLogger } from '@kstreams/core'
import { createLmdbBackend } from '@kstreams/store-lmdb'
import {
  Admin,
  Consumer,
  compatibilityPartitioner,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { buildDslWordCountTopology } from './dsl-topology.js'
import { wordsOf } from './topology.js'

const bootstrapServers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',')
const run = randomBytes(3).toString('hex')
const inputTopic = `word-count-lines-${run}`
const outputTopic = `word-count-counts-${run}`
const applicationId = `word-count-demo-${run}`
const text = [
  'the quick brown fox jumps over the lazy dog',
  'the dog barks and the fox runs',
  'a stream is a table in motion',
  'the table is a snapshot of the stream',
]

const expected = new Map<string, bigint>()
for (const line of text) for (const word of wordsOf(line)) expected.set(word, (expected.get(word) ?? 0n) + 1n)

const admin = new Admin({ clientId: `demo-admin-${run}`, bootstrapBrokers: bootstrapServers })
await admin.createTopics({ topics: [inputTopic, outputTopic], partitions: 3, replicas: 1 })
console.log(`created topics ${inputTopic} and ${outputTopic} on ${bootstrapServers.join(',')}`)

const producer = new Producer({
  // Kafka's Java default partitioner (murmur2 & 0x7fffffff), as kstreams and Kafka Streams use.
  partitioner: compatibilityPartitioner,
  clientId: `demo-producer-${run}`,
  bootstrapBrokers: bootstrapServers,
  serializers: stringSerializers,
  // Without idempotence, the client's retries on the new topic can write a line twice.
  idempotent: true,
})
await producer.send({
  messages: text.map((value, line) => ({ topic: inputTopic, key: `line-${line}`, value })),
  acks: -1,
})
await producer.close()
console.log(`produced ${text.length} lines`)

// Counts live in LMDB under a temporary state directory, backed by a compacted changelog topic.
const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-word-count-'))
const app = createApp(buildDslWordCountTopology({ inputTopic, outputTopic, backend: createLmdbBackend() }), {
  applicationId,
  bootstrapServers,
  stateDir,
  commitIntervalMs: 500,
  logger: silentLogger,
})
await app.start()
console.log('the word-count app is running')

const consumer = new Consumer({
  groupId: `demo-reader-${run}`,
  clientId: `demo-reader-${run}`,
  bootstrapBrokers: bootstrapServers,
  deserializers: {
    ...stringDeserializers,
    value: (bytes?: Buffer) => (bytes ? bytes.readBigInt64BE(0) : 0n),
  },
})
const latest = new Map<string, bigint>()
const stream = await consumer.consume({ topics: [outputTopic], mode: 'earliest', autocommit: false })
const deadline = setTimeout(
  () => stream.destroy(new Error('timed out after 60 s waiting for the counts')),
  60_000,
)
let failure: Error | undefined
try {
  for await (const message of stream) {
    latest.set(message.key, message.value as bigint)
    if ([...expected].every(([word, count]) => latest.get(word) === count)) break
  }
} catch (error) {
  failure = error as Error
} finally {
  clearTimeout(deadline)
}
await consumer.close(true)
await app.close()
await admin.deleteTopics({
  topics: [
    inputTopic,
    outputTopic,
    `${applicationId}-words-repartition`,
    `${applicationId}-word-counts-changelog`,
  ],
})
await rm(stateDir, { recursive: true, force: true })
await admin.close()

if (failure) {
  console.error(
    `demo failed: ${failure.message}; counts read so far: ${JSON.stringify(Object.fromEntries([...latest].map(([word, count]) => [word, String(count)])))}`,
  )
  process.exit(1)
}
console.log(`\nword counts read back from topic ${outputTopic}:`)
const width = Math.max(...[...latest.keys()].map((word) => word.length))
for (const [word, count] of [...latest].sort((a, b) => Number(b[1] - a[1]) || a[0].localeCompare(b[0]))) {
  console.log(`  ${word.padEnd(width)}  ${count}`)
}
console.log(
  `\n${latest.size} distinct words, ${[...latest.values()].reduce((sum, count) => sum + count, 0n)} in total: all counts match the input`,
)
