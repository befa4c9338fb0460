// The raw loop of run-raw.ts on librdkafka (@confluentinc/kafka-javascript, its node-rdkafka API),
// the same mapping and the same guarantees: idempotent producer (acks=all), Kafka's Java
// partitioner (murmur2_random), offsets committed every 5 s only after everything produced from
// the records before them was acknowledged. librdkafka batches sends itself (linger.ms 5); the
// loop stops reading while 40,000 records (the 8 × 5000 of run-raw.ts) await their acks.
import { type LibrdkafkaBindingConsumer, loadLibrdkafkaBinding } from '@kstreams/kafka-librdkafka'
import { reportOnTerminate } from './measure.js'

const { BENCH_INPUT, BENCH_OUTPUT, BENCH_GROUP, BENCH_MODE, KAFKA_BOOTSTRAP_SERVERS } = process.env
const servers = KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092'
const MAX_UNACKED = 40_000
const binding = loadLibrdkafkaBinding()
const counts = new Map<string, bigint>()
const suffix = Buffer.from('!')

/** Records produced between two commits; the commit waits until all of them (and earlier) are acked. */
interface Epoch {
  remaining: number
  drained: Promise<void>
  resolve: () => void
}
function newEpoch(): Epoch {
  let resolve!: () => void
  const drained = new Promise<void>((resolvePromise) => {
    resolve = resolvePromise
  })
  return { remaining: 0, drained, resolve }
}

let unacked = 0
let room: (() => void) | undefined
let failure: Error | undefined
let epoch = newEpoch()

const producer = new binding.Producer({
  'bootstrap.servers': servers,
  'client.id': `${BENCH_GROUP}-producer`,
  'enable.idempotence': true,
  acks: 'all',
  'linger.ms': 5,
  partitioner: 'murmur2_random',
  dr_cb: true,
})
producer.on('delivery-report', ((error: Error | null, report: { opaque: Epoch }) => {
  if (error) failure ??= error
  unacked -= 1
  const owner = report.opaque
  owner.remaining -= 1
  if (owner.remaining === 0 && owner !== epoch) owner.resolve()
  if (room && unacked < MAX_UNACKED / 2) {
    room()
    room = undefined
  }
}) as (...args: never[]) => void)

const consumer: LibrdkafkaBindingConsumer = new binding.KafkaConsumer({
  'bootstrap.servers': servers,
  'client.id': `${BENCH_GROUP}-consumer`,
  'group.id': BENCH_GROUP!,
  'group.protocol': 'consumer',
  'enable.auto.commit': false,
  'enable.auto.offset.store': false,
  'auto.offset.reset': 'earliest',
})

function connect(client: {
  connect(options: object, callback: (error: Error | null | undefined) => void): void
}) {
  return new Promise<void>((resolve, reject) =>
    client.connect({}, (error) => (error ? reject(error) : resolve())),
  )
}
await Promise.all([connect(producer), connect(consumer)])
producer.setPollInBackground(true)
consumer.setDefaultConsumeTimeout(100)
consumer.setDefaultIsTimeoutOnlyForFirstMessage(true)
consumer.subscribe([BENCH_INPUT!])

function countOf(key: Buffer): Buffer {
  const name = key.toString('latin1')
  const count = (counts.get(name) ?? 0n) + 1n
  counts.set(name, count)
  const value = Buffer.allocUnsafe(8)
  value.writeBigInt64BE(count)
  return value
}

/** The next offset of each partition read so far (what a commit may cover once its epoch is acked). */
const positions = new Map<string, { topic: string; partition: number; offset: number }>()
let running = true

async function loop(): Promise<void> {
  while (running) {
    if (unacked >= MAX_UNACKED) {
      await new Promise<void>((resolve) => {
        room = resolve
      })
    }
    const messages = await new Promise<
      Array<{
        topic: string
        partition: number
        offset: number
        key: Buffer
        value: Buffer
        timestamp: number
      }>
    >((resolve, reject) =>
      consumer.consume(2000, (error, batch) => (error ? reject(error) : resolve(batch as never))),
    )
    for (const message of messages) {
      const value = BENCH_MODE === 'count' ? countOf(message.key) : Buffer.concat([message.value, suffix])
      producer.produce(BENCH_OUTPUT!, -1, value, message.key, message.timestamp, epoch, undefined)
      epoch.remaining += 1
      unacked += 1
      const key = `${message.topic}:${message.partition}`
      const position = positions.get(key)
      if (position) position.offset = message.offset + 1
      else
        positions.set(key, { topic: message.topic, partition: message.partition, offset: message.offset + 1 })
    }
  }
}

async function commit(): Promise<void> {
  const offsets = [...positions.values()].map((position) => ({ ...position }))
  const closed = epoch
  epoch = newEpoch()
  if (closed.remaining > 0) await closed.drained
  if (failure) throw failure
  if (offsets.length > 0) consumer.commit(offsets)
}
let committing: Promise<void> = Promise.resolve()
const commits = setInterval(() => {
  committing = committing.then(commit)
}, 5000)

const looping = loop()
process.stdout.write('ready\n')
reportOnTerminate(async () => {
  clearInterval(commits)
  running = false
  room?.()
  await looping
  await committing
  await commit()
  await new Promise<void>((resolve) => producer.flush(30_000, () => resolve()))
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()))
  await new Promise<void>((resolve) => producer.disconnect(() => resolve()))
})
