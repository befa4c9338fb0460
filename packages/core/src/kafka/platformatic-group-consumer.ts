// A consumer-group member on the KIP-848 protocol (ConsumerGroupHeartbeat), driven by its own
// heartbeat loop so that revocation is awaited: the broker hands a revoked partition to another
// member only after this member reports it released, which happens after listener.onRevoked
// resolved (the runtime drains, flushes and commits in there). Heartbeats go on meanwhile.
// Fetching tracks a position per partition, so pause, resume and seek are exact.
import { consumerGroupHeartbeatV0, offsetCommitV9, offsetFetchV9 } from '@platformatic/kafka'
import { ErrorCodes, FencedError, isFencedError, KafkaError, KStreamsError } from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
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
import type { ConnectivityTracker } from './platformatic-connectivity.js'
import { classifyGroupFailure, describeError, type GroupFailure, isFencing } from './platformatic-errors.js'
import { PartitionFetcher, sleep } from './platformatic-fetcher.js'
import { retryDelayMs } from './platformatic-retry.js'

const LEAVE_GROUP_EPOCH = -1

export interface PlatformaticGroupConsumerOptions extends GroupConsumerOptions {
  /** Outage tracking shared by the port's clients. @default the cluster's tracker */
  connectivity?: ConnectivityTracker
}

type ResolvedOptions = Required<
  Omit<PlatformaticGroupConsumerOptions, 'listener' | 'connectivity' | 'logger'>
> & { listener: GroupConsumerOptions['listener']; logger: Logger }

/** How long a group request may keep retrying retriable failures. */
interface RetryBound {
  /** Give up when the next attempt would start after this time (ms since the epoch); never when absent. */
  deadline?: number
  /**
   * A heartbeat stops retrying when close() begins or a loss is pending (the loop rejoins then),
   * and its pauses end early when the loop is woken. Other requests go on while closing: the
   * commits of a closing revoke must still land.
   */
  heartbeat: boolean
}

/** Why this member gave up its partitions, until the heartbeat loop has reported them lost. */
interface PendingLoss {
  reason: string
  /** UNKNOWN_MEMBER_ID: the coordinator forgot the member id too. */
  newMemberId: boolean
  since: number
}

export class PlatformaticGroupConsumer implements GroupConsumer {
  readonly #cluster: Cluster
  readonly #options: ResolvedOptions
  readonly #connectivity: ConnectivityTracker | undefined
  readonly #fetcher: PartitionFetcher
  #memberId = ''
  #memberEpoch = 0
  /**
   * Counts the times this member lost its partitions. Work that started under one value (a
   * reconciliation, a commit waiting for a heartbeat) stops applying its results under another.
   */
  #membership = 0
  #pendingLoss: PendingLoss | undefined
  /** When the last loss happened, for the "rejoined" log line. */
  #rejoiningSince: number | undefined
  /** The latest assignment the broker asked for, as topic name → partitions. */
  #target: Map<string, number[]> | undefined
  #reconciling: Promise<void> | undefined
  #heartbeatIntervalMs = 1000
  /** When the latest answered heartbeat was sent: the broker knew this member alive then. */
  #confirmedAt = 0
  #heartbeatWake: (() => void) | undefined
  #heartbeatLoop: Promise<void> | undefined
  /** Requests waiting for the next answered heartbeat (a stale-epoch retry). */
  readonly #heartbeatWaiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>()
  #joined: { resolve: () => void; reject: (error: Error) => void; deadline: number } | undefined
  #closing = false
  #failure: Error | undefined
  /** Since when no broker answered this consumer's group requests (logged once per outage). */
  #outageSince: number | undefined
  #prefetch: Promise<FetchedBatch[]> | undefined

