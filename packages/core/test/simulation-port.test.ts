// The simulated Kafka port itself: what the runtime relies on, checked without the runtime.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import {
  FencedError,
  type GroupConsumer,
  type GroupListener,
  KafkaError,
  KStreamsError,
  type TopicPartition,
} from '../src/index.js'
import { SeededRandom, SimulatedKafka, type SimulatedKafkaPort } from '../src/testing/index.js'

const text = (bytes: Uint8Array | null) => (bytes === null ? null : new TextDecoder().decode(bytes))
const names = (partitions: TopicPartition[]) =>
  partitions.map(({ topic, partition }) => `${topic}-${partition}`).sort()

/** A listener that logs every call as "<member> <kind> <partitions>" and can hold onRevoked. */
function recordingListener(name: string, log: string[], options: { revokeDelayMs?: number } = {}) {
  const listener: GroupListener = {
    onAssigned: async (partitions) => {
      log.push(`${name} assigned ${names(partitions).join(',')}`)
    },
    onRevoked: async (partitions) => {
      log.push(`${name} revoking ${names(partitions).join(',')}`)
      if (options.revokeDelayMs) await sleep(options.revokeDelayMs)
      log.push(`${name} revoked ${names(partitions).join(',')}`)
    },
    onLost: async (partitions) => {
      log.push(`${name} lost ${names(partitions).join(',')}`)
    },
  }
  return listener
}

function consumerOn(
  port: SimulatedKafkaPort,
  name: string,
  log: string[],
  options: { revokeDelayMs?: number; topics?: string[] } = {},
): GroupConsumer {
  return port.createConsumer({
    groupId: 'group',
    clientId: name,
    topics: options.topics ?? ['topic'],
    listener: recordingListener(name, log, options),
  })
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(1)
  }
}

describe('SeededRandom', () => {
  it('gives the same sequence for the same seed, and independent forks', () => {
    const draws = (random: SeededRandom) => Array.from({ length: 5 }, () => random.int(1000))
    expect(draws(new SeededRandom(7))).toEqual(draws(new SeededRandom(7)))
    expect(draws(new SeededRandom(7))).not.toEqual(draws(new SeededRandom(8)))
    const random = new SeededRandom(7)
    const fork = random.fork('a')
    random.next()
    expect(draws(fork)).toEqual(draws(new SeededRandom(7).fork('a')))
    expect(draws(new SeededRandom(7).fork('a'))).not.toEqual(draws(new SeededRandom(7).fork('b')))
    expect(random.at(1, 2, 3)).toBe(new SeededRandom(7).at(1, 2, 3))
    expect(random.at(1, 2, 3)).not.toBe(random.at(1, 2, 4))
    for (let index = 0; index < 100; index += 1) {
      const value = random.between(3, 5)
      expect(value >= 3 && value <= 5).toBe(true)
    }
  })
})

