import { readFileSync } from 'node:fs'
import { compatibilityPartitioner } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import {
  type AdminPort,
  defaultPartition,
  murmur2,
  type ProducedOffset,
  type ProduceRecord,
  type ProducerPort,
  silentLogger,
} from '../src/index.js'
import { KafkaRecordCollector } from '../src/runtime/kafka-record-collector.js'

interface Vector {
  keyHex: string
  murmur2: number
  partitions: number
  partition: number
}

// Computed by Kafka's Java client (Utils.murmur2, Utils.toPositive): test/fixtures/java-partitioner.
const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('./fixtures/java-partition-vectors.json', import.meta.url), 'utf8'),
)

describe('the default partitioner is the Java client’s', () => {
  it('has vectors whose hash is negative (where `>>> 0` and `& 0x7fffffff` differ)', () => {
    const negative = vectors.filter((vector) => vector.murmur2 < 0)
    expect(vectors.length).toBe(600)
    expect(negative.length).toBeGreaterThan(200)
    const differ = negative.filter(
      (vector) => (vector.murmur2 >>> 0) % vector.partitions !== vector.partition,
    )
    expect(differ.length).toBeGreaterThan(50)
  })

  it('computes murmur2 and the partition exactly as Java for every vector', () => {
    for (const vector of vectors) {
      const key = Buffer.from(vector.keyHex, 'hex')
      expect({ key: vector.keyHex, hash: murmur2(key) }).toEqual({ key: vector.keyHex, hash: vector.murmur2 })
      expect(defaultPartition(key, vector.partitions)).toBe(vector.partition)
    }
  })

  it('is what the runtime’s collector chooses for keyed records without a partitioner', async () => {
    const sent: ProduceRecord[] = []
    const producer: ProducerPort = {
      send: async (records): Promise<ProducedOffset[]> => {
        sent.push(...records)
        return []
      },
      close: async () => {},
    }
    const admin = {
      describeTopics: async (topics: string[]) =>
        new Map(topics.map((name) => [name, { name, partitions: 12 }])),
      createTopics: async () => {},
      close: async () => {},
    } as AdminPort
    const collector = new KafkaRecordCollector({
      producer,
      admin,
      batchSize: 1000,
      batchMaxBytes: 1_000_000,
      lingerMs: 1,
      policy: 'fail',
      logger: silentLogger,
    })
    collector.setPartitionCount('known', 12)
    const keyed = vectors.filter((vector) => vector.partitions === 12)
    for (const vector of keyed) {
      const key = Buffer.from(vector.keyHex, 'hex')
      collector.send({ topic: 'known', key, value: null })
      // A topic whose partition count is looked up when the batch goes out.
      collector.send({ topic: 'looked-up', key, value: null })
    }
    collector.send({ topic: 'known', key: null, value: new Uint8Array([1]) })
    await collector.flush()
    const expected = keyed.map((vector) => vector.partition)
    expect(sent.filter((record) => record.topic === 'known' && record.key).map((r) => r.partition)).toEqual(
      expected,
    )
    expect(sent.filter((record) => record.topic === 'looked-up').map((record) => record.partition)).toEqual(
      expected,
    )
    // A null key is left to the producer's spreading.
    expect(sent.find((record) => record.key === null)?.partition).toBeUndefined()
  })

  it('agrees with @platformatic/kafka’s compatibilityPartitioner (used by the test helpers and the bench)', () => {
    for (const vector of vectors) {
      const key = Buffer.from(vector.keyHex, 'hex')
      expect(compatibilityPartitioner({} as never, key) % vector.partitions).toBe(vector.partition)
    }
  })
})