  constructor(cluster: Cluster, options: PlatformaticGroupConsumerOptions) {
    this.#cluster = cluster
    const { connectivity, ...rest } = options
    this.#connectivity = connectivity ?? cluster.connectivity
    this.#options = {
      offsetReset: 'earliest',
      joinTimeoutMs: 45_000,
      rebalanceTimeoutMs: 60_000,
      fetchMinBytes: 1,
      fetchMaxBytes: 50 * 1024 * 1024,
      fetchMaxBytesPerPartition: 1024 * 1024,
      fetchMaxWaitMs: 100,
      brokerUnavailableTimeoutMs: 120_000,
      ...rest,
      logger: rest.logger ?? silentLogger,
    }
    this.#fetcher = new PartitionFetcher(cluster, {
      ...this.#options,
      tracker: cluster.connectivity,
      topics: () => this.#options.topics,
    })
  }

  async subscribe(): Promise<void> {
    if (this.#heartbeatLoop) return
    await this.#cluster.checkBrokerVersions()
    await this.#cluster.refresh(this.#options.topics)
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject, deadline: Date.now() + this.#options.joinTimeoutMs }
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
    const bound = { deadline: Date.now() + this.#options.brokerUnavailableTimeoutMs, heartbeat: false }
    // Reading offsets writes nothing, so unlike a commit the retry after a stale epoch does not
    // check ownership: the reconciliation that asked re-checks its target anyway.
    const response = await this.#asMember('fetch committed offsets', partitions, bound, false, (connection) =>
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
    const bound = { deadline: Date.now() + this.#options.brokerUnavailableTimeoutMs, heartbeat: false }
    await this.#asMember('commit offsets', offsets, bound, true, (connection) =>
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

  /**
   * Runs a request that carries this member's id and epoch. When the coordinator fences the member
   * it rejects with a FencedError, and the heartbeat loop reports the partitions lost and rejoins.
   * A stale epoch is retried once after the next heartbeat brought the new one (KIP-848), when
   * `checkOwnership` holds only if this member still owns `partitions` then.
   */
  async #asMember<T>(
    action: string,
    partitions: TopicPartition[],
    bound: RetryBound,
    checkOwnership: boolean,
    send: (connection: Awaited<ReturnType<Cluster['coordinatorFor']>>) => Promise<T>,
  ): Promise<T> {
    const membership = this.#membership
    const member = { memberId: this.#memberId, memberEpoch: this.#memberEpoch }
    if (this.#pendingLoss) throw this.#fencedError(action, partitions, this.#pendingLoss.reason, member)
    // Work done under one membership is never sent under the next: between retries the member may
    // have been lost and rejoined with partitions that a newer owner processes meanwhile.
    const request = () =>
      this.#withCoordinator(
        action,
        (connection) => {
          if (membership !== this.#membership)
            throw this.#fencedError(
              action,
              partitions,
              this.#pendingLoss?.reason ?? 'the member rejoined',
              member,
            )
          return send(connection)
        },
        bound,
      )
    let failure: GroupFailure
    try {
      return await request()
    } catch (error) {
      failure = classifyGroupFailure(error)
      if (!isFencing(failure)) throw error
      if (KStreamsError.isInstance(error) && error.code === ErrorCodes.FENCED) throw error
      if (failure !== 'stale-epoch' || membership !== this.#membership) {
        const reason = `${action}: ${describeError(error)}`
        this.#markLost(reason, failure === 'unknown-member')
        throw this.#fencedError(action, partitions, reason, member, error)
      }
    }
    await this.#nextHeartbeat(action, partitions, bound)
    if (membership !== this.#membership)
      throw this.#fencedError(action, partitions, 'the member rejoined', member)
    if (checkOwnership) {
      const moved = partitions.filter(
        ({ topic, partition }) => !this.#fetcher.partitions.has(topicPartitionKey(topic, partition)),
      )
      if (moved.length > 0) {
        // Moved to another member by a rebalance: only these partitions are gone, the member is fine.
        throw this.#fencedError(
          action,
          partitions,
          `${describe(moved)} no longer assigned to this member`,
          member,
        )
      }
    }
    try {
      return await request()
    } catch (error) {
      failure = classifyGroupFailure(error)
      if (!isFencing(failure)) throw error
      if (KStreamsError.isInstance(error) && error.code === ErrorCodes.FENCED) throw error
      const reason = `${action} (retried after a stale member epoch): ${describeError(error)}`
      this.#markLost(reason, failure === 'unknown-member')
      throw this.#fencedError(action, partitions, reason, member, error)
    }
  }

  /** `member`: the generation the request was made for, which the loss may have reset since. */
  #fencedError(
    action: string,
    partitions: TopicPartition[],
    reason: string,
    member = { memberId: this.#memberId, memberEpoch: this.#memberEpoch },
    cause?: unknown,
  ): FencedError {
    return new FencedError(
      `could not ${action} for group "${this.#options.groupId}": this member (${member.memberId || 'no id yet'}, epoch ${member.memberEpoch}) was fenced (${reason}); its partitions are lost and it rejoins`,
      {
        cause,
        retriable: false,
        context: { groupId: this.#options.groupId, ...member, partitions: describe(partitions) },
      },
    )
  }

  /** See `GroupConsumer.confirmMembership`. */
  async confirmMembership(maxWaitMs: number): Promise<boolean> {
    const action = 'confirm the membership before writing'
    const deadline = Date.now() + maxWaitMs
    const membership = this.#membership
    // A heartbeat answered after a long block may have been sent before it: only its send time counts.
    while (Date.now() - this.#confirmedAt > 2 * this.#heartbeatIntervalMs) {
      if (this.#pendingLoss) throw this.#fencedError(action, [], this.#pendingLoss.reason)
      if (Date.now() >= deadline) return false
      try {
        await this.#nextHeartbeat(action, [], { deadline, heartbeat: false })
      } catch (error) {
        if (isFencedError(error)) throw error
        return false
      }
    }
    if (this.#pendingLoss || membership !== this.#membership)
      throw this.#fencedError(action, [], this.#pendingLoss?.reason ?? 'the member rejoined')
    return true
  }

  /** Resolves after the next answered heartbeat, which the call asks for at once. */
  #nextHeartbeat(action: string, partitions: TopicPartition[], bound: RetryBound): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer)
          this.#heartbeatWaiters.delete(waiter)
          resolve()
        },
        reject: (error: Error) => {
          clearTimeout(timer)
          this.#heartbeatWaiters.delete(waiter)
          reject(error)
        },
      }
      const remaining = Math.max((bound.deadline ?? Number.POSITIVE_INFINITY) - Date.now(), 0)
      const timer = setTimeout(
        () =>
          waiter.reject(
            new KafkaError(
              `could not ${action} for group "${this.#options.groupId}": no heartbeat brought a new member epoch in time`,
              {
                retriable: true,
                context: { groupId: this.#options.groupId, partitions: describe(partitions) },
              },
            ),
          ),
        Math.min(remaining, 2 ** 31 - 1),
      )
      this.#heartbeatWaiters.add(waiter)
      this.#wakeHeartbeat()
    })
  }

  /**
   * Starts giving up this member's partitions: fetching them stops now, requests in flight as this
   * member fail with a FencedError, and the heartbeat loop reports them lost and rejoins.
   */
  #markLost(reason: string, newMemberId: boolean): void {
    if (this.#closing && this.#failure) return
    if (this.#pendingLoss) {
      this.#pendingLoss.newMemberId ||= newMemberId
      return
    }
    this.#membership += 1
    this.#pendingLoss = { reason, newMemberId, since: Date.now() }
    this.#target = undefined
    for (const state of this.#fetcher.partitions.values()) state.paused = true
    const error = this.#fencedError('wait for a heartbeat', [], reason)
    for (const waiter of [...this.#heartbeatWaiters]) waiter.reject(error)
    this.#wakeHeartbeat()
  }

  /** The second half of a loss, in the heartbeat loop: onLost (awaited), then a fresh join. */
  async #loseAndRejoin(loss: PendingLoss): Promise<void> {
    // A reconciliation in flight stops at its next step (the membership changed); what it
    // announced through onAssigned is reported lost with the rest.
    await this.#reconciling
    const lost = this.assignment()
    this.#fetcher.partitions.clear()
    this.#prefetch?.catch(() => {})
    this.#prefetch = undefined
    this.#memberEpoch = 0
    if (loss.newMemberId) this.#memberId = ''
    this.#options.logger.warn(
      `consumer group "${this.#options.groupId}": partitions lost, rejoining the group (${loss.reason})`,
      { groupId: this.#options.groupId, partitions: describe(lost) },
    )
    if (lost.length > 0) {
      await this.#options.listener.onLost(lost).catch((error: unknown) => {
        this.#options.logger.error(
          `consumer group "${this.#options.groupId}": the listener failed on lost partitions: ${describeError(error)}`,
          { groupId: this.#options.groupId },
        )
      })
    }
    this.#pendingLoss = undefined
    this.#rejoiningSince = loss.since
  }

  async #runHeartbeats(): Promise<void> {
    let delay = 0
    while (!this.#closing) {
      if (delay > 0) await this.#sleepUntilWoken(delay)
      if (this.#closing) break
      if (this.#pendingLoss) {
        await this.#loseAndRejoin(this.#pendingLoss)
        delay = 0
        continue
      }
      try {
        await this.#heartbeat()
        delay = this.#heartbeatIntervalMs
      } catch (error) {
        delay = this.#onHeartbeatError(error)
      }
    }
    await this.#leave()
  }

  async #heartbeat(): Promise<void> {
    const sentAt = Date.now()
    const response = await this.#withCoordinator(
      'heartbeat',
      (connection) =>
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
          this.#ownedByTopicId(),
        ),
      // Heartbeats wait out an outage however long it lasts, except while joining.
      { deadline: this.#joined?.deadline, heartbeat: true },
    )
    // Answered for an epoch this member is giving up: the rejoin asks again.
    if (this.#pendingLoss) return
    this.#confirmedAt = sentAt
    if (response.memberId) this.#memberId = response.memberId
    this.#memberEpoch = response.memberEpoch
    if (response.heartbeatIntervalMs > 0) this.#heartbeatIntervalMs = response.heartbeatIntervalMs
    if (this.#joined) {
      this.#joined.resolve()
      this.#joined = undefined
    }
    if (this.#rejoiningSince !== undefined) {
      this.#options.logger.info(
        `consumer group "${this.#options.groupId}": rejoined as member ${this.#memberId} (epoch ${this.#memberEpoch}) ${Date.now() - this.#rejoiningSince} ms after the loss`,
        { groupId: this.#options.groupId, memberId: this.#memberId, memberEpoch: this.#memberEpoch },
      )
      this.#rejoiningSince = undefined
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
    for (const waiter of [...this.#heartbeatWaiters]) waiter.resolve()
  }

  /** What the heartbeat loop does after a failed heartbeat; returns the pause before the next one. */
  #onHeartbeatError(error: unknown): number {
    if (this.#closing || this.#pendingLoss) return 0
    const failure = classifyGroupFailure(error)
    if (isFencing(failure)) {
      // Removed (e.g. its session expired) or outrun: the partitions may already be elsewhere.
      this.#markLost(`heartbeat: ${describeError(error)}`, failure === 'unknown-member')
      return 0
    }
    // Group requests retry retriable failures themselves; one that still comes here is a
    // metadata refresh after an answered heartbeat, or the end of the join deadline.
    const retriable = KStreamsError.isInstance(error) && error.retriable
    if (this.#joined && (!retriable || Date.now() >= this.#joined.deadline)) {
      this.#fail(
        new KafkaError(`cannot join consumer group "${this.#options.groupId}": ${describeError(error)}`, {
          cause: error,
          retriable,
          context: { groupId: this.#options.groupId },
        }),
      )
    } else if (!retriable) {
      this.#fail(error instanceof Error ? error : new Error(String(error)))
    }
    return Math.min(this.#heartbeatIntervalMs, 500)
  }

  #fail(error: Error): void {
    this.#failure ??= error
    if (this.#joined) {
      this.#joined.reject(error)
      this.#joined = undefined
    }
    for (const waiter of [...this.#heartbeatWaiters]) waiter.reject(error)
    this.#closing = true
  }

  /** Moves owned partitions towards the target: revoke first (awaited), then assign. */
  #reconcile(): void {
    if (this.#reconciling) return
    const run = async () => {
      const membership = this.#membership
      try {
        while (this.#target && !this.#closing && membership === this.#membership) {
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
          if (added.length > 0 && membership === this.#membership) {
            const committed = await this.committed(added)
            if (membership !== this.#membership) break
            await this.#options.listener.onAssigned(added, committed)
            // Added even when the member was lost meanwhile: the listener knows them now, so the
            // loss must report them too.
            for (const { topic, partition } of added) {
              const offset = committed.get(topicPartitionKey(topic, partition))?.offset
              this.#fetcher.add(topic, partition, offset)
              if (membership !== this.#membership)
                this.#fetcher.partitions.get(topicPartitionKey(topic, partition))!.paused = true
            }
            if (membership !== this.#membership) break
            await this.#fetcher.resetPositions()
          }
          if (this.#target === target) this.#target = undefined
          if (revoked.length > 0 || added.length > 0) this.#wakeHeartbeat()
        }
      } catch (error) {
        // Fenced in the middle (a commit in onRevoked, the offset fetch): lost and rejoin, not fatal.
        const fenced = KStreamsError.isInstance(error) && error.code === ErrorCodes.FENCED
        if (fenced || membership !== this.#membership) {
          this.#markLost(`reconciling the assignment: ${describeError(error)}`, false)
        } else {
          this.#fail(error instanceof Error ? error : new Error(String(error)))
        }
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
    if (owned.length > 0 && !this.#failure && !this.#pendingLoss) {
      await this.#options.listener.onRevoked(owned).catch(() => {})
    } else if (owned.length > 0) {
      await this.#options.listener.onLost(owned).catch(() => {})
    }
    this.#fetcher.partitions.clear()
    if (!this.#memberId) return
    await this.#withCoordinator(
      'leave the group',
      (connection) =>
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
      // One attempt: a member that cannot say goodbye is removed when its session expires.
      { deadline: Date.now(), heartbeat: false },
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

  /**
   * Sends a request to the group coordinator, retrying with backoff while the coordinator moves or
   * no broker answers, until `bound` says stop. Fencing failures come back as the client's error
   * (the caller decides); other failures as a KafkaError naming the group.
   */
  async #withCoordinator<T>(
    action: string,
    request: (connection: Awaited<ReturnType<Cluster['coordinatorFor']>>) => Promise<T>,
    bound: RetryBound,
  ): Promise<T> {
    const started = Date.now()
    for (let attempt = 0; ; attempt += 1) {
      let error: unknown
      try {
        const connection = await this.#cluster.coordinatorFor(this.#options.groupId)
        const result = await request(connection)
        this.#answered()
        return result
      } catch (caught) {
        error = caught
      }
      const failure = classifyGroupFailure(error)
      if (failure === 'unreachable') this.#unreachable(error)
      else this.#answered()
      if (isFencing(failure)) throw error
      if (failure === 'fatal') {
        throw new KafkaError(
          `could not ${action} for group "${this.#options.groupId}": ${describeError(error)}`,
          { cause: error, retriable: false, context: { groupId: this.#options.groupId } },
        )
      }
      const stopped = bound.heartbeat && (this.#closing || this.#pendingLoss !== undefined)
      if (stopped || (bound.deadline !== undefined && Date.now() >= bound.deadline)) {
        throw this.#unavailableError(action, error, failure, started)
      }
      // The last attempt comes at the deadline, not one backoff step before it.
      const pause = Math.min(retryDelayMs(attempt), (bound.deadline ?? Number.POSITIVE_INFINITY) - Date.now())
      await (bound.heartbeat ? this.#sleepUntilWoken(pause) : sleep(pause))
      if (bound.heartbeat && (this.#closing || this.#pendingLoss)) {
        throw this.#unavailableError(action, error, failure, started)
      }
    }
  }

  #unavailableError(action: string, error: unknown, failure: GroupFailure, started: number): KafkaError {
    const groupId = this.#options.groupId
    const servers = this.#cluster.servers
    const since = this.#connectivity?.outage()?.sinceMs ?? this.#outageSince ?? started
    const seconds = ((Date.now() - Math.min(since, started)) / 1000).toFixed(1)
    const message =
      failure === 'unreachable'
        ? `could not ${action} for group "${groupId}": Kafka at ${servers} has been unreachable for ${seconds} s (${describeError(error)})`
        : `could not ${action} for group "${groupId}": its coordinator has been unavailable for ${seconds} s (${describeError(error)})`
    return new KafkaError(message, { cause: error, retriable: true, context: { groupId, brokers: servers } })
  }

  #unreachable(error: unknown): void {
    this.#connectivity?.unreachable(error)
    if (this.#outageSince !== undefined) return
    this.#outageSince = Date.now()
    // With a tracker, the app logs the one warning of an outage; this line is the group's detail.
    const log = this.#connectivity ? this.#options.logger.info : this.#options.logger.warn
    log.call(
      this.#options.logger,
      `consumer group "${this.#options.groupId}": Kafka at ${this.#cluster.servers} is unreachable (${describeError(error)}); retrying until it answers`,
      { groupId: this.#options.groupId },
    )
  }

  #answered(): void {
    this.#connectivity?.reachable()
    if (this.#outageSince === undefined) return
    this.#options.logger.info(
      `consumer group "${this.#options.groupId}": Kafka at ${this.#cluster.servers} answers again after ${Date.now() - this.#outageSince} ms`,
      { groupId: this.#options.groupId },
    )
    this.#outageSince = undefined
  }
}

function describe(partitions: TopicPartition[]): string {
  return partitions.map(({ topic, partition }) => `${topic}[${partition}]`).join(', ')
}