describe('SimulatedKafka: topics, producer, partitioner', () => {
  it("partitions keyed records as Kafka's Java client and null keys round-robin", () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 7)
    // murmur2 values from Kafka's own UtilsTest.
    const javaMurmur2: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ]
    for (const [key, hash] of javaMurmur2) {
      expect(kafka.partitionFor('topic', new TextEncoder().encode(key))).toBe((hash & 0x7fffffff) % 7)
    }
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(() => kafka.partitionFor('topic', null))).toEqual([
      0, 1, 2, 3, 4, 5, 6, 0,
    ])
  })

  it('acknowledges sends with the base offset per partition, in order, with headers and timestamps', async () => {
    const kafka = new SimulatedKafka({ seed: 3, produceDelayMs: [0, 3] })
    kafka.createTopic('topic', 2)
    const producer = kafka.port().createProducer({ clientId: 'producer' })
    const value = new TextEncoder().encode('v')
    const first = producer.send([
      { topic: 'topic', partition: 0, key: null, value, timestamp: 5, headers: [['h', value]] },
      { topic: 'topic', partition: 1, key: null, value },
      { topic: 'topic', partition: 0, key: null, value },
    ])
    const second = producer.send([{ topic: 'topic', partition: 0, key: null, value: null }])
    const acknowledged = await first
    // Bytes are copied when the broker receives them (at the acknowledgement, so a caller that
    // reuses a buffer it handed to send() before the ack is caught); later changes do not reach the log.
    value[0] = 0
    expect(acknowledged).toEqual([
      { topic: 'topic', partition: 0, baseOffset: 0n },
      { topic: 'topic', partition: 1, baseOffset: 0n },
    ])
    expect(await second).toEqual([{ topic: 'topic', partition: 0, baseOffset: 2n }])
    const records = kafka.records('topic', 0)
    expect(records.map((record) => record.offset)).toEqual([0n, 1n, 2n])
    expect(records[0]!.timestamp).toBe(5)
    expect(text(records[0]!.headers[0]![1])).toBe('v')
    expect(text(records[1]!.value)).toBe('v')
    expect(records[2]!.value).toBeNull()
    expect(kafka.endOffset('topic', 0)).toBe(3n)
    await expect(producer.send([{ topic: 'missing', key: null, value: null }])).rejects.toThrow(
      /does not exist/,
    )
  })

  it('fails a chosen send with a retriable KafkaError, and the sends queued behind it', async () => {
    const kafka = new SimulatedKafka({ failSends: [1], lostAckRate: 0, produceDelayMs: [2, 2] })
    kafka.createTopic('topic', 1)
    const producer = kafka.port().createProducer({ clientId: 'producer' })
    const send = () => producer.send([{ topic: 'topic', partition: 0, key: null, value: null }])
    const results = await Promise.allSettled([send(), send(), send()])
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected'])
    const error = (results[1] as PromiseRejectedResult).reason
    expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_KAFKA')
    expect((error as KafkaError).retriable).toBe(true)
    // Only the first was written: what reaches a partition is a prefix of what was sent.
    expect(kafka.endOffset('topic', 0)).toBe(1n)
    await expect(send()).resolves.toEqual([{ topic: 'topic', partition: 0, baseOffset: 1n }])
    expect(kafka.faults.produceFailures).toBe(1)
  })

  it('writes a failed send all the same when its acknowledgement was lost', async () => {
    const kafka = new SimulatedKafka({ failSends: [0], lostAckRate: 1 })
    kafka.createTopic('topic', 1)
    const producer = kafka.port().createProducer({ clientId: 'producer' })
    await expect(producer.send([{ topic: 'topic', partition: 0, key: null, value: null }])).rejects.toThrow(
      KafkaError,
    )
    expect(kafka.endOffset('topic', 0)).toBe(1n)
    expect(kafka.faults.lostAcks).toBe(1)
  })

  it('describes topics with the configs asked for, and creates only missing ones', async () => {
    const kafka = new SimulatedKafka()
    const admin = kafka.port().createAdmin({ clientId: 'admin' })
    await admin.createTopics([
      { name: 'log', partitions: 3, configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '10' } },
    ])
    await admin.createTopics([{ name: 'log', partitions: 5 }])
    const described = await admin.describeTopics(['log', 'missing'], ['cleanup.policy', 'retention.ms'])
    expect([...described.keys()]).toEqual(['log'])
    expect(described.get('log')).toEqual({
      name: 'log',
      partitions: 3,
      configs: { 'cleanup.policy': 'compact' },
    })
    expect((await admin.describeTopics(['log'])).get('log')).toEqual({ name: 'log', partitions: 3 })
  })

  it('reads chosen partitions from chosen offsets, outside any group', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('log', 2)
    kafka.produce(
      'log',
      ['a', 'b', 'c'].map((value) => ({ key: 'k', value, partition: 1 })),
    )
    const reader = kafka.port().createReader({ clientId: 'reader' })
    await reader.assign([{ topic: 'log', partition: 1, offset: 1n }])
    expect(reader.position({ topic: 'log', partition: 1 })).toBe(1n)
    const [batch] = await reader.poll(10)
    expect(batch!.records.map((record) => text(record.value))).toEqual(['b', 'c'])
    expect(batch!.highWatermark).toBe(3n)
    expect(reader.position({ topic: 'log', partition: 1 })).toBe(3n)
    expect(await reader.poll(5)).toEqual([])
    const ends = await reader.endOffsets([
      { topic: 'log', partition: 0 },
      { topic: 'log', partition: 1 },
    ])
    expect([...ends.values()]).toEqual([0n, 3n])
    reader.unassign([{ topic: 'log', partition: 1 }])
    expect(reader.position({ topic: 'log', partition: 1 })).toBeUndefined()
  })

  it('reports an outage through connectivity and fails requests with a retriable error meanwhile', async () => {
    const kafka = new SimulatedKafka()
    const port = kafka.port()
    expect(port.connectivity.outage()).toBeUndefined()
    kafka.setUnavailable(true)
    expect(port.connectivity.outage()?.brokers).toBe('sim:9092')
    const error = await port
      .createAdmin({ clientId: 'admin' })
      .describeTopics(['x'])
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(KafkaError)
    expect((error as KafkaError).retriable).toBe(true)
    kafka.setUnavailable(false)
    expect(port.connectivity.outage()).toBeUndefined()
  })
})

