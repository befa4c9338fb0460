// A consumer-group member on the KIP-848 protocol (ConsumerGroupHeartbeat), driven by its own
// heartbeat loop so that revocation is awaited: the broker hands a revoked partition to another
// member only after this member reports it released, which happens after listener.onRevoked
// resolved (the runtime drains, flushes and commits in there). Heartbeats go on meanwhile.
// Fetching tracks a position per partition, so pause, resume and seek are exact.
import { consumerGroupHeartbeatV0, offsetCommitV9, offsetFetchV9 } from '@platformatic/kafka'
import { KafkaError } from '../errors.js'
import {
  type CommitRequest,
  type FetchedBatch,
  type GroupConsumer,
  type GroupConsumerOptions,
  type OffsetAndMetadata,
  type TopicPartition,
  topicPartitionKey,
} from './kafka-port.js'
import type { Cluster } from './platformatic-cluster.js'
import { coordinatorErrors, describeError, protocolFailures } from './platformatic-errors.js'
import { PartitionFetcher, sleep } from './platformatic-fetcher.js'

const LEAVE_GROUP_EPOCH = -1

export class PlatformaticGroupConsumer implements GroupConsumer {
  readonly #cluster: Cluster
  readonly #options: Required<Omit<GroupConsumerOptions, 'listener'>> & Pick<GroupConsumerOptions, 'listener'>
  readonly #fetcher: PartitionFetcher
  #memberId = ''
  #memberEpoch = 0
  /** The latest assignment the broker asked for, as topic name → partitions. */
  #target: Map<string, number[]> | undefined
  #reconciling: Promise<void> | undefined
  #heartbeatIntervalMs = 1000
  #heartbeatWake: (() => void) | undefined
  #heartbeatLoop: Promise<void> | undefined
  #joined: { resolve: () => void; reject: (error: Error) => void } | undefined
  #closing = false
  #failure: Error | undefined
  #lastHeartbeatOk = Date.now()
  #prefetch: Promise<FetchedBatch[]> | undefined

