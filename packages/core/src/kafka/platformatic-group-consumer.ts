// A consumer-group member on the KIP-848 protocol (ConsumerGroupHeartbeat), driven by its own
// heartbeat loop so that revocation is awaited: the broker hands a revoked partition to another
// member only after this member reports it released, which happens after listener.onRevoked
// resolved (the runtime drains, flushes and commits in there). Heartbeats go on meanwhile.
// Fetching tracks a position per partition, so pause, resume and seek are exact.
import {
  consumerGroupHeartbeatV0,
  fetchV17,
  listOffsetsV9,
  offsetCommitV9,
  offsetFetchV9,
  type RecordsBatch,
} from '@platformatic/kafka'
import { KafkaError } from '../errors.js'
import {
  type CommitRequest,
  type FetchedBatch,
  type FetchedRecord,
  type GroupConsumer,
  type GroupConsumerOptions,
  type OffsetAndMetadata,
  type TopicPartition,
  topicPartitionKey,
} from './kafka-port.js'
import type { Cluster } from './platformatic-cluster.js'
import { coordinatorErrors, describeError, partialResponse, protocolFailures } from './platformatic-errors.js'

const IS_CONTROL_BATCH = 0x20
const IS_TRANSACTIONAL_BATCH = 0x10
const LOG_APPEND_TIME = 0x08
const READ_COMMITTED = 1
const LEAVE_GROUP_EPOCH = -1

interface PartitionState extends TopicPartition {
  key: string
  /** Next offset to fetch; undefined until the committed offset (or reset) is known. */
  position: bigint | undefined
  paused: boolean
}

type FetchResponse = Awaited<ReturnType<typeof fetchV17.api.async>>

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}

