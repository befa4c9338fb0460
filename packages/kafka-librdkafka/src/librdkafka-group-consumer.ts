// The port's group consumer on librdkafka's KafkaConsumer (KIP-848 `consumer` protocol by default,
// or the classic protocol with the cooperative-sticky assignor). librdkafka leaves a rebalance
// open until the application calls incrementalAssign / incrementalUnassign, so revocation is
// awaited: the partitions are released only after listener.onRevoked resolved. A pump keeps
// calling consume() (librdkafka serves rebalances and commit results only from there) and holds
// the records per partition, so pause, resume and seek are exact.
import {
  type CommitRequest,
  type FetchedBatch,
  type FetchedRecord,
  type GroupConsumer,
  type GroupConsumerOptions,
  KafkaError,
  type Logger,
  type OffsetAndMetadata,
  silentLogger,
  type TopicPartition,
  topicPartitionKey,
} from '@kstreams/core'
import type {
  Binding,
  BindingConfig,
  BindingConsumer,
  BindingError,
  BindingMessage,
  BindingTopicPartition,
} from './binding.js'
import { CommitTracker } from './librdkafka-commits.js'
import { Codes, settle, toKafkaError } from './librdkafka-errors.js'
import { consumeOnce, takeBatches, toFetchedRecord } from './librdkafka-records.js'

export interface LibrdkafkaGroupConsumerOptions extends GroupConsumerOptions {
  /** @default 'consumer' */
  groupProtocol: 'consumer' | 'classic'
  /** Records held (fetched, not yet polled) past which every partition is paused in librdkafka. */
  maxHeldRecords: number
}

const CONSUME_BATCH = 2000
/**
 * Records held for a partition the runtime paused before it is paused in librdkafka too. The
 * runtime pauses and resumes often (each time a partition's buffer fills and drains); a pause in
 * librdkafka drops its prefetch of the partition, which is then fetched again on resume.
 */
const PAUSED_HOLD_LIMIT = 5000
const CONSUME_WAIT_MS = 100

export function consumerConfig(base: BindingConfig, options: LibrdkafkaGroupConsumerOptions): BindingConfig {
  return {
    ...base,
    'client.id': options.clientId,
    'group.id': options.groupId,
    'group.protocol': options.groupProtocol,
    ...(options.groupProtocol === 'classic'
      ? {
          'partition.assignment.strategy': 'cooperative-sticky',
          'max.poll.interval.ms': options.rebalanceTimeoutMs ?? 60_000,
        }
      : {}),
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'auto.offset.reset': options.offsetReset ?? 'earliest',
    ...(options.fetchMinBytes !== undefined ? { 'fetch.min.bytes': options.fetchMinBytes } : {}),
    ...(options.fetchMaxBytes !== undefined ? { 'fetch.max.bytes': options.fetchMaxBytes } : {}),
    ...(options.fetchMaxBytesPerPartition !== undefined
      ? { 'max.partition.fetch.bytes': options.fetchMaxBytesPerPartition }
      : {}),
    ...(options.fetchMaxWaitMs !== undefined ? { 'fetch.wait.max.ms': options.fetchMaxWaitMs } : {}),
  }
}

export class LibrdkafkaGroupConsumer implements GroupConsumer {
  readonly #consumer: BindingConsumer
  readonly #options: LibrdkafkaGroupConsumerOptions
  readonly #logger: Logger
  /** Partitions librdkafka fetches for the runtime (assigned, onAssigned resolved, not revoking). */
  readonly #live = new Map<string, TopicPartition>()
  /** Partitions being handed over in onAssigned: seeks on them wait for incrementalAssign. */
  readonly #assigning = new Map<string, TopicPartition>()
  readonly #pendingSeeks = new Map<string, bigint>()
  readonly #paused = new Set<string>()
  /** Partitions paused in librdkafka itself (see #sync). */
  readonly #clientPaused = new Set<string>()
  /** Fetched records not yet polled, per partition, in offset order. */
  readonly #held = new Map<string, FetchedRecord[]>()
  #heldCount = 0
  /** Every partition paused in librdkafka because too many records are held. */
  #overflow = false
  /** Bumped by each seek: records of a consume call that began before it are dropped. */
  readonly #seekVersions = new Map<string, number>()
  readonly #commits = new CommitTracker()
  #rebalancing: Promise<void> = Promise.resolve()
  #joined: { resolve(): void; reject(error: Error): void } | undefined
  #wake: (() => void) | undefined
  #pump: Promise<void> | undefined
  #closing = false
  #memberEpoch = 0
  readonly #memberId: string

