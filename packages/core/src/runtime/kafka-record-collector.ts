// Batches sink output to Kafka and tracks every send until the broker acknowledges it. `flush`
// resolves only when everything handed over so far is acknowledged: the commit cycle awaits it
// before committing input offsets.
import { channels } from '../diagnostics.js'
import { KStreamsError, ProductionError } from '../errors.js'
import {
  type AdminPort,
  type ProducedOffset,
  type ProduceRecord,
  type ProducerPort,
  produceRecordBytes,
  topicPartitionKey,
} from '../kafka/kafka-port.js'
import { defaultPartition } from '../kafka/partitioner.js'
import type { Logger } from '../logger.js'
import type { Record } from '../record.js'
import type { ProductionErrorPolicy } from './error-policy.js'
import type { Partitioner, RecordCollector } from './record-collector.js'

export interface KafkaRecordCollectorOptions {
  producer: ProducerPort
  admin: AdminPort
  batchSize: number
  /** Bytes of keys, values and headers per batch at most (a larger single record goes alone). */
  batchMaxBytes: number
  lingerMs: number
  policy: ProductionErrorPolicy
  logger: Logger
  /** Batches in flight before `hasCapacity` turns false (backpressure on processing). @default 8 */
  maxInFlightBatches?: number
}

/** A record whose partition waits for its topic's partition count. */
interface PendingPartition {
  index: number
  /** The sink's own partitioner and the record it gets; absent: the default partitioner on the key bytes. */
  partitioner: Partitioner | undefined
  source: Record<unknown, unknown> | undefined
}

export class KafkaRecordCollector implements RecordCollector {
  readonly #options: KafkaRecordCollectorOptions
  readonly #partitionCounts = new Map<string, number>()
  readonly #inFlight = new Set<Promise<void>>()
  /** Topics whose end offsets are tracked (changelogs), and the offset after their last acked record. */
  readonly #tracked = new Set<string>()
  readonly #endOffsets = new Map<string, bigint>()
  #batch: ProduceRecord[] = []
  /** The task of each record in `#batch`. */
  #owners: Array<string | undefined> = []
  #batchBytes = 0
  #pendingPartitions: PendingPartition[] = []
  #timer: NodeJS.Timeout | undefined
  #failure: ProductionError | undefined
  /** Records refused by the broker and skipped under the `continue` policy. */
  skipped = 0

  constructor(options: KafkaRecordCollectorOptions) {
    this.#options = options
  }

  /** Partition counts known in advance (sink topics), so partitioners run without a lookup. */
  setPartitionCount(topic: string, partitions: number): void {
    this.#partitionCounts.set(topic, partitions)
  }

  /** Tracks, for `endOffset`, the offset after the last acknowledged record of each partition of `topic`. */
  trackEndOffsets(topic: string): void {
    this.#tracked.add(topic)
  }

  /** The offset after the last acknowledged record sent to a tracked topic's partition. */
  endOffset(topic: string, partition: number): bigint | undefined {
    return this.#endOffsets.get(topicPartitionKey(topic, partition))
  }

  /** The first production failure under the `fail` policy; the runtime stops on it. */
  get failure(): ProductionError | undefined {
    return this.#failure
  }

  get hasCapacity(): boolean {
    return this.#inFlight.size < (this.#options.maxInFlightBatches ?? 8)
  }