  constructor(cluster: Cluster, options: GroupConsumerOptions) {
    this.#cluster = cluster
    this.#options = {
      offsetReset: 'earliest',
      joinTimeoutMs: 45_000,
      rebalanceTimeoutMs: 60_000,
      fetchMinBytes: 1,
      fetchMaxBytes: 50 * 1024 * 1024,
      fetchMaxBytesPerPartition: 1024 * 1024,
      fetchMaxWaitMs: 100,
      ...options,
    }
    this.#fetcher = new PartitionFetcher(cluster, { ...this.#options, topics: () => this.#options.topics })
  }

  async subscribe(): Promise<void> {
    if (this.#heartbeatLoop) return
    await this.#cluster.refresh(this.#options.topics)
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject }
    })
    this.#heartbeatLoop = this.#runHeartbeats()
    await joined
  }

  generation(): { memberId: string; memberEpoch: number } {
    return { memberId: this.#memberId, memberEpoch: this.#memberEpoch }
  }

  assignment(): TopicPartition[] {
    return [...this.#fetcher.partitions.values()].map(({ topic, partition }) => ({ topic, partition }))
  }

  pause(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const state = this.#fetcher.partitions.get(topicPartitionKey(topic, partition))
      if (state) state.paused = true
    }
  }

  resume(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const state = this.#fetcher.partitions.get(topicPartitionKey(topic, partition))
      if (state) state.paused = false
    }
  }

  seek(partition: TopicPartition, offset: bigint): void {
    const state = this.#fetcher.partitions.get(topicPartitionKey(partition.topic, partition.partition))
    if (state) state.position = offset
  }

  async poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    if (this.#failure) throw this.#failure
    const pending = this.#prefetch ?? this.#fetcher.fetch(maxWaitMs)
    this.#prefetch = undefined
    const batches = await pending
    if (this.#failure) throw this.#failure
    // Overlap the next fetch with the caller's processing; its results are checked against the
    // positions again when they are returned, so pause, seek and revoke in between stay exact.
    if (batches.length > 0 && !this.#closing) {
      this.#prefetch = this.#fetcher.fetch(this.#options.fetchMaxWaitMs)
      this.#prefetch.catch(() => {})
    }
    return batches
  }

  async committed(partitions: TopicPartition[]): Promise<Map<string, OffsetAndMetadata | null>> {
    const byTopic = new Map<string, number[]>()
    for (const { topic, partition } of partitions)
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition])
    const response = await this.#withCoordinator('fetch committed offsets', (connection) =>
      offsetFetchV9.api.async(
        connection,
        [
          {
            groupId: this.#options.groupId,
            memberId: this.#memberId || null,
            memberEpoch: this.#memberId ? this.#memberEpoch : -1,
            topics: [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
          },
        ],
        true,
      ),
    )
    const result = new Map<string, OffsetAndMetadata | null>()
    for (const topic of response.groups[0]?.topics ?? []) {
      for (const partition of topic.partitions) {
        result.set(
          topicPartitionKey(topic.name, partition.partitionIndex),
          partition.committedOffset < 0n
            ? null
            : { offset: partition.committedOffset, metadata: partition.metadata ?? null },
        )
      }
    }
    return result
  }

  async commit(offsets: CommitRequest[]): Promise<void> {
    if (offsets.length === 0) return
    const byTopic = new Map<
      string,
      Array<{
        partitionIndex: number
        committedOffset: bigint
        committedLeaderEpoch: number
        committedMetadata: string | null
      }>
    >()
    for (const offset of offsets) {
      const list = byTopic.get(offset.topic) ?? []
      list.push({
        partitionIndex: offset.partition,
        committedOffset: offset.offset,
        committedLeaderEpoch: -1,
        committedMetadata: offset.metadata,
      })
      byTopic.set(offset.topic, list)
    }
    const topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }))
    await this.#withCoordinator('commit offsets', (connection) =>
      offsetCommitV9.api.async(
        connection,
        this.#options.groupId,
        this.#memberEpoch,
        this.#memberId,
        null,
        topics,
      ),
    )
  }

  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    await this.#prefetch?.catch(() => {})
    if (this.#heartbeatLoop) {
      this.#wakeHeartbeat()
      await this.#heartbeatLoop
    }
    await this.#cluster.close()
  }

  // ---- membership -------------------------------------------------------------------------

  async #runHeartbeats(): Promise<void> {
    let delay = 0
    while (!this.#closing) {
      if (delay > 0) await this.#sleepUntilWoken(delay)
      if (this.#closing) break
      try {
        await this.#heartbeat()
        this.#lastHeartbeatOk = Date.now()
        delay = this.#heartbeatIntervalMs
      } catch (error) {
        delay = await this.#onHeartbeatError(error)
      }
    }
    await this.#leave()
  }

  async #heartbeat(): Promise<void> {
    const owned = this.#ownedByTopicId()
    const response = await this.#withCoordinator('heartbeat', (connection) =>
      consumerGroupHeartbeatV0.api.async(
        connection,
        this.#options.groupId,
        this.#memberId,
        this.#memberEpoch,
        null,
        null,
        this.#options.rebalanceTimeoutMs,
        this.#options.topics,
        null,
        'range',
        owned,
      ),
    )
    if (response.memberId) this.#memberId = response.memberId
    this.#memberEpoch = response.memberEpoch
    if (response.heartbeatIntervalMs > 0) this.#heartbeatIntervalMs = response.heartbeatIntervalMs
    if (this.#joined) {
      this.#joined.resolve()
      this.#joined = undefined
    }
    if (response.assignment) {
      const target = new Map<string, number[]>()
      for (const { topicId, partitions } of response.assignment.topicPartitions) {
        let name = this.#cluster.topicNameById(topicId)
        if (!name) {
          await this.#cluster.refresh(this.#options.topics)
          name = this.#cluster.topicNameById(topicId)
        }
        if (name) target.set(name, partitions)
      }
      this.#target = target
      this.#reconcile()
    }
  }

  async #onHeartbeatError(error: unknown): Promise<number> {
    const failures = protocolFailures(error).map((failure) => failure.id)
    if (failures.includes('UNKNOWN_MEMBER_ID') || failures.includes('FENCED_MEMBER_EPOCH')) {
      // This member was removed (e.g. it missed heartbeats): its partitions may already be elsewhere.
      const lost = this.assignment()
      this.#fetcher.partitions.clear()
      this.#target = undefined
      this.#memberEpoch = 0
      if (failures.includes('UNKNOWN_MEMBER_ID')) this.#memberId = ''
      if (lost.length > 0) await this.#options.listener.onLost(lost).catch(() => {})
      return 0
    }
    if (error instanceof KafkaError && !error.retriable) {
      this.#fail(error)
      return this.#heartbeatIntervalMs
    }
    if (this.#joined && Date.now() - this.#lastHeartbeatOk > this.#options.joinTimeoutMs) {
      this.#fail(
        new KafkaError(`cannot join consumer group "${this.#options.groupId}": ${describeError(error)}`, {
          cause: error,
        }),
      )
    }
    return Math.min(this.#heartbeatIntervalMs, 500)
  }

  #fail(error: Error): void {
    this.#failure ??= error
    if (this.#joined) {
      this.#joined.reject(error)
      this.#joined = undefined
    }
    this.#closing = true
  }

  /** Moves owned partitions towards the target: revoke first (awaited), then assign. */
  #reconcile(): void {
    if (this.#reconciling) return
    const run = async () => {
      try {
        while (this.#target && !this.#closing) {
          const target = this.#target
          const revoked = this.assignment().filter(
            ({ topic, partition }) => !target.get(topic)?.includes(partition),
          )
          const added: TopicPartition[] = []
          for (const [topic, partitions] of target) {
            for (const partition of partitions) {
              if (!this.#fetcher.partitions.has(topicPartitionKey(topic, partition)))
                added.push({ topic, partition })
            }
          }
          if (revoked.length > 0) {
            await this.#options.listener.onRevoked(revoked)
            for (const { topic, partition } of revoked)
              this.#fetcher.partitions.delete(topicPartitionKey(topic, partition))
          }
          if (added.length > 0) {
            const committed = await this.committed(added)
            await this.#options.listener.onAssigned(added)
            for (const { topic, partition } of added) {
              const offset = committed.get(topicPartitionKey(topic, partition))?.offset
              this.#fetcher.add(topic, partition, offset)
            }
            await this.#fetcher.resetPositions()
          }
          if (this.#target === target) this.#target = undefined
          if (revoked.length > 0 || added.length > 0) this.#wakeHeartbeat()
        }
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)))
      }
    }
    // `.finally` always runs after this assignment, even when `run` finishes without awaiting.
    this.#reconciling = run().finally(() => {
      this.#reconciling = undefined
    })
  }

  async #leave(): Promise<void> {
    await this.#reconciling
    const owned = this.assignment()
    if (owned.length > 0 && !this.#failure) {
      await this.#options.listener.onRevoked(owned).catch(() => {})
    } else if (owned.length > 0) {
      await this.#options.listener.onLost(owned).catch(() => {})
    }
    this.#fetcher.partitions.clear()
    if (!this.#memberId) return
    await this.#withCoordinator('leave the group', (connection) =>
      consumerGroupHeartbeatV0.api.async(
        connection,
        this.#options.groupId,
        this.#memberId,
        LEAVE_GROUP_EPOCH,
        null,
        null,
        this.#options.rebalanceTimeoutMs,
        null,
        null,
        null,
        null,
      ),
    ).catch(() => {})
  }

  #ownedByTopicId(): Array<{ topicId: string; partitions: number[] }> {
    const byTopic = new Map<string, number[]>()
    for (const { topic, partition } of this.#fetcher.partitions.values()) {
      const id = this.#cluster.topic(topic)?.id
      if (id) byTopic.set(id, [...(byTopic.get(id) ?? []), partition])
    }
    return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }))
  }

  #sleepUntilWoken(milliseconds: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#heartbeatWake = undefined
        resolve()
      }, milliseconds)
      this.#heartbeatWake = () => {
        clearTimeout(timer)
        this.#heartbeatWake = undefined
        resolve()
      }
    })
  }

  #wakeHeartbeat(): void {
    this.#heartbeatWake?.()
  }

  async #withCoordinator<T>(
    action: string,
    request: (connection: Awaited<ReturnType<Cluster['coordinatorFor']>>) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const connection = await this.#cluster.coordinatorFor(this.#options.groupId)
        return await request(connection)
      } catch (error) {
        const failures = protocolFailures(error).map((failure) => failure.id)
        const retriable =
          failures.some((failure) => coordinatorErrors.has(failure)) ||
          (error instanceof KafkaError && error.retriable && attempt < 3)
        if (retriable && attempt < 20 && !this.#closing) {
          await sleep(Math.min(100 * (attempt + 1), 1000))
          continue
        }
        if (KafkaError.isInstance(error)) throw error
        const fenced = failures.some((failure) =>
          ['UNKNOWN_MEMBER_ID', 'FENCED_MEMBER_EPOCH', 'STALE_MEMBER_EPOCH', 'ILLEGAL_GENERATION'].includes(
            failure,
          ),
        )
        throw new KafkaError(
          `could not ${action} for group "${this.#options.groupId}": ${describeError(error)}`,
          {
            cause: error,
            retriable: !fenced,
          },
        )
      }
    }
  }
}
