// The peer: a competent raw @platformatic/kafka consume → transform → produce loop with
// at-least-once commits (offsets committed only after the produced batches were acknowledged),
// batching sends. BENCH_MODE `passthrough` appends a byte to each value; `count` counts records
// per key in a Map and sends each new count (int64), with no durability for the counts.
import { Consumer, compatibilityPartitioner, type Message, Producer } from '@platformatic/kafka'
import { reportOnTerminate } from './measure.js'

const { BENCH_INPUT, BENCH_OUTPUT, BENCH_GROUP, BENCH_MODE, KAFKA_BOOTSTRAP_SERVERS } = process.env
const counts = new Map<string, bigint>()
const suffix = Buffer.from('!')
const brokers = (KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',')
const BATCH = 5000
const MAX_IN_FLIGHT = 8

const consumer = new Consumer({
  groupId: BENCH_GROUP!,
  clientId: `${BENCH_GROUP}-consumer`,
  bootstrapBrokers: brokers,
  maxWaitTime: 100,
})
const producer = new Producer({
  // Kafka's Java default partitioner (murmur2 & 0x7fffffff), as kstreams and Kafka Streams use.
  partitioner: compatibilityPartitioner,
  clientId: `${BENCH_GROUP}-producer`,
  bootstrapBrokers: brokers,
  acks: -1,
  idempotent: true,
})
const stream = await consumer.consume({ topics: [BENCH_INPUT!], mode: 'earliest', autocommit: false })

let batch: Message[] = []
const inFlight = new Set<Promise<void>>()
const pending = new Map<string, Message>()
let timer: NodeJS.Timeout | undefined

function flushBatch(): void {
  if (timer) clearTimeout(timer)
  timer = undefined
  if (batch.length === 0) return
  const messages = batch
  batch = []
  const sent = producer
    .send({
      messages: messages.map((message) => ({
        topic: BENCH_OUTPUT!,
        key: message.key,
        value: BENCH_MODE === 'count' ? countOf(message.key) : Buffer.concat([message.value, suffix]),
        timestamp: message.timestamp,
      })),
    })
    .then(() => {
      for (const message of messages) pending.set(`${message.topic}:${message.partition}`, message)
    })
  inFlight.add(sent)
  sent.finally(() => {
    inFlight.delete(sent)
    if (inFlight.size < MAX_IN_FLIGHT && stream.isPaused()) stream.resume()
  })
  if (inFlight.size >= MAX_IN_FLIGHT) stream.pause()
}

function countOf(key: Buffer): Buffer {
  const name = key.toString('latin1')
  const count = (counts.get(name) ?? 0n) + 1n
  counts.set(name, count)
  const value = Buffer.allocUnsafe(8)
  value.writeBigInt64BE(count)
  return value
}

stream.on('data', (message: Message) => {
  batch.push(message)
  if (batch.length >= BATCH) flushBatch()
  else timer ??= setTimeout(flushBatch, 5)
})

async function commit(): Promise<void> {
  flushBatch()
  await Promise.all(inFlight)
  const offsets = [...pending.values()].map((message) => ({
    topic: message.topic,
    partition: message.partition,
    offset: message.offset + 1n,
    leaderEpoch: message.leaderEpoch,
  }))
  pending.clear()
  if (offsets.length > 0) await consumer.commit({ offsets })
}
const commits = setInterval(() => void commit(), 5000)

process.stdout.write('ready\n')
reportOnTerminate(async () => {
  clearInterval(commits)
  await commit()
  await stream.close()
  await consumer.close(true)
  await producer.close()
})
