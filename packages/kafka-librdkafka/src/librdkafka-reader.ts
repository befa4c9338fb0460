// The port's partition reader (the runtime restores stores from changelogs with it) on a
// librdkafka KafkaConsumer used outside any group: manual assignment, no commits. Partition EOF
// events move the position to the end even when the last offsets hold no record (compaction,
// transaction markers), so that a restore that reads up to the end offset finishes.
import {
  type FetchedBatch,
  type FetchedRecord,
  type PartitionReader,
  type TopicPartition,
  topicPartitionKey,
} from '@kstreams/core'
import type { Binding, BindingConfig, BindingConsumer } from './binding.js'
import { settle } from './librdkafka-errors.js'
import { consumeOnce, takeBatches, toFetchedRecord } from './librdkafka-records.js'

const READ_BATCH = 5000

export class LibrdkafkaPartitionReader implements PartitionReader {
  readonly #consumer: BindingConsumer
  readonly #connected: Promise<void>
  readonly #positions = new Map<string, bigint>()
  readonly #timeoutMs: number
  #reading: Promise<void> = Promise.resolve()
  #closed = false

  constructor(
    binding: Binding,
    base: BindingConfig,
    clientId: string,
    fetchMaxBytes: number,
    timeoutMs: number,
  ) {
    this.#timeoutMs = timeoutMs
    this.#consumer = new binding.KafkaConsumer({
      ...base,
      'client.id': clientId,
      // Required by the client, unused: no subscription and no commits.
      'group.id': `${clientId}-reader`,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'enable.partition.eof': true,
      'fetch.max.bytes': fetchMaxBytes,
    })
    this.#consumer.on('partition.eof', ((event: { topic: string; partition: number; offset: number }) => {
      const key = topicPartitionKey(event.topic, event.partition)
      const position = this.#positions.get(key)
      if (position !== undefined && BigInt(event.offset) > position)
        this.#positions.set(key, BigInt(event.offset))
    }) as (...args: never[]) => void)
    this.#connected = settle('the librdkafka reader could not connect', (callback) =>
      this.#consumer.connect({ timeout: timeoutMs }, callback),
    ).then(() => this.#consumer.setDefaultIsTimeoutOnlyForFirstMessage(true))
    this.#connected.catch(() => {})
  }

  async assign(partitions: Array<TopicPartition & { offset: bigint | undefined }>): Promise<void> {
    await this.#connected
    const start = await Promise.all(
      partitions.map(async ({ topic, partition, offset }) => {
        const at = offset ?? BigInt((await this.#watermarks(topic, partition)).lowOffset)
        return { topic, partition, offset: at }
      }),
    )
    for (const { topic, partition, offset } of start)
      this.#positions.set(topicPartitionKey(topic, partition), offset)
    this.#consumer.incrementalAssign(
      start.map(({ topic, partition, offset }) => ({ topic, partition, offset: Number(offset) })),
    )
  }

  unassign(partitions: TopicPartition[]): void {
    const assigned = partitions.filter(({ topic, partition }) =>
      this.#positions.delete(topicPartitionKey(topic, partition)),
    )
    if (assigned.length > 0) {
      this.#consumer.incrementalUnassign(assigned.map(({ topic, partition }) => ({ topic, partition })))
    }
  }

  position(partition: TopicPartition): bigint | undefined {
    return this.#positions.get(topicPartitionKey(partition.topic, partition.partition))
  }

  poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    // One consume call at a time on the client.
    const read = this.#reading.then(() => this.#read(maxWaitMs))
    this.#reading = read.then(
      () => {},
      () => {},
    )
    return read
  }

  async #read(maxWaitMs: number): Promise<FetchedBatch[]> {
    await this.#connected
    if (this.#closed || this.#positions.size === 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(maxWaitMs, 50)))
      return []
    }
    const messages = await consumeOnce(this.#consumer, READ_BATCH, maxWaitMs)
    const held = new Map<string, FetchedRecord[]>()
    for (const message of messages) {
      const key = topicPartitionKey(message.topic, message.partition)
      const position = this.#positions.get(key)
      // Unassigned meanwhile, or before the position (a record fetched ahead of a re-assignment).
      if (position === undefined || BigInt(message.offset) < position) continue
      let records = held.get(key)
      if (!records) {
        records = []
        held.set(key, records)
      }
      records.push(toFetchedRecord(message))
      this.#positions.set(key, BigInt(message.offset) + 1n)
    }
    return takeBatches(
      held,
      () => true,
      (record) => record.offset + 1n,
    )
  }

  async endOffsets(partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    await this.#connected
    const ends = new Map<string, bigint>()
    await Promise.all(
      partitions.map(async ({ topic, partition }) => {
        ends.set(
          topicPartitionKey(topic, partition),
          BigInt((await this.#watermarks(topic, partition)).highOffset),
        )
      }),
    )
    return ends
  }

  #watermarks(topic: string, partition: number): Promise<{ highOffset: number; lowOffset: number }> {
    return settle(`reading the offsets of ${topic}[${partition}] failed`, (callback) =>
      this.#consumer.queryWatermarkOffsets(topic, partition, this.#timeoutMs, callback),
    )
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#connected
    } catch {
      return
    }
    await this.#reading
    await settle('closing the librdkafka reader failed', (callback) => this.#consumer.disconnect(callback))
  }
}
