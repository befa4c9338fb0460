import { createTestTopics, endpoints, produceStrings, uniqueName } from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  createPlatformaticKafkaPort,
  type FetchedBatch,
  type GroupConsumer,
  type TopicPartition,
} from '../../src/index.js'
import { topicPartitionKey } from '../../src/kafka/kafka-port.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function port() {
  return createPlatformaticKafkaPort({ bootstrapServers: endpoints.kafkaBootstrapServers })
}

/** Joins a group alone on `topic` and waits until it owns `partitions` partitions. */
async function joinAlone(topic: string, partitions: number): Promise<GroupConsumer> {
  let assigned = 0
  const consumer = port().createConsumer({
    groupId: uniqueName('port-group'),
    clientId: uniqueName('port-consumer'),
    topics: [topic],
    listener: {
      onAssigned: async (list) => {
        assigned += list.length
      },
      onRevoked: async () => {},
      onLost: async () => {},
    },
  })
  onTestFinished(() => consumer.close())
  await consumer.subscribe()
  const deadline = Date.now() + 30_000
  while (assigned < partitions) {
    if (Date.now() > deadline) throw new Error(`only ${assigned} of ${partitions} partitions assigned`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return consumer
}

/** Polls until `done` holds for what was read. */
async function pollUntil(
  poll: (maxWaitMs: number) => Promise<FetchedBatch[]>,
  done: (values: string[]) => boolean,
): Promise<string[]> {
  const values: string[] = []
  const deadline = Date.now() + 30_000
  while (!done(values)) {
    if (Date.now() > deadline) throw new Error(`read only ${JSON.stringify(values)}`)
    for (const batch of await poll(100)) {
      for (const record of batch.records) values.push(decoder.decode(record.value!))
    }
  }
  return values
}

describe('the @platformatic/kafka port on a real broker', () => {
  it('writes every record exactly once, even to a topic created a moment before', async () => {
    const producer = port().createProducer({ clientId: uniqueName('port-producer') })
    onTestFinished(() => producer.close())
    // Without idempotence, the client's retries on brand-new topics wrote some batches twice.
    for (let round = 0; round < 8; round += 1) {
      const [topic] = await createTestTopics({ prefix: 'port-fresh', partitions: 3 })
      // A reader finds where a brand-new partition starts even before its leader is known everywhere.
      const fresh = port().createReader({ clientId: uniqueName('port-fresh-reader') })
      onTestFinished(() => fresh.close())
      await fresh.assign([{ topic: topic!, partition: 2, offset: undefined }])
      expect(fresh.position({ topic: topic!, partition: 2 })).toBe(0n)
      const offsets = await producer.send(
        [0, 1, 2, 3, 4, 5].map((index) => ({
          topic: topic!,
          key: encoder.encode(`key-${index}`),
          value: encoder.encode(`value-${index}`),
        })),
      )
      const reader = port().createReader({ clientId: uniqueName('port-reader') })
      onTestFinished(() => reader.close())
      const partitions: TopicPartition[] = [0, 1, 2].map((partition) => ({ topic: topic!, partition }))
      const ends = await reader.endOffsets(partitions)
      const total = [...ends.values()].reduce((sum, end) => sum + end, 0n)
      expect(total, `round ${round}`).toBe(6n)
      expect(offsets.every((offset) => offset.baseOffset === 0n)).toBe(true)
    }
  })

  it('keeps the order of concurrent sends, also when an earlier one names a topic the producer has not seen', async () => {
    const [out, other] = await createTestTopics(
      { prefix: 'port-order', partitions: 1 },
      { prefix: 'port-order-new', partitions: 1 },
    )
    const producer = port().createProducer({ clientId: uniqueName('port-producer') })
    onTestFinished(() => producer.close())
    const record = (topic: string, value: string) => ({
      topic,
      partition: 0,
      key: encoder.encode('k'),
      value: encoder.encode(value),
    })
    await producer.send([record(out!, 'first')])
    // The first send needs the metadata of a new topic; the second does not and is made after it.
    const [one, two] = await Promise.all([
      producer.send([record(out!, 'second'), record(other!, 'x')]),
      producer.send([record(out!, 'third')]),
    ])
    const offsetIn = (produced: typeof one) => produced.find((offset) => offset.topic === out)!.baseOffset
    expect(offsetIn(one)).toBe(1n)
    expect(offsetIn(two)).toBe(2n)
  })

  it('reads back offsets, timestamps (create and log-append time) and headers exactly as written', async () => {
    const created = uniqueName('port-times')
    const appended = uniqueName('port-append-times')
    const admin = port().createAdmin({ clientId: uniqueName('port-admin') })
    onTestFinished(() => admin.close())
    await admin.createTopics([
      { name: created, partitions: 1 },
      { name: appended, partitions: 1, configs: { 'message.timestamp.type': 'LogAppendTime' } },
    ])
    const producer = port().createProducer({ clientId: uniqueName('port-producer') })
    onTestFinished(() => producer.close())
    const base = Date.now() - 60_000
    const written = [0, 7, 1_000, 3, -86_400_000].map((shift, index) => ({
      partition: 0,
      key: index === 1 ? null : encoder.encode(`k${index}`),
      value: encoder.encode(`v${index}`),
      timestamp: base + shift,
      headers:
        index % 2 === 0
          ? []
          : ([
              ['h', encoder.encode(`x${index}`)],
              ['empty', null],
            ] as const),
    }))
    const sentAt = Date.now()
    for (const topic of [created, appended])
      await producer.send(written.map((record) => ({ ...record, topic })))
    const read = async (topic: string) => {
      const reader = port().createReader({ clientId: uniqueName('port-reader') })
      onTestFinished(() => reader.close())
      await reader.assign([{ topic, partition: 0, offset: 0n }])
      const records = []
      const deadline = Date.now() + 30_000
      while (records.length < written.length && Date.now() < deadline) {
        for (const batch of await reader.poll(100)) records.push(...batch.records)
      }
      return records
    }
    const asCreated = await read(created)
    expect(
      asCreated.map(({ offset, timestamp, key, value, headers }) => ({
        offset,
        timestamp,
        key,
        value,
        headers,
      })),
    ).toEqual(
      written.map(({ timestamp, key, value, headers }, index) => ({
        offset: BigInt(index),
        timestamp,
        key: key === null ? null : Buffer.from(key),
        value: Buffer.from(value),
        // A null header value goes out empty (the client's headers hold Buffers; see toMessage).
        headers: headers.map(([name, headerValue]) => [name, Buffer.from(headerValue ?? [])]),
      })),
    )
    // Log-append time: the broker's clock when it wrote the batch, the same for every record of it.
    const asAppended = await read(appended)
    expect(asAppended.map(({ offset }) => offset)).toEqual([0n, 1n, 2n, 3n, 4n])
    expect(new Set(asAppended.map(({ timestamp }) => timestamp)).size).toBe(1)
    expect(asAppended[0]!.timestamp).toBeGreaterThanOrEqual(sentAt - 1_000)
    expect(asAppended[0]!.timestamp).toBeLessThanOrEqual(Date.now() + 1_000)
  })

  it('pauses, resumes and seeks single partitions exactly', async () => {
    const [topic] = await createTestTopics({ prefix: 'port-pause', partitions: 2 })
    await produceStrings(topic!, [
      { key: 'a', value: 'p0-0', partition: 0 },
      { key: 'a', value: 'p0-1', partition: 0 },
      { key: 'b', value: 'p1-0', partition: 1 },
    ])
    const consumer = await joinAlone(topic!, 2)
    consumer.pause([{ topic: topic!, partition: 1 }])
    const first = await pollUntil(
      (wait) => consumer.poll(wait),
      (values) => values.length >= 2,
    )
    expect(first.sort()).toEqual(['p0-0', 'p0-1'])
    // Paused: nothing of partition 1 arrives.
    for (let attempt = 0; attempt < 3; attempt += 1) expect((await consumer.poll(100)).length).toBe(0)
    consumer.resume([{ topic: topic!, partition: 1 }])
    expect(
      await pollUntil(
        (wait) => consumer.poll(wait),
        (values) => values.length >= 1,
      ),
    ).toEqual(['p1-0'])
    consumer.seek({ topic: topic!, partition: 0 }, 1n)
    expect(
      await pollUntil(
        (wait) => consumer.poll(wait),
        (values) => values.length >= 1,
      ),
    ).toEqual(['p0-1'])
  })

  it('commits offsets with metadata and reads them back', async () => {
    const [topic] = await createTestTopics({ prefix: 'port-commit', partitions: 1 })
    await produceStrings(topic!, [{ key: 'a', value: 'x' }])
    const consumer = await joinAlone(topic!, 1)
    await consumer.commit([{ topic: topic!, partition: 0, offset: 1n, metadata: 'kstreams:test' }])
    const committed = await consumer.committed([{ topic: topic!, partition: 0 }])
    expect(committed.get(topicPartitionKey(topic!, 0))).toEqual({ offset: 1n, metadata: 'kstreams:test' })
  })

  it('describes topics with their configs and reports missing ones as absent', async () => {
    const [topic] = await createTestTopics({
      prefix: 'port-describe',
      partitions: 4,
      configs: { 'cleanup.policy': 'compact' },
    })
    const admin = port().createAdmin({ clientId: uniqueName('port-admin') })
    onTestFinished(() => admin.close())
    const described = await admin.describeTopics([topic!, uniqueName('missing')], ['cleanup.policy'])
    expect([...described.keys()]).toEqual([topic])
    expect(described.get(topic!)).toEqual({
      name: topic,
      partitions: 4,
      configs: { 'cleanup.policy': 'compact' },
    })
  })

  it('reads broker configs: the commit metadata limit, offset.metadata.max.bytes', async () => {
    const admin = port().createAdmin({ clientId: uniqueName('port-admin') })
    onTestFinished(() => admin.close())
    const configs = await admin.describeBrokerConfigs!(['offset.metadata.max.bytes', 'no.such.config'])
    expect(configs).toEqual({ 'offset.metadata.max.bytes': '4096' })
  })

  it('creates topics idempotently: an existing topic is left as it is', async () => {
    const admin = port().createAdmin({ clientId: uniqueName('port-admin') })
    onTestFinished(() => admin.close())
    const [topic] = await createTestTopics({ prefix: 'port-exists', partitions: 2 })
    // The client reports TOPIC_ALREADY_EXISTS two levels deep; it must still count as "exists".
    await admin.createTopics([{ name: topic!, partitions: 5 }])
    expect((await admin.describeTopics([topic!])).get(topic!)?.partitions).toBe(2)
  })

  it('fails with a KafkaError naming the servers when no broker answers', async () => {
    const admin = createPlatformaticKafkaPort({
      bootstrapServers: ['127.0.0.1:1'],
      connectTimeoutMs: 500,
      // Admin calls retry an unreachable broker for adminTimeoutMs (default 60 s) before giving up.
      adminTimeoutMs: 2000,
    }).createAdmin({ clientId: 'unreachable' })
    onTestFinished(() => admin.close())
    await expect(admin.describeTopics(['any'])).rejects.toMatchObject({
      code: 'KSTREAMS_KAFKA',
      message: expect.stringContaining('127.0.0.1:1 did not answer'),
    })
  })
})