  constructor(binding: Binding, base: BindingConfig, options: LibrdkafkaGroupConsumerOptions) {
    this.#options = options
    this.#logger = options.logger ?? silentLogger
    this.#memberId = `${options.clientId}-${process.pid}-${Date.now().toString(36)}`
    this.#consumer = new binding.KafkaConsumer({
      ...consumerConfig(base, options),
      rebalance_cb: (error: BindingError, partitions: BindingTopicPartition[]) =>
        this.#queueRebalance(error, partitions),
      offset_commit_cb: (error: BindingError | undefined, offsets: BindingTopicPartition[]) =>
        this.#commits.settled(error, offsets),
    })
    this.#consumer.on('event.error', (error: BindingError) =>
      this.#logger.warn(`librdkafka consumer ${options.clientId}: ${error.message}`),
    )
  }

  async subscribe(): Promise<void> {
    await settle('the librdkafka consumer could not connect', (callback) =>
      this.#consumer.connect({ timeout: this.#options.joinTimeoutMs ?? 45_000 }, callback),
    )
    this.#consumer.setDefaultIsTimeoutOnlyForFirstMessage(true)
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject }
    })
    this.#consumer.subscribe(this.#options.topics)
    this.#pump = this.#runPump()
    const timeoutMs = this.#options.joinTimeoutMs ?? 45_000
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        joined,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new KafkaError(`group "${this.#options.groupId}" was not joined within ${timeoutMs} ms`, {
                  retriable: true,
                }),
              ),
            timeoutMs,
          )
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  async #runPump(): Promise<void> {
    while (!this.#closing) {
      const versions = new Map(this.#seekVersions)
      let messages: BindingMessage[]
      try {
        messages = await consumeOnce(this.#consumer, CONSUME_BATCH, CONSUME_WAIT_MS)
      } catch (error) {
        this.#logger.warn(`librdkafka consumer ${this.#options.clientId}: ${(error as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, CONSUME_WAIT_MS))
        continue
      }
      if (messages.length === 0) continue
      for (const message of messages) {
        const key = topicPartitionKey(message.topic, message.partition)
        // Revoked meanwhile, or seeked after this call began: not for the runtime.
        if (!this.#live.has(key) || this.#seekVersions.get(key) !== versions.get(key)) continue
        let records = this.#held.get(key)
        if (!records) {
          records = []
          this.#held.set(key, records)
        }
        records.push(toFetchedRecord(message))
        this.#heldCount += 1
      }
      if (this.#heldCount > this.#options.maxHeldRecords) this.#overflow = true
      this.#sync(this.#live.keys())
      this.#wake?.()
    }
  }

  async poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    let batches = this.#take()
    if (batches.length > 0 || this.#closing) return batches
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, maxWaitMs)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = done
    })
    this.#wake = undefined
    batches = this.#take()
    return batches
  }

  #take(): FetchedBatch[] {
    const batches = takeBatches(
      this.#held,
      (key) => this.#live.has(key) && !this.#paused.has(key),
      (record) => this.#highWatermark(record),
    )
    for (const batch of batches) this.#heldCount -= batch.records.length
    if (this.#overflow && this.#heldCount <= this.#options.maxHeldRecords / 2) {
      this.#overflow = false
      this.#sync(this.#live.keys())
    }
    return batches
  }

  #highWatermark(record: FetchedRecord): bigint {
    try {
      const { highOffset } = (
        this.#consumer as unknown as {
          getWatermarkOffsets(topic: string, partition: number): { highOffset: number }
        }
      ).getWatermarkOffsets(record.topic, record.partition)
      if (highOffset >= 0) return BigInt(highOffset)
    } catch {
      // Not known yet: the record's own position is the best lower bound.
    }
    return record.offset + 1n
  }

  /** Records of a paused partition are held, not returned; librdkafka stops fetching it once it holds many. */
  pause(partitions: TopicPartition[]): void {
    const keys = partitions.map((partition) => this.#key(partition))
    for (const key of keys) this.#paused.add(key)
    this.#sync(keys)
  }

  resume(partitions: TopicPartition[]): void {
    const keys = partitions.map((partition) => this.#key(partition)).filter((key) => this.#paused.delete(key))
    this.#sync(keys)
    if (keys.some((key) => (this.#held.get(key)?.length ?? 0) > 0)) this.#wake?.()
  }

  /**
   * Pauses in librdkafka what should not be fetched now (everything while too many records are
   * held, a paused partition once it holds PAUSED_HOLD_LIMIT) and resumes the rest.
   */
  #sync(keys: Iterable<string>): void {
    const pause: BindingTopicPartition[] = []
    const resume: BindingTopicPartition[] = []
    for (const key of keys) {
      const partition = this.#live.get(key)
      if (!partition) continue
      const fetch =
        !this.#overflow && !(this.#paused.has(key) && (this.#held.get(key)?.length ?? 0) >= PAUSED_HOLD_LIMIT)
      if (!fetch && !this.#clientPaused.has(key)) {
        this.#clientPaused.add(key)
        pause.push({ topic: partition.topic, partition: partition.partition })
      } else if (fetch && this.#clientPaused.delete(key)) {
        resume.push({ topic: partition.topic, partition: partition.partition })
      }
    }
    try {
      if (pause.length > 0) this.#consumer.pause(pause)
      if (resume.length > 0) this.#consumer.resume(resume)
    } catch (error) {
      this.#logger.warn(`pausing or resuming in librdkafka failed: ${(error as Error).message}`)
    }
  }

  seek(partition: TopicPartition, offset: bigint): void {
    const key = this.#key(partition)
    this.#heldCount -= this.#held.get(key)?.length ?? 0
    this.#held.delete(key)
    this.#seekVersions.set(key, (this.#seekVersions.get(key) ?? 0) + 1)
    this.#sync([key])
    if (!this.#live.has(key)) {
      // Not yet handed to librdkafka (the runtime seeks in onAssigned): incrementalAssign starts there.
      this.#pendingSeeks.set(key, offset)
      return
    }
    this.#consumer.seek(
      { topic: partition.topic, partition: partition.partition, offset: Number(offset) },
      0,
      (error) => {
        if (error)
          this.#logger.warn(
            `seeking ${partition.topic}[${partition.partition}] to ${offset} failed: ${error.message}`,
          )
      },
    )
  }

  async committed(partitions: TopicPartition[]): Promise<Map<string, OffsetAndMetadata | null>> {
    const result = new Map<string, OffsetAndMetadata | null>()
    if (partitions.length === 0) return result
    const found = await settle<BindingTopicPartition[]>('reading committed offsets failed', (callback) =>
      this.#consumer.committed(
        partitions.map(({ topic, partition }) => ({ topic, partition })),
        this.#options.brokerUnavailableTimeoutMs ?? 120_000,
        callback,
      ),
    )
    for (const entry of found) {
      const key = topicPartitionKey(entry.topic, entry.partition)
      if (entry.error && entry.error.code !== Codes.NO_OFFSET) {
        throw toKafkaError('reading committed offsets failed', entry.error, {
          topic: entry.topic,
          partition: entry.partition,
        })
      }
      result.set(
        key,
        entry.offset === undefined || entry.offset < 0
          ? null
          : { offset: BigInt(entry.offset), metadata: entry.metadata ?? null },
      )
    }
    return result
  }

  commit(offsets: CommitRequest[]): Promise<void> {
    if (offsets.length === 0) return Promise.resolve()
    return this.#commits.commit(offsets, this.#options.brokerUnavailableTimeoutMs ?? 120_000, (list) =>
      this.#consumer.commit(list),
    )
  }

  /** Rebalances are handled one after the other, in the order librdkafka reported them. */
  #queueRebalance(error: BindingError, partitions: BindingTopicPartition[]): void {
    const lost = error.code === Codes.REVOKE_PARTITIONS && this.#consumer.assignmentLost()
    this.#rebalancing = this.#rebalancing
      .then(() => this.#rebalance(error, partitions, lost))
      .catch((failure: unknown) => this.#logger.error(`rebalance failed: ${String(failure)}`))
  }

  async #rebalance(error: BindingError, given: BindingTopicPartition[], lost: boolean): Promise<void> {
    const partitions = given.map(({ topic, partition }) => ({ topic, partition }))
    if (error.code === Codes.ASSIGN_PARTITIONS) {
      this.#memberEpoch = Date.now()
      let committed: Map<string, OffsetAndMetadata | null> | undefined
      for (const partition of partitions) this.#assigning.set(this.#key(partition), partition)
      try {
        if (partitions.length > 0) {
          committed = await this.committed(partitions)
          await this.#options.listener.onAssigned(partitions, committed)
        }
      } finally {
        const start: BindingTopicPartition[] = partitions.map((partition) => {
          const key = this.#key(partition)
          this.#assigning.delete(key)
          this.#live.set(key, partition)
          const offset = this.#pendingSeeks.get(key) ?? committed?.get(key)?.offset
          this.#pendingSeeks.delete(key)
          return offset === undefined ? partition : { ...partition, offset: Number(offset) }
        })
        this.#consumer.incrementalAssign(start)
        this.#sync(partitions.map((partition) => this.#key(partition)))
        this.#joined?.resolve()
      }
      return
    }
    if (error.code !== Codes.REVOKE_PARTITIONS) {
      this.#logger.warn(`librdkafka rebalance error: ${error.message}`)
      this.#joined?.reject(toKafkaError('joining the group failed', error))
      return
    }
    // Already given up through the listener (close() revokes first): only librdkafka is left.
    const ours = partitions.filter((partition) => this.#live.has(this.#key(partition)))
    for (const partition of ours) this.#release(partition)
    try {
      if (ours.length > 0) {
        if (lost) await this.#options.listener.onLost(ours)
        else await this.#options.listener.onRevoked(ours)
      }
    } finally {
      this.#consumer.incrementalUnassign(partitions)
    }
  }

  #release(partition: TopicPartition): void {
    const key = this.#key(partition)
    this.#live.delete(key)
    this.#heldCount -= this.#held.get(key)?.length ?? 0
    this.#held.delete(key)
    this.#paused.delete(key)
    this.#clientPaused.delete(key)
    this.#seekVersions.delete(key)
  }

  /**
   * Not the broker's member epoch (the binding exposes neither it nor the member id): the time of
   * this member's latest assignment, so that a later owner of a task has a larger value than an
   * earlier one as far as the hosts' clocks agree. See the README.
   */
  generation(): { memberId: string; memberEpoch: number } {
    return { memberId: this.#memberId, memberEpoch: this.#memberEpoch }
  }

  assignment(): TopicPartition[] {
    return [...this.#live.values(), ...this.#assigning.values()]
  }

  async close(): Promise<void> {
    if (this.#closing) return
    // Revoke through the listener first, while the pump still serves commit results.
    await this.#rebalancing
    const owned = [...this.#live.values()]
    for (const partition of owned) this.#release(partition)
    if (owned.length > 0) {
      try {
        await this.#options.listener.onRevoked(owned)
      } catch (error) {
        this.#logger.warn(`revoking on close failed: ${String(error)}`)
      }
    }
    this.#closing = true
    this.#wake?.()
    await this.#pump
    await settle('closing the librdkafka consumer failed', (callback) => this.#consumer.disconnect(callback))
    this.#commits.rejectAll('the consumer closed before the commit was acknowledged')
  }

  #key(partition: TopicPartition): string {
    return topicPartitionKey(partition.topic, partition.partition)
  }
}