describe('SimulatedKafka: the consumer group', () => {
  it('stores commits with metadata; committed() returns them, and null where none', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 2)
    kafka.produce('topic', [{ key: 'k', value: 'v', partition: 0 }])
    const log: string[] = []
    const consumer = consumerOn(kafka.port(), 'a', log)
    await consumer.subscribe()
    await until(() => consumer.assignment().length === 2)
    await consumer.commit([{ topic: 'topic', partition: 0, offset: 1n, metadata: '{"streamTime":5}' }])
    const committed = await consumer.committed([
      { topic: 'topic', partition: 0 },
      { topic: 'topic', partition: 1 },
    ])
    expect([...committed.values()]).toEqual([{ offset: 1n, metadata: '{"streamTime":5}' }, null])
    expect(kafka.committed('group', 'topic', 0)).toEqual({ offset: 1n, metadata: '{"streamTime":5}' })
    expect(consumer.generation().memberId).not.toBe('')
    expect(kafka.violations).toEqual([])
    await consumer.close()
    expect(log).toEqual([
      'a assigned topic-0,topic-1',
      'a revoking topic-0,topic-1',
      'a revoked topic-0,topic-1',
    ])
  })

  it('starts a partition at its committed offset, fetches in order, and honours pause, resume and seek', async () => {
    const kafka = new SimulatedKafka({ maxPollRecords: 2 })
    kafka.createTopic('topic', 1)
    kafka.produce(
      'topic',
      ['a', 'b', 'c', 'd', 'e'].map((value) => ({ key: null, value })),
    )
    const first = consumerOn(kafka.port(), 'first', [])
    await first.subscribe()
    await until(() => first.assignment().length === 1)
    await first.commit([{ topic: 'topic', partition: 0, offset: 2n, metadata: null }])
    await first.close()
    const consumer = consumerOn(kafka.port(), 'second', [])
    await consumer.subscribe()
    await until(() => consumer.assignment().length === 1)
    const values = async () =>
      (await consumer.poll(5)).flatMap((batch) => batch.records.map((r) => text(r.value)))
    expect(await values()).toEqual(['c', 'd'])
    consumer.pause([{ topic: 'topic', partition: 0 }])
    expect(await values()).toEqual([])
    consumer.resume([{ topic: 'topic', partition: 0 }])
    expect(await values()).toEqual(['e'])
    consumer.seek({ topic: 'topic', partition: 0 }, 1n)
    expect(await values()).toEqual(['b', 'c'])
    await consumer.close()
  })

  it('on a join, revokes from the old owner (awaited) before it assigns to the new one', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 2)
    const log: string[] = []
    const first = consumerOn(kafka.port(), 'a', log, { revokeDelayMs: 20 })
    await first.subscribe()
    await until(() => first.assignment().length === 2)
    const epoch = first.generation().memberEpoch
    const second = consumerOn(kafka.port(), 'b', log)
    await second.subscribe()
    await until(() => kafka.group('group').stable && second.assignment().length === 1)
    expect(log).toEqual([
      'a assigned topic-0,topic-1',
      'a revoking topic-1',
      'a revoked topic-1',
      'b assigned topic-1',
    ])
    expect(names(first.assignment())).toEqual(['topic-0'])
    expect(first.generation().memberEpoch).toBeGreaterThan(epoch)
    // A leave hands the partitions back, again revoke first.
    await second.close()
    await until(() => first.assignment().length === 2)
    expect(log.slice(4)).toEqual(['b revoking topic-1', 'b revoked topic-1', 'a assigned topic-1'])
    await first.close()
  })

  it('a target set while the member finishes its previous reconciliation is still reached', async () => {
    // The window: the member's run has returned but not yet cleared itself when the other member
    // crashes and the group hands back its partition. Swept over how many microtasks later.
    for (let delay = 0; delay < 12; delay += 1) {
      const kafka = new SimulatedKafka()
      kafka.createTopic('topic', 2)
      const other = kafka.port('other')
      let crashAfterRevoke = false
      const first = kafka.port().createConsumer({
        groupId: 'group',
        clientId: 'a',
        topics: ['topic'],
        listener: {
          onAssigned: async () => {},
          onLost: async () => {},
          onRevoked: async () => {
            if (!crashAfterRevoke) return
            crashAfterRevoke = false
            let chain = Promise.resolve()
            for (let tick = 0; tick < delay; tick += 1) chain = chain.then(() => {})
            void chain.then(() => kafka.crash(other))
          },
        },
      })
      await first.subscribe()
      await until(() => first.assignment().length === 2)
      crashAfterRevoke = true
      await consumerOn(other, 'b', []).subscribe()
      await until(() => kafka.isCrashed(other))
      await until(() => first.assignment().length === 2, 500).catch(() => {
        throw new Error(
          `with the crash ${delay} microtask(s) after the revoke, the member kept ${first.assignment().length} partition(s)`,
        )
      })
      await first.close()
    }
  })

  it('a crashed member gets no listener call; the others take its partitions; its clients reject', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 2)
    const log: string[] = []
    const crashing = kafka.port('crashing')
    const first = consumerOn(crashing, 'a', log)
    await first.subscribe()
    const second = consumerOn(kafka.port(), 'b', log)
    await second.subscribe()
    await until(() => kafka.group('group').stable && second.assignment().length === 1)
    const producer = crashing.createProducer({ clientId: 'producer' })
    log.length = 0
    kafka.crash(crashing)
    await until(() => second.assignment().length === 2)
    expect(log).toEqual(['b assigned topic-0'])
    expect(kafka.isCrashed(crashing)).toBe(true)
    await expect(first.poll(0)).rejects.toThrow(/crashed/)
    await expect(
      first.commit([{ topic: 'topic', partition: 0, offset: 0n, metadata: null }]),
    ).rejects.toThrow(/crashed/)
    await expect(producer.send([{ topic: 'topic', key: null, value: null }])).rejects.toThrow(/crashed/)
    await second.close()
  })

  it('crashes a process inside its next commit: the offsets are not stored', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 1)
    kafka.produce('topic', [{ key: null, value: 'a' }])
    const port = kafka.port('victim')
    const consumer = consumerOn(port, 'a', [])
    await consumer.subscribe()
    await until(() => consumer.assignment().length === 1)
    await consumer.commit([{ topic: 'topic', partition: 0, offset: 0n, metadata: 'm' }])
    const crashed = kafka.crashOnNextCommit(port)
    await expect(
      consumer.commit([{ topic: 'topic', partition: 0, offset: 1n, metadata: null }]),
    ).rejects.toThrow(/crashed/)
    const crash = await crashed
    expect(crash.dropped).toEqual([{ topic: 'topic', partition: 0, offset: 1n, metadata: null }])
    expect([...crash.committedBefore.values()]).toEqual([{ offset: 0n, metadata: 'm' }])
    expect(kafka.committed('group', 'topic', 0)).toEqual({ offset: 0n, metadata: 'm' })
    expect(kafka.group('group').members).toEqual([])
    expect(kafka.faults).toMatchObject({ crashes: 1, crashesOnCommit: 1 })
  })

  it('a fenced member gets onLost (not onRevoked), its commits fail with FencedError, and it rejoins', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 1)
    const log: string[] = []
    let consumer!: GroupConsumer
    let commitError: unknown
    const port = kafka.port()
    consumer = port.createConsumer({
      groupId: 'group',
      clientId: 'a',
      topics: ['topic'],
      listener: {
        ...recordingListener('a', log),
        onLost: async (partitions) => {
          log.push(`a lost ${names(partitions).join(',')}`)
          commitError = await consumer
            .commit([{ topic: 'topic', partition: 0, offset: 0n, metadata: null }])
            .catch((error: unknown) => error)
        },
      },
    })
    await consumer.subscribe()
    await until(() => consumer.assignment().length === 1)
    const before = consumer.generation().memberId
    kafka.fence(port)
    await until(() => log.length === 3 && consumer.assignment().length === 1)
    expect(log).toEqual(['a assigned topic-0', 'a lost topic-0', 'a assigned topic-0'])
    expect(commitError).toBeInstanceOf(FencedError)
    expect(consumer.generation().memberId).not.toBe(before)
    expect(kafka.committed('group', 'topic', 0)).toBeUndefined()
    await consumer.close()
  })

  it('spreads partitions over live members and co-locates equal partition numbers of two topics', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('left', 4)
    kafka.createTopic('right', 4)
    const consumers = ['a', 'b', 'c'].map((name) =>
      consumerOn(kafka.port(), name, [], { topics: ['left', 'right'] }),
    )
    for (const consumer of consumers) await consumer.subscribe()
    await until(() => kafka.group('group').stable && consumers.every((c) => c.assignment().length > 0))
    const owned = consumers.map((consumer) => names(consumer.assignment()))
    expect(owned.flat().sort()).toHaveLength(8)
    for (const partitions of owned) {
      const numbers = (topic: string) =>
        partitions.filter((name) => name.startsWith(topic)).map((name) => name.split('-')[1])
      expect(numbers('left')).toEqual(numbers('right'))
    }
    expect(owned.map((partitions) => partitions.length).sort()).toEqual([2, 2, 4])
    for (const consumer of consumers) await consumer.close()
    expect(kafka.group('group').members).toEqual([])
  })

  it('records a commit of a partition the member does not own as a violation', async () => {
    const kafka = new SimulatedKafka()
    kafka.createTopic('topic', 2)
    const first = consumerOn(kafka.port(), 'a', [])
    await first.subscribe()
    const second = consumerOn(kafka.port(), 'b', [])
    await second.subscribe()
    await until(() => kafka.group('group').stable && second.assignment().length === 1)
    const notOwned = first.assignment()[0]!.partition === 0 ? 1 : 0
    await first.commit([{ topic: 'topic', partition: notOwned, offset: 0n, metadata: null }])
    expect(kafka.violations).toHaveLength(1)
    expect(kafka.violations[0]).toMatch(/without owning it/)
    await first.close()
    await second.close()
  })
})