export class PlatformaticGroupConsumer implements GroupConsumer {
  readonly #cluster: Cluster
  readonly #options: Required<Omit<GroupConsumerOptions, 'listener'>> & Pick<GroupConsumerOptions, 'listener'>
  readonly #partitions = new Map<string, PartitionState>()
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
      sessionTimeoutMs: 45_000,
      rebalanceTimeoutMs: 60_000,
      fetchMinBytes: 1,
      fetchMaxBytes: 50 * 1024 * 1024,
      fetchMaxBytesPerPartition: 1024 * 1024,
      fetchMaxWaitMs: 100,
      ...options,
    }
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

  assignment(): TopicPartition[] {
    return [...this.#partitions.values()].map(({ topic, partition }) => ({ topic, partition }))
  }

  pause(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const state = this.#partitions.get(topicPartitionKey(topic, partition))
      if (state) state.paused = true
    }
  }

  resume(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const state = this.#partitions.get(topicPartitionKey(topic, partition))
      if (state) state.paused = false
    }
  }

  seek(partition: TopicPartition, offset: bigint): void {
    const state = this.#partitions.get(topicPartitionKey(partition.topic, partition.partition))
    if (state) state.position = offset
  }

  async poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    if (this.#failure) throw this.#failure
    const pending = this.#prefetch ?? this.#fetch(maxWaitMs)
    this.#prefetch = undefined
    const batches = await pending
    if (this.#failure) throw this.#failure
    // Overlap the next fetch with the caller's processing; its results are checked against the
    // positions again when they are returned, so pause, seek and revoke in between stay exact.
    if (batches.length > 0 && !this.#closing) {
      this.#prefetch = this.#fetch(this.#options.fetchMaxWaitMs)
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
      this.#partitions.clear()
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
    if (this.#joined && Date.now() - this.#lastHeartbeatOk > this.#options.sessionTimeoutMs) {
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
              if (!this.#partitions.has(topicPartitionKey(topic, partition))) added.push({ topic, partition })
            }
          }
          if (revoked.length > 0) {
            await this.#options.listener.onRevoked(revoked)
            for (const { topic, partition } of revoked)
              this.#partitions.delete(topicPartitionKey(topic, partition))
          }
          if (added.length > 0) {
            const committed = await this.committed(added)
            await this.#options.listener.onAssigned(added)
            for (const { topic, partition } of added) {
              const key = topicPartitionKey(topic, partition)
              const offset = committed.get(key)?.offset
              this.#partitions.set(key, { topic, partition, key, position: offset, paused: false })
            }
            await this.#resetPositions()
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
    this.#partitions.clear()
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
    for (const { topic, partition } of this.#partitions.values()) {
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

  // ---- fetching ---------------------------------------------------------------------------

  async #resetPositions(): Promise<void> {
    const missing = [...this.#partitions.values()].filter((state) => state.position === undefined)
    if (missing.length === 0) return
    await this.#listOffsets(missing, this.#options.offsetReset === 'earliest' ? -2n : -1n)
  }

  async #listOffsets(states: PartitionState[], timestamp: bigint): Promise<void> {
    const byTopic = new Map<string, PartitionState[]>()
    for (const state of states) byTopic.set(state.topic, [...(byTopic.get(state.topic) ?? []), state])
    const connection = await this.#cluster.anyConnection(this.#cluster.groupPool)
    const response = await listOffsetsV9.api
      .async(
        connection,
        -1,
        READ_COMMITTED,
        [...byTopic].map(([name, list]) => ({
          name,
          partitions: list.map((state) => ({
            partitionIndex: state.partition,
            currentLeaderEpoch: -1,
            timestamp,
          })),
        })),
      )
      .catch((error: unknown) => {
        const partial = partialResponse<Awaited<ReturnType<typeof listOffsetsV9.api.async>>>(error)
        if (partial) return partial
        throw new KafkaError(`could not list offsets: ${describeError(error)}`, {
          cause: error,
          retriable: true,
        })
      })
    for (const topic of response.topics) {
      for (const partition of topic.partitions) {
        const state = this.#partitions.get(topicPartitionKey(topic.name, partition.partitionIndex))
        if (state && partition.errorCode === 0) state.position = partition.offset
      }
    }
  }

  async #fetch(maxWaitMs: number): Promise<FetchedBatch[]> {
    const byLeader = new Map<number, PartitionState[]>()
    let needsMetadata = false
    for (const state of this.#partitions.values()) {
      if (state.paused || state.position === undefined) continue
      const leader = this.#cluster.topic(state.topic)?.partitions[state.partition]?.leader
      if (leader === undefined || leader < 0) {
        needsMetadata = true
        continue
      }
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), state])
    }
    if (needsMetadata) await this.#cluster.refresh(this.#options.topics).catch(() => {})
    if (byLeader.size === 0) {
      await sleep(Math.max(maxWaitMs, 1))
      return []
    }
    const results = await Promise.all(
      [...byLeader].map(([leader, states]) => this.#fetchFrom(leader, states, maxWaitMs)),
    )
    return results.flat()
  }

  async #fetchFrom(leader: number, states: PartitionState[], maxWaitMs: number): Promise<FetchedBatch[]> {
    const requested = new Map(states.map((state) => [state.key, state.position!]))
    const byTopic = new Map<string, PartitionState[]>()
    for (const state of states) byTopic.set(state.topic, [...(byTopic.get(state.topic) ?? []), state])
    let response: FetchResponse
    try {
      const connection = await this.#cluster.connectionTo(leader, this.#cluster.fetchPool)
      response = await fetchV17.api.async(
        connection,
        maxWaitMs,
        this.#options.fetchMinBytes,
        this.#options.fetchMaxBytes,
        READ_COMMITTED,
        0,
        -1,
        [...byTopic].map(([topic, list]) => ({
          topicId: this.#cluster.topic(topic)!.id,
          partitions: list.map((state) => ({
            partition: state.partition,
            currentLeaderEpoch: -1,
            fetchOffset: state.position!,
            lastFetchedEpoch: -1,
            partitionMaxBytes: this.#options.fetchMaxBytesPerPartition,
          })),
        })),
        [],
        '',
      )
    } catch (error) {
      const partial = partialResponse<FetchResponse>(error)
      if (!partial) {
        await this.#cluster.refresh(this.#options.topics).catch(() => {})
        await sleep(100)
        return []
      }
      response = partial
    }
    const batches: FetchedBatch[] = []
    const resets: PartitionState[] = []
    let staleMetadata = false
    for (const topicResponse of response.responses) {
      const topic = this.#cluster.topicNameById(topicResponse.topicId)
      if (!topic) continue
      for (const partitionResponse of topicResponse.partitions) {
        const key = topicPartitionKey(topic, partitionResponse.partitionIndex)
        const state = this.#partitions.get(key)
        // Revoked, paused or moved by seek while the request was in flight: drop the answer.
        if (!state || state.paused || state.position !== requested.get(key)) continue
        if (partitionResponse.errorCode !== 0) {
          if (partitionResponse.errorCode === 1) resets.push(state)
          else staleMetadata = true
          continue
        }
        const batch = this.#toBatch(state, partitionResponse)
        if (batch) batches.push(batch)
      }
    }
    if (resets.length > 0)
      await this.#listOffsets(resets, this.#options.offsetReset === 'earliest' ? -2n : -1n)
    if (staleMetadata) await this.#cluster.refresh(this.#options.topics).catch(() => {})
    return batches
  }

  #toBatch(
    state: PartitionState,
    partitionResponse: FetchResponse['responses'][number]['partitions'][number],
  ): FetchedBatch | undefined {
    const recordBatches: RecordsBatch[] = partitionResponse.records ?? []
    if (recordBatches.length === 0) return undefined
    const start = state.position!
    const records: FetchedRecord[] = []
    const aborted = new Set(
      (partitionResponse.abortedTransactions ?? []).map((transaction) => transaction.producerId),
    )
    let next = start
    for (const recordBatch of recordBatches) {
      const batchEnd = recordBatch.firstOffset + BigInt(recordBatch.lastOffsetDelta) + 1n
      if (batchEnd > next) next = batchEnd
      if (recordBatch.attributes & IS_CONTROL_BATCH) {
        aborted.delete(recordBatch.producerId)
        continue
      }
      if (recordBatch.attributes & IS_TRANSACTIONAL_BATCH && aborted.has(recordBatch.producerId)) continue
      const logAppendTime = (recordBatch.attributes & LOG_APPEND_TIME) !== 0
      for (const record of recordBatch.records) {
        const offset = recordBatch.firstOffset + BigInt(record.offsetDelta)
        if (offset < start) continue
        records.push({
          topic: state.topic,
          partition: state.partition,
          offset,
          timestamp: Number(
            logAppendTime ? recordBatch.maxTimestamp : recordBatch.firstTimestamp + record.timestampDelta,
          ),
          key: record.key,
          value: record.value,
          headers: record.headers.map(
            ([name, value]) => [name === null ? '' : name.toString('utf8'), value] as const,
          ),
        })
      }
    }
    state.position = next
    return {
      topic: state.topic,
      partition: state.partition,
      records,
      highWatermark: partitionResponse.highWatermark,
    }
  }
}
