import { expect, it } from 'vitest'
import type { AdminPort, ProducedOffset, ProduceRecord, ProducerPort } from '../src/index.js'
import { silentLogger } from '../src/index.js'
import { KafkaRecordCollector } from '../src/runtime/kafka-record-collector.js'

function collectorWith(sent: ProduceRecord[][], options: { batchSize: number; batchMaxBytes: number }) {
  const producer: ProducerPort = {
    send: async (records): Promise<ProducedOffset[]> => {
      sent.push(records)
      return []
    },
    close: async () => {},
  }
  const admin = {
    describeTopics: async () => new Map(),
    createTopics: async () => {},
    close: async () => {},
  } as AdminPort
  return new KafkaRecordCollector({
    producer,
    admin,
    lingerMs: 1000,
    policy: 'fail',
    logger: silentLogger,
    ...options,
  })
}

it('splits batches to stay under the byte limit, so the broker does not refuse them as too large', async () => {
  const sent: ProduceRecord[][] = []
  const collector = collectorWith(sent, { batchSize: 10_000, batchMaxBytes: 1_000_000 })
  const value = new Uint8Array(100_000)
  for (let index = 0; index < 25; index += 1) collector.send({ topic: 'out', partition: 0, key: null, value })
  await collector.flush()
  expect(sent.map((batch) => batch.length)).toEqual([9, 9, 7])
  for (const batch of sent) {
    expect(batch.reduce((sum, record) => sum + (record.value?.byteLength ?? 0), 0)).toBeLessThanOrEqual(
      1_000_000,
    )
  }
})

it('sends a single record larger than the limit on its own, and still cuts batches by count', async () => {
  const sent: ProduceRecord[][] = []
  const collector = collectorWith(sent, { batchSize: 3, batchMaxBytes: 1_000 })
  collector.send({ topic: 'out', partition: 0, key: null, value: new Uint8Array(5_000) })
  for (let index = 0; index < 4; index += 1)
    collector.send({ topic: 'out', partition: 0, key: null, value: new Uint8Array(10) })
  await collector.flush()
  expect(sent.map((batch) => batch.length)).toEqual([1, 3, 1])
})
