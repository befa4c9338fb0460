// The produce path across a broker outage, on a private broker that the test stops and starts
// again with its data: a send rides out the outage within deliveryTimeoutMs without writing a
// record twice, gives up with a clear error past it, and fails at once on an unretriable error.

import { type DedicatedKafka, startDedicatedKafka, uniqueName } from '@kstreams/test-helpers'
import { Connection, fetchV17, metadataV12 } from '@platformatic/kafka'
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest'
import {
  createPlatformaticKafkaPort,
  KafkaError,
  type KafkaPort,
  type ProduceRecord,
} from '../../src/index.js'

let kafka: DedicatedKafka

beforeAll(async () => {
  kafka = await startDedicatedKafka({ port: 19192 })
})

afterAll(() => kafka?.close())

const encoder = new TextEncoder()

function records(topic: string, count: number, prefix: string, partitions = 3): ProduceRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    topic,
    partition: index % partitions,
    key: encoder.encode(`key-${index % 17}`),
    value: encoder.encode(`${prefix}-${index}`),
  }))
}

function portOnBroker(): KafkaPort {
  return createPlatformaticKafkaPort({ bootstrapServers: kafka.bootstrapServers, connectTimeoutMs: 1000 })
}

/** Records in the topic, from the partitions' end offsets: a record written twice counts twice. */
async function storedRecords(port: KafkaPort, topic: string, partitions: number): Promise<bigint> {
  const reader = port.createReader({ clientId: uniqueName('count') })
  try {
    const ends = await reader.endOffsets(
      Array.from({ length: partitions }, (_, partition) => ({ topic, partition })),
    )
    return [...ends.values()].reduce((sum, end) => sum + end, 0n)
  } finally {
    await reader.close()
  }
}

it('delivers sends started while the broker is down once it is back, each record once', async () => {
  const [topic] = await kafka.createTopics({ prefix: 'outage-produce', partitions: 3 })
  const port = portOnBroker()
  const producer = port.createProducer({ clientId: uniqueName('outage-producer'), deliveryTimeoutMs: 60_000 })
  const admin = port.createAdmin({ clientId: uniqueName('outage-admin') })
  onTestFinished(() => Promise.all([producer.close(), admin.close()]).then(() => {}))
  // Warm: the producer has its producer id and the topic's metadata before the outage.
  await producer.send(records(topic!, 90, 'before'))

  await kafka.stop({ keep: true })
  const stoppedAt = Date.now()
  const sends = Array.from({ length: 5 }, (_, batch) =>
    producer.send(records(topic!, 200, `during-${batch}`)),
  )
  const settled = Promise.allSettled(sends)
  const described = admin.describeTopics([topic!])
  await new Promise((resolve) => setTimeout(resolve, 4000))
  const outage = port.connectivity?.outage()
  expect(outage?.brokers).toBe(kafka.bootstrapServers.join(', '))
  expect(outage?.sinceMs).toBeGreaterThanOrEqual(stoppedAt - 1000)

  await kafka.start({ keep: true })
  const backAt = Date.now()
  const results = await settled
  const deliveredAt = Date.now()
  expect(results.map((result) => result.status)).toEqual(Array(5).fill('fulfilled'))
  expect((await described).get(topic!)?.partitions).toBe(3)
  expect(port.connectivity?.outage()).toBeUndefined()
  expect(await storedRecords(port, topic!, 3)).toBe(90n + 5n * 200n)
  console.info(
    `producer outage: broker away ${((backAt - stoppedAt) / 1000).toFixed(1)} s, ` +
      `every send acknowledged ${((deliveredAt - backAt) / 1000).toFixed(1)} s after it was back, 0 duplicates`,
  )
})

it('a reader (restore, global stores) waits out an outage in its offset lookups and reads on once the broker is back', async () => {
  const [topic] = await kafka.createTopics({ prefix: 'outage-reader', partitions: 3 })
  const port = portOnBroker()
  const producer = port.createProducer({ clientId: uniqueName('reader-producer') })
  onTestFinished(() => producer.close())
  await producer.send(records(topic!, 300, 'stored'))
  const reader = port.createReader({ clientId: uniqueName('outage-reader') })
  onTestFinished(() => reader.close())
  const partitions = Array.from({ length: 3 }, (_, partition) => ({ topic: topic!, partition }))

  await kafka.stop({ keep: true })
  // Started while no broker answers: before, the first lookup failed at once with the client's
  // raw network error and the app stopped in the middle of a restore.
  const ends = reader.endOffsets(partitions)
  const assigned = reader.assign(partitions.map((partition) => ({ ...partition, offset: 0n })))
  await new Promise((resolve) => setTimeout(resolve, 3000))
  await kafka.start({ keep: true })
  expect([...(await ends).values()]).toEqual([100n, 100n, 100n])
  await assigned
  let read = 0
  const deadline = Date.now() + 60_000
  while (read < 300 && Date.now() < deadline) {
    for (const batch of await reader.poll(500)) read += batch.records.length
  }
  expect(read).toBe(300)
})