  /**
   * Batches a record. Without an explicit partition it gets the sink's partitioner's choice, or
   * the Java client's default for its key bytes (see partitioner.ts); a record with a null key and
   * no partitioner is spread by the producer.
   */
  send(
    record: ProduceRecord,
    partitioner?: Partitioner,
    source?: Record<unknown, unknown>,
    owner?: string,
  ): void {
    // After a failure under `fail` nothing more goes out: a later batch to the same partition
    // would land after the gap the failed one left (the app stops; nothing past it is committed).
    if (this.#failure) return
    if (record.partition === undefined && ((partitioner && source) || record.key !== null)) {
      const custom = partitioner && source ? partitioner : undefined
      const count = this.#partitionCounts.get(record.topic)
      if (count === undefined)
        this.#pendingPartitions.push({ index: this.#batch.length, partitioner: custom, source })
      else record.partition = choosePartition(record, custom, source, count)
    }
    const bytes = produceRecordBytes(record)
    // Kept under the broker's message size limit: one request may carry one batch per partition.
    if (this.#batch.length > 0 && this.#batchBytes + bytes > this.#options.batchMaxBytes) this.#sendBatch()
    this.#batch.push(record)
    this.#owners.push(owner)
    this.#batchBytes += bytes
    if (this.#batch.length >= this.#options.batchSize) this.#sendBatch()
    else if (this.#timer === undefined)
      this.#timer = setTimeout(() => this.#sendBatch(), this.#options.lingerMs)
  }

  /**
   * Drops the records of these tasks that were not sent yet: the tasks were lost, and what they
   * produced belongs to an epoch that is over.
   */
  discardUnsent(owners: ReadonlySet<string>): number {
    if (this.#batch.length === 0) return 0
    const batch: ProduceRecord[] = []
    const kept: Array<string | undefined> = []
    const newIndex = new Map<number, number>()
    let bytes = 0
    this.#batch.forEach((record, index) => {
      const owner = this.#owners[index]
      if (owner !== undefined && owners.has(owner)) return
      newIndex.set(index, batch.length)
      batch.push(record)
      kept.push(owner)
      bytes += produceRecordBytes(record)
    })
    const dropped = this.#batch.length - batch.length
    this.#pendingPartitions = this.#pendingPartitions
      .filter((pending) => newIndex.has(pending.index))
      .map((pending) => ({ ...pending, index: newIndex.get(pending.index)! }))
    this.#batch = batch
    this.#owners = kept
    this.#batchBytes = bytes
    return dropped
  }

  /** Waits until some batch settles (when `hasCapacity` is false). */
  async waitForCapacity(): Promise<void> {
    while (!this.hasCapacity) await Promise.race(this.#inFlight)
  }

  /**
   * Sends what is batched and waits for the acknowledgement of everything handed over before the
   * call (not of records sent meanwhile, so a commit ends under continuous load). Throws the
   * failure under `fail`.
   */
  async flush(): Promise<void> {
    this.#sendBatch()
    await Promise.all([...this.#inFlight])
    if (this.#failure) throw this.#failure
  }

  #sendBatch(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#batch.length === 0) return
    if (this.#failure) {
      // Not sent after a failure (see `send`): the records stay uncommitted and are produced again.
      this.#batch = []
      this.#owners = []
      this.#batchBytes = 0
      this.#pendingPartitions = []
      return
    }
    const batch = this.#batch
    const pending = this.#pendingPartitions
    this.#batch = []
    this.#owners = []
    this.#batchBytes = 0
    this.#pendingPartitions = []
    const sent = this.#resolvePartitions(batch, pending)
      .then(() => this.#options.producer.send(batch))
      .then(
        (offsets) => {
          if (this.#tracked.size > 0) this.#recordEndOffsets(batch, offsets)
          this.#published(batch)
        },
        (error: unknown) => this.#failed(batch, error),
      )
      .finally(() => this.#inFlight.delete(sent))
    this.#inFlight.add(sent)
  }

  async #resolvePartitions(batch: ProduceRecord[], pending: PendingPartition[]): Promise<void> {
    if (pending.length === 0) return
    const unknown = [...new Set(pending.map(({ index }) => batch[index]!.topic))].filter(
      (topic) => !this.#partitionCounts.has(topic),
    )
    if (unknown.length > 0) {
      const described = await this.#options.admin.describeTopics(unknown)
      for (const [topic, description] of described) this.#partitionCounts.set(topic, description.partitions)
    }
    for (const { index, partitioner, source } of pending) {
      const record = batch[index]!
      const count = this.#partitionCounts.get(record.topic)
      if (count === undefined) {
        throw new ProductionError(
          `sink topic "${record.topic}" does not exist; create it before writing to it`,
          {
            context: { topic: record.topic },
          },
        )
      }
      record.partition = choosePartition(record, partitioner, source, count)
    }
  }

  #recordEndOffsets(batch: ProduceRecord[], offsets: ProducedOffset[]): void {
    const counts = new Map<string, number>()
    for (const record of batch) {
      if (record.partition === undefined || !this.#tracked.has(record.topic)) continue
      const key = topicPartitionKey(record.topic, record.partition)
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    for (const { topic, partition, baseOffset } of offsets) {
      const key = topicPartitionKey(topic, partition)
      const count = counts.get(key)
      if (count === undefined) continue
      const end = baseOffset + BigInt(count)
      if (end > (this.#endOffsets.get(key) ?? -1n)) this.#endOffsets.set(key, end)
    }
  }

  #published(batch: ProduceRecord[]): void {
    if (!channels.recordsProduced.hasSubscribers) return
    const counts = new Map<string, number>()
    for (const record of batch) counts.set(record.topic, (counts.get(record.topic) ?? 0) + 1)
    for (const [topic, count] of counts) channels.recordsProduced.publish({ topic, count })
  }

  #failed(batch: ProduceRecord[], error: unknown): void {
    const topics = [...new Set(batch.map((record) => record.topic))].join(', ')
    const failure =
      KStreamsError.isInstance(error) && error.code === 'KSTREAMS_PRODUCTION'
        ? (error as ProductionError)
        : new ProductionError(
            `could not produce ${batch.length} record(s) to ${topics}: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error, context: { topic: topics } },
          )
    if (this.#options.policy === 'continue') {
      this.skipped += batch.length
      this.#options.logger.warn(`${failure.message} (policy continue: skipped)`, { topics })
      return
    }
    this.#failure ??= failure
  }
}

function choosePartition(
  record: ProduceRecord,
  partitioner: Partitioner | undefined,
  source: Record<unknown, unknown> | undefined,
  partitions: number,
): number {
  return partitioner ? partitioner(source!, partitions) : defaultPartition(record.key!, partitions)
}
