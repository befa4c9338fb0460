// The Kafka-port tests of core (test/integration/kafka-port.test.ts) on the librdkafka port, less
// the ones about topic and broker configs (the binding cannot read them), plus awaited revocation
// between two members and the runtime end to end. Needs the native binding (npm run install-native).

import {
  createApp,
  type FetchedBatch,
  type GroupConsumer,
  type GroupListener,
  type ProcessorContext,
  serdes,
  silentLogger,
  type TopicPartition,
  TopologyBuilder,
  topicPartitionKey,
} from '@kstreams/core'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createLibrdkafkaKafkaPort } from '../../src/index.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function port() {
  return createLibrdkafkaKafkaPort({ bootstrapServers: endpoints.kafkaBootstrapServers })
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function quietListener(overrides: Partial<GroupListener> = {}): GroupListener {
  return { onAssigned: async () => {}, onRevoked: async () => {}, onLost: async () => {}, ...overrides }
}

/** Joins a group alone on `topic` and waits until it owns `partitions` partitions. */
async function joinAlone(topic: string, partitions: number): Promise<GroupConsumer> {
  let assigned = 0
  const consumer = port().createConsumer({
    groupId: uniqueName('rdk-group'),
    clientId: uniqueName('rdk-consumer'),
    topics: [topic],
    listener: quietListener({
      onAssigned: async (list) => {
        assigned += list.length
      },
    }),
  })
  onTestFinished(() => consumer.close())
  await consumer.subscribe()
  await until(() => assigned >= partitions, `${partitions} partitions assigned`)
  return consumer
}

/** Polls until `done` holds for what was read. */
async function pollUntil(
  poll: (maxWaitMs: number) => Promise<FetchedBatch[]>,
  done: (values: string[]) => boolean,
): Promise<string[]> {
  const values: string[] = []
  const deadline = Date.now() + 60_000
  while (!done(values)) {
    if (Date.now() > deadline) throw new Error(`read only ${JSON.stringify(values)}`)
    for (const batch of await poll(100)) {
      for (const record of batch.records) values.push(decoder.decode(record.value!))
    }
  }
  return values
}