it('fails a send with a retriable KafkaError naming the topic and the broker after deliveryTimeoutMs', async () => {
  const [topic] = await kafka.createTopics({ prefix: 'outage-timeout' })
  const port = portOnBroker()
  // A new producer: the outage starts before it has a producer id or any metadata.
  const producer = port.createProducer({ clientId: uniqueName('timeout-producer'), deliveryTimeoutMs: 3000 })
  onTestFinished(() => producer.close())
  await kafka.stop({ keep: true })
  onTestFinished(() => kafka.start({ keep: true }))
  const started = Date.now()
  const error = await producer.send(records(topic!, 10, 'lost', 1)).then(
    () => undefined,
    (failure: unknown) => failure,
  )
  const elapsed = Date.now() - started
  expect(error).toBeInstanceOf(KafkaError)
  const failure = error as KafkaError
  expect(failure.code).toBe('KSTREAMS_KAFKA')
  expect(failure.retriable).toBe(true)
  expect(failure.message).toContain(`producing 10 record(s) to ${topic}`)
  expect(failure.message).toContain(`Kafka at ${kafka.bootstrapServers[0]} did not accept them within`)
  expect(failure.message).toContain('deliveryTimeoutMs 3000')
  expect(elapsed).toBeGreaterThanOrEqual(2900)
  expect(elapsed).toBeLessThan(8000)
  expect(port.connectivity?.outage()?.brokers).toBe(kafka.bootstrapServers[0])
  console.info(`after ${elapsed} ms: ${failure.message}`)
})

it('fails at once, not retriable, when the broker refuses a record as too large', async () => {
  const [topic] = await kafka.createTopics({
    prefix: 'outage-too-large',
    configs: { 'max.message.bytes': '2000' },
  })
  const port = portOnBroker()
  const producer = port.createProducer({ clientId: uniqueName('large-producer'), deliveryTimeoutMs: 60_000 })
  onTestFinished(() => producer.close())
  const started = Date.now()
  const error = await producer
    .send([{ topic: topic!, partition: 0, key: null, value: new Uint8Array(10_000) }])
    .then(
      () => undefined,
      (failure: unknown) => failure,
    )
  expect(error).toBeInstanceOf(KafkaError)
  expect((error as KafkaError).retriable).toBe(false)
  expect((error as KafkaError).message).toContain('MESSAGE_TOO_LARGE')
  expect(Date.now() - started).toBeLessThan(20_000)
})

it('produces with the configured compression, in requests of at most batchMaxBytes', async () => {
  const [topic] = await kafka.createTopics({ prefix: 'producer-options' })
  const port = portOnBroker()
  const producer = port.createProducer({
    clientId: uniqueName('options-producer'),
    compression: 'gzip',
    batchMaxBytes: 2500,
  })
  onTestFinished(() => producer.close())
  const value = new Uint8Array(1000).fill(97)
  const offsets = await producer.send(
    Array.from({ length: 10 }, () => ({ topic: topic!, partition: 0, key: null, value })),
  )
  expect(offsets).toEqual([{ topic, partition: 0, baseOffset: 0n }])

  const connection = new Connection(uniqueName('raw-fetch'))
  onTestFinished(() => connection.close())
  const [host, portNumber] = kafka.bootstrapServers[0]!.split(':')
  await connection.connect(host!, Number(portNumber))
  const metadata = await metadataV12.api.async(connection, [topic!], false, false)
  const topicId = metadata.topics[0]!.topicId
  const response = await fetchV17.api.async(
    connection,
    100,
    1,
    10_000_000,
    0,
    0,
    -1,
    [
      {
        topicId,
        partitions: [
          {
            partition: 0,
            currentLeaderEpoch: -1,
            fetchOffset: 0n,
            lastFetchedEpoch: -1,
            partitionMaxBytes: 10_000_000,
          },
        ],
      },
    ],
    [],
    '',
  )
  const batches = response.responses[0]!.partitions[0]!.records ?? []
  // 1070 bytes a record as the collector counts them: two per request of at most 2500 bytes.
  expect(batches.map((batch) => batch.records.length)).toEqual([2, 2, 2, 2, 2])
  // The low three bits of a record batch's attributes are its codec: 1 is gzip.
  expect(batches.map((batch) => batch.attributes & 0b111)).toEqual([1, 1, 1, 1, 1])
})