describe('the librdkafka port on a real broker', () => {
  it('writes every record exactly once and reports the base offsets; a reader finds a new partition at 0', async () => {
    const producer = port().createProducer({ clientId: uniqueName('rdk-producer') })
    onTestFinished(() => producer.close())
    for (let round = 0; round < 3; round += 1) {
      const [topic] = await createTestTopics({ prefix: 'rdk-fresh', partitions: 3 })
      const fresh = port().createReader({ clientId: uniqueName('rdk-fresh-reader') })
      onTestFinished(() => fresh.close())
      await fresh.assign([{ topic: topic!, partition: 2, offset: undefined }])
      expect(fresh.position({ topic: topic!, partition: 2 })).toBe(0n)
      const offsets = await producer.send(
        [0, 1, 2, 3, 4, 5].map((index) => ({
          topic: topic!,
          partition: index % 3,
          key: encoder.encode(`key-${index}`),
          value: encoder.encode(`value-${index}`),
        })),
      )
      const reader = port().createReader({ clientId: uniqueName('rdk-reader') })
      onTestFinished(() => reader.close())
      const partitions: TopicPartition[] = [0, 1, 2].map((partition) => ({ topic: topic!, partition }))
      const ends = await reader.endOffsets(partitions)
      expect(
        [...ends.values()].reduce((sum, end) => sum + end, 0n),
        `round ${round}`,
      ).toBe(6n)
      expect(offsets).toHaveLength(3)
      expect(offsets.every((offset) => offset.baseOffset === 0n)).toBe(true)
    }
  })

  it('keeps the order of concurrent sends to one partition', async () => {
    const [out, other] = await createTestTopics(
      { prefix: 'rdk-order', partitions: 1 },
      { prefix: 'rdk-order-new', partitions: 1 },
    )
    const producer = port().createProducer({ clientId: uniqueName('rdk-producer') })
    onTestFinished(() => producer.close())
    const record = (topic: string, value: string) => ({
      topic,
      partition: 0,
      key: encoder.encode('k'),
      value: encoder.encode(value),
    })
    await producer.send([record(out!, 'first')])
    const [one, two] = await Promise.all([
      producer.send([record(out!, 'second'), record(other!, 'x')]),
      producer.send([record(out!, 'third')]),
    ])
    const offsetIn = (produced: typeof one) => produced.find((offset) => offset.topic === out)!.baseOffset
    expect(offsetIn(one)).toBe(1n)
    expect(offsetIn(two)).toBe(2n)
  })

  it('rejects a send to a partition that does not exist, naming the topic', async () => {
    const [topic] = await createTestTopics({ prefix: 'rdk-bad-partition', partitions: 1 })
    const producer = port().createProducer({ clientId: uniqueName('rdk-producer'), deliveryTimeoutMs: 5000 })
    onTestFinished(() => producer.close())
    await producer.send([{ topic: topic!, partition: 0, key: null, value: encoder.encode('ok') }])
    await expect(
      producer.send([{ topic: topic!, partition: 7, key: null, value: encoder.encode('nowhere') }]),
    ).rejects.toMatchObject({ code: 'KSTREAMS_KAFKA', message: expect.stringContaining(topic!) })
  })

  it('pauses, resumes and seeks single partitions exactly', async () => {
    const [topic] = await createTestTopics({ prefix: 'rdk-pause', partitions: 2 })
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
    for (let attempt = 0; attempt < 3; attempt += 1) expect((await consumer.poll(200)).length).toBe(0)
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

  it('holds a paused partition past the pause in librdkafka, then resumes it without a gap or a duplicate', async () => {
    const [topic] = await createTestTopics({ prefix: 'rdk-hold', partitions: 1 })
    const count = 12_000
    await produceStrings(
      topic!,
      Array.from({ length: count }, (_, index) => ({ key: 'k', value: `v${index}`, partition: 0 })),
    )
    const consumer = await joinAlone(topic!, 1)
    consumer.pause([{ topic: topic!, partition: 0 }])
    // Meanwhile librdkafka fetches until the held records reach the limit, and is paused then.
    for (let attempt = 0; attempt < 10; attempt += 1) expect(await consumer.poll(200)).toEqual([])
    consumer.resume([{ topic: topic!, partition: 0 }])
    const values = await pollUntil(
      (wait) => consumer.poll(wait),
      (read) => read.length >= count,
    )
    expect(values).toEqual(Array.from({ length: count }, (_, index) => `v${index}`))
  })

  it('commits offsets with metadata and reads them back', async () => {
    const [topic] = await createTestTopics({ prefix: 'rdk-commit', partitions: 1 })
    await produceStrings(topic!, [
      { key: 'a', value: 'x' },
      { key: 'a', value: 'y' },
    ])
    const consumer = await joinAlone(topic!, 1)
    await consumer.commit([{ topic: topic!, partition: 0, offset: 1n, metadata: 'kstreams:test' }])
    await consumer.commit([{ topic: topic!, partition: 0, offset: 2n, metadata: null }])
    await consumer.commit([{ topic: topic!, partition: 0, offset: 1n, metadata: 'again' }])
    const committed = await consumer.committed([{ topic: topic!, partition: 0 }])
    expect(committed.get(topicPartitionKey(topic!, 0))).toEqual({ offset: 1n, metadata: 'again' })
  })

  it('awaits revocation: the partitions move only after onRevoked resolved, with its commit', async () => {
    const [topic] = await createTestTopics({ prefix: 'rdk-revoke', partitions: 2 })
    await produceStrings(topic!, [
      { key: 'a', value: 'p0-0', partition: 0 },
      { key: 'b', value: 'p1-0', partition: 1 },
    ])
    const groupId = uniqueName('rdk-revoke-group')
    const events: string[] = []
    let first!: GroupConsumer
    first = port().createConsumer({
      groupId,
      clientId: uniqueName('rdk-first'),
      topics: [topic!],
      listener: quietListener({
        onRevoked: async (partitions) => {
          events.push(`first revoking ${partitions.length}`)
          // Slow on purpose: the other member must not get the partitions meanwhile.
          await new Promise((resolve) => setTimeout(resolve, 3000))
          await first.commit(
            partitions.map(({ partition }) => ({
              topic: topic!,
              partition,
              offset: 1n,
              metadata: 'handover',
            })),
          )
          events.push('first revoked')
        },
      }),
    })
    onTestFinished(() => first.close())
    await first.subscribe()
    await until(() => first.assignment().length === 2, 'the first member owning both partitions')
    let committedSeen: Map<string, unknown> | undefined
    const second = port().createConsumer({
      groupId,
      clientId: uniqueName('rdk-second'),
      topics: [topic!],
      listener: quietListener({
        onAssigned: async (partitions, committed) => {
          events.push(`second assigned ${partitions.length}`)
          committedSeen = new Map(committed)
        },
      }),
    })
    onTestFinished(() => second.close())
    await second.subscribe()
    // Nobody polls the first member: its own pump serves the rebalance and the commit's result.
    await until(() => events.includes('second assigned 1'), 'the second member to get a partition', 90_000)
    expect(events.indexOf('first revoked')).toBeGreaterThan(-1)
    expect(events.indexOf('first revoked')).toBeLessThan(events.indexOf('second assigned 1'))
    const [entry] = [...committedSeen!.values()]
    expect(entry).toEqual({ offset: 1n, metadata: 'handover' })
  })

  it('runs an application end to end: every record copied, the group committed at the end', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'rdk-app-in', partitions: 3 },
      { prefix: 'rdk-app-out', partitions: 3 },
    )
    const values = Array.from({ length: 300 }, (_, index) => `v${index}`)
    await produceStrings(
      input!,
      values.map((value, index) => ({ key: `k${index % 17}`, value })),
    )
    const topology = new TopologyBuilder()
      .addSource('input', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('copy', { parents: ['input'] }, () => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: (record) => context.forward({ ...record, value: `${record.value}!` }),
        }
      })
      .addSink('output', {
        topic: output!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['copy'],
      })
      .build()
    const applicationId = uniqueName('rdk-app')
    const app = createApp(topology, {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      kafka: port(),
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    onTestFinished(() => app.close())
    await app.start()
    const copied = await readTopicUntil(output!, (messages) => messages.length >= values.length, 90_000)
    expect(new Set(copied.map((message) => message.value))).toEqual(
      new Set(values.map((value) => `${value}!`)),
    )
    await app.close()
    // A consumer of the same group starts after everything: the close committed the ends.
    const reader = port().createConsumer({
      groupId: applicationId,
      clientId: uniqueName('rdk-after'),
      topics: [input!],
      listener: quietListener(),
    })
    onTestFinished(() => reader.close())
    await reader.subscribe()
    const committed = await reader.committed([0, 1, 2].map((partition) => ({ topic: input!, partition })))
    const total = [...committed.values()].reduce((sum, entry) => sum + (entry?.offset ?? 0n), 0n)
    expect(total).toBe(BigInt(values.length))
  })
})
