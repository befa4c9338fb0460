// Fetching for a set of partitions with a position each, so pause, resume and seek are exact:
// one Fetch request per leader, answers checked against the positions they were sent for, and
// offset resets through ListOffsets. The group consumer and the changelog reader share it.
// A broker that cannot be reached, or answers with partition errors, is retried with exponential
// backoff; positions stay where they were, so fetching resumes exactly there when it is back.
import { type Connection, listOffsetsV9, protocolErrorsCodesById } from '@platformatic/kafka'
import { channels } from '../diagnostics.js'
import { KafkaError } from '../errors.js'
import type { Logger } from '../logger.js'
import {
  type FetchedBatch,
  type FetchedRecord,
  type TopicPartition,
  topicPartitionKey,
} from './kafka-port.js'
import type { Cluster } from './platformatic-cluster.js'
import type { ConnectivityTracker } from './platformatic-connectivity.js'
import { describeError, partialResponse } from './platformatic-errors.js'
import { type FetchPartitionResponse, type FetchResponse, fetchApi } from './platformatic-fetch-response.js'
import { RecordBatchReader } from './record-batch-decoder.js'

const IS_CONTROL_BATCH = 0x20
/** Control record type in a control batch's key: 0 = ABORT, 1 = COMMIT. */
const ABORT_MARKER = 0
const IS_TRANSACTIONAL_BATCH = 0x10
const READ_COMMITTED = 1
/** ListOffsets timestamps. */
export const EARLIEST = -2n
export const LATEST = -1n
const LIST_OFFSETS_ATTEMPTS = 12
const BACKOFF_INITIAL_MS = 100
const BACKOFF_MAX_MS = 5000
/** ±20%, so that many clients retrying after one broker restart do not retry in step. */
const BACKOFF_JITTER = 0.2
const METADATA_TARGET = 'metadata'

export interface PartitionState extends TopicPartition {
  key: string
  /** Next offset to fetch; undefined until the committed offset (or reset) is known. */
  position: bigint | undefined
  paused: boolean
}

export interface PartitionFetcherOptions {
  /** Topics whose metadata is refreshed when a leader is unknown or moved. */
  topics: () => string[]
  offsetReset: 'earliest' | 'latest'
  fetchMinBytes: number
  fetchMaxBytes: number
  fetchMaxBytesPerPartition: number
  /** The port's outage tracker: told about every fetch and ListOffsets request that reached a broker or did not. */
  tracker?: ConnectivityTracker
  /** Where failure streaks are logged (a warning when one starts, an info line when it ends). */
  logger?: Logger
  /**
   * How long the leader (or, to find leaders, every bootstrap broker) may stay unreachable before
   * `fetch()` rejects with a KafkaError naming it.
   * @default 120000
   */
  brokerUnavailableTimeoutMs?: number
}

/** Consecutive failures of one target: a leader, a partition, or the metadata lookup. */
interface FailureStreak {
  /** Where it failed, for messages: "host:port", or a node id when no address is known yet. */
  brokers: string
  leader: number | undefined
  topic?: string
  partition?: number
  sinceMs: number
  /** Since when no request to the target got an answer; undefined once one did. */
  unreachableSinceMs: number | undefined
  attempts: number
  retryAtMs: number
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}

export class PartitionFetcher {
  readonly partitions = new Map<string, PartitionState>()
  readonly #cluster: Cluster
  readonly #options: PartitionFetcherOptions
  readonly #unavailableTimeoutMs: number
  /** By target: `leader:<node id>`, `partition:<partition key>` or METADATA_TARGET. */
  readonly #streaks = new Map<string, FailureStreak>()
  /** Leader addresses seen on connections, so that an outage names host:port, not a node id. */
  readonly #addresses = new Map<number, string>()
  /**
   * Set when a target has been unreachable too long. Thrown by `fetch()` once no batch of the
   * round is pending, because batches fetched from other leaders already advanced their positions.
   */
  #gaveUp: KafkaError | undefined

  constructor(cluster: Cluster, options: PartitionFetcherOptions) {
    this.#cluster = cluster
    this.#options = options
    this.#unavailableTimeoutMs = options.brokerUnavailableTimeoutMs ?? 120_000
  }

  add(topic: string, partition: number, position: bigint | undefined): void {
    const key = topicPartitionKey(topic, partition)
    this.partitions.set(key, { topic, partition, key, position, paused: false })
  }

  /** Positions partitions that have none at the reset point (earliest or latest). */
  async resetPositions(): Promise<void> {
    const missing = [...this.partitions.values()].filter((state) => state.position === undefined)
    if (missing.length === 0) return
    const offsets = await this.listOffsets(missing, this.#resetTimestamp())
    for (const state of missing) {
      const offset = offsets.get(state.key)
      if (offset !== undefined && this.partitions.get(state.key) === state) state.position = offset
    }
  }

  /** Earliest (-2n) or latest (-1n) offsets, asked of each partition's leader. */
  async listOffsets(partitions: TopicPartition[], timestamp: bigint): Promise<Map<string, bigint>> {
    const result = new Map<string, bigint>()
    const topics = [...new Set(partitions.map((partition) => partition.topic))]
    // A topic created moments ago may have no leader yet, or answer LEADER_NOT_AVAILABLE: retry
    // for a few seconds before giving up on the partitions still missing.
    for (let attempt = 0; attempt < LIST_OFFSETS_ATTEMPTS; attempt += 1) {
      const missing = partitions.filter(
        (partition) => !result.has(topicPartitionKey(partition.topic, partition.partition)),
      )
      if (missing.length === 0) break
      if (attempt > 0) {
        await sleep(Math.min(50 * 2 ** attempt, 500))
        await this.#cluster
          .refresh(topics)
          .catch((error: unknown) => this.#options.tracker?.unreachable(error))
      }
      const byLeader = new Map<number, Map<string, TopicPartition[]>>()
      for (const partition of missing) {
        const leader = this.#cluster.topic(partition.topic)?.partitions[partition.partition]?.leader
        if (leader === undefined || leader < 0) continue
        const byTopic = byLeader.get(leader) ?? new Map<string, TopicPartition[]>()
        byTopic.set(partition.topic, [...(byTopic.get(partition.topic) ?? []), partition])
        byLeader.set(leader, byTopic)
      }
      await Promise.all(
        [...byLeader].map(([leader, byTopic]) => this.#listFrom(leader, byTopic, timestamp, result)),
      )
    }
    return result
  }

  async #listFrom(
    leader: number,
    byTopic: Map<string, TopicPartition[]>,
    timestamp: bigint,
    result: Map<string, bigint>,
  ): Promise<void> {
    const connection = await this.#connectTo(leader).catch((error: unknown) => {
      this.#options.tracker?.unreachable(error)
      throw error
    })
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
        this.#options.tracker?.unreachable(error)
        throw new KafkaError(`could not list offsets: ${describeError(error)}`, {
          cause: error,
          retriable: true,
        })
      })
    this.#options.tracker?.reachable()
    for (const topic of response.topics) {
      for (const partition of topic.partitions) {
        if (partition.errorCode === 0)
          result.set(topicPartitionKey(topic.name, partition.partitionIndex), partition.offset)
      }
    }
  }

  /** One round of fetches from every leader of the positioned, not paused partitions. */
  async fetch(maxWaitMs: number): Promise<FetchedBatch[]> {
    this.#throwIfGaveUp()
    const now = Date.now()
    if (this.#streaks.size > 0) this.#forgetRemovedPartitions()
    const byLeader = new Map<number, PartitionState[]>()
    let needsMetadata = false
    for (const state of this.partitions.values()) {
      if (state.paused || state.position === undefined) continue
      const leader = this.#cluster.topic(state.topic)?.partitions[state.partition]?.leader
      if (leader === undefined || leader < 0) {
        needsMetadata = true
        continue
      }
      if (this.#backingOff(`leader:${leader}`, now) || this.#backingOff(`partition:${state.key}`, now))
        continue
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), state])
    }
    if (needsMetadata && !this.#backingOff(METADATA_TARGET, now)) await this.#findLeaders()
    // Leaders found by another refresh (after a failed fetch), or the leaderless partition is gone.
    else if (!needsMetadata && this.#streaks.has(METADATA_TARGET)) this.#endStreak(METADATA_TARGET)
    this.#throwIfGaveUp()
    if (byLeader.size === 0) {
      // Nothing to fetch now: wait for the earliest retry, but never longer than a poll may take.
      await sleep(Math.max(1, Math.min(maxWaitMs, this.#nextRetryMs(Date.now()) - Date.now())))
      return []
    }
    const results = (
      await Promise.all([...byLeader].map(([leader, states]) => this.#fetchFrom(leader, states, maxWaitMs)))
    ).flat()
    if (results.length === 0) this.#throwIfGaveUp()
    return results
  }

  #throwIfGaveUp(): void {
    const error = this.#gaveUp
    this.#gaveUp = undefined
    if (error) throw error
  }

  /** Partition streaks outlive nothing: a partition unassigned while backing off is forgotten. */
  #forgetRemovedPartitions(): void {
    for (const [target, streak] of this.#streaks) {
      if (
        streak.topic !== undefined &&
        target !== METADATA_TARGET &&
        !this.partitions.has(topicPartitionKey(streak.topic, streak.partition!))
      )
        this.#streaks.delete(target)
    }
  }

  #resetTimestamp(): bigint {
    return this.#options.offsetReset === 'earliest' ? EARLIEST : LATEST
  }

  async #connectTo(leader: number): Promise<Connection> {
    const connection = await this.#cluster.connectionTo(leader, this.#cluster.fetchPool)
    if (connection.host !== undefined) this.#addresses.set(leader, `${connection.host}:${connection.port}`)
    return connection
  }

  /** Refreshes metadata for partitions without a known leader; a failure backs off like a fetch. */
  async #findLeaders(): Promise<void> {
    try {
      await this.#cluster.refresh(this.#options.topics())
    } catch (error) {
      this.#failed(METADATA_TARGET, { leader: undefined }, error, true)
      return
    }
    const leaderless = [...this.partitions.values()].find((state) => {
      const leader = this.#cluster.topic(state.topic)?.partitions[state.partition]?.leader
      return state.position !== undefined && (leader === undefined || leader < 0)
    })
    if (!leaderless) this.#succeeded(METADATA_TARGET)
    else {
      // Answered, but a topic created moments ago (or a broker just restarted) has no leader yet.
      this.#failed(
        METADATA_TARGET,
        { leader: undefined, topic: leaderless.topic, partition: leaderless.partition },
        new KafkaError(`no leader known for ${leaderless.topic}[${leaderless.partition}]`, {
          retriable: true,
        }),
        false,
      )
    }
  }

  #backingOff(target: string, now: number): boolean {
    const streak = this.#streaks.get(target)
    return streak !== undefined && streak.retryAtMs > now
  }

  /** The earliest retry still ahead (retries already due wait for their paused partitions). */
  #nextRetryMs(now: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const streak of this.#streaks.values())
      if (streak.retryAtMs > now) next = Math.min(next, streak.retryAtMs)
    return next
  }

  /**
   * Counts a failed attempt of `target` and schedules its retry. Gives up (see #gaveUp) once the
   * target has been unreachable (no answer at all) for `brokerUnavailableTimeoutMs`; an answer
   * with errors resets that clock, since the broker is there.
   */
  #failed(
    target: string,
    where: { leader: number | undefined; topic?: string; partition?: number },
    error: unknown,
    unreachable: boolean,
  ): void {
    const now = Date.now()
    const { tracker, logger } = this.#options
    if (unreachable) tracker?.unreachable(error, now)
    else tracker?.reachable()
    let streak = this.#streaks.get(target)
    if (!streak) {
      streak = {
        brokers: this.#brokersOf(where.leader),
        ...where,
        sinceMs: now,
        unreachableSinceMs: undefined,
        attempts: 0,
        retryAtMs: now,
      }
      this.#streaks.set(target, streak)
      // An unreachable broker is the app's one outage warning (the tracker tells it); errors that
      // came in an answer are this fetcher's own.
      const log = unreachable && tracker ? logger?.info : logger?.warn
      log?.call(
        logger,
        `cannot fetch from Kafka at ${streak.brokers}: ${describeError(error)}; retrying with backoff`,
        {
          ...where,
        },
      )
    }
    streak.attempts += 1
    if (!unreachable) streak.unreachableSinceMs = undefined
    else streak.unreachableSinceMs ??= now
    const backoff = Math.min(BACKOFF_INITIAL_MS * 2 ** (streak.attempts - 1), BACKOFF_MAX_MS)
    streak.retryAtMs = now + backoff * (1 - BACKOFF_JITTER + Math.random() * 2 * BACKOFF_JITTER)
    // The last attempt falls on the deadline, so giving up is not late by up to a whole backoff.
    if (streak.unreachableSinceMs !== undefined)
      streak.retryAtMs = Math.min(streak.retryAtMs, streak.unreachableSinceMs + this.#unavailableTimeoutMs)
    if (channels.fetchError.hasSubscribers) {
      channels.fetchError.publish({
        brokers: streak.brokers,
        ...where,
        error,
        attempts: streak.attempts,
        streakMs: now - streak.sinceMs,
      })
    }
    if (
      streak.unreachableSinceMs !== undefined &&
      now - streak.unreachableSinceMs >= this.#unavailableTimeoutMs
    ) {
      const seconds = ((now - streak.unreachableSinceMs) / 1000).toFixed(1)
      this.#gaveUp = new KafkaError(
        `cannot fetch: Kafka at ${streak.brokers} has been unreachable for ${seconds} s (${streak.attempts} attempts, more than brokerUnavailableTimeoutMs ${this.#unavailableTimeoutMs} ms); last error: ${describeError(error)}`,
        {
          cause: error,
          context: {
            brokers: streak.brokers,
            leader: where.leader,
            unreachableMs: now - streak.unreachableSinceMs,
            option: 'brokerUnavailableTimeoutMs',
          },
        },
      )
    }
  }

  #succeeded(target: string): void {
    this.#options.tracker?.reachable()
    this.#endStreak(target)
  }

  #endStreak(target: string): void {
    const streak = this.#streaks.get(target)
    if (!streak) return
    this.#streaks.delete(target)
    this.#options.logger?.info(
      `fetching from Kafka at ${streak.brokers} works again, after ${streak.attempts} failed attempt(s) in ${Date.now() - streak.sinceMs} ms`,
      { leader: streak.leader, topic: streak.topic, partition: streak.partition },
    )
  }

  /** "host:port" of a leader once connected to; before that (or for metadata) the bootstrap list. */
  #brokersOf(leader: number | undefined): string {
    const known = leader === undefined ? undefined : this.#addresses.get(leader)
    if (known) return known
    const bootstrap = this.#options.tracker?.outage()?.brokers
    if (leader === undefined) return bootstrap ?? 'the bootstrap brokers'
    return `broker ${leader}${bootstrap ? ` (bootstrap ${bootstrap})` : ''}`
  }

  async #fetchFrom(leader: number, states: PartitionState[], maxWaitMs: number): Promise<FetchedBatch[]> {
    const requested = new Map(states.map((state) => [state.key, state.position!]))
    const byTopic = new Map<string, PartitionState[]>()
    for (const state of states) byTopic.set(state.topic, [...(byTopic.get(state.topic) ?? []), state])
    let response: FetchResponse
    try {
      const connection = await this.#connectTo(leader)
      response = await fetchApi.async(
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
        // The leader may have moved: the next round asks the new one, if metadata can be had.
        await this.#cluster.refresh(this.#options.topics()).catch(() => {})
        this.#failed(`leader:${leader}`, { leader }, error, true)
        return []
      }
      response = partial
    }
    this.#succeeded(`leader:${leader}`)
    const batches: FetchedBatch[] = []
    const resets: PartitionState[] = []
    let staleMetadata = false
    for (const topicResponse of response.responses) {
      const topic = this.#cluster.topicNameById(topicResponse.topicId)
      if (!topic) continue
      for (const partitionResponse of topicResponse.partitions) {
        const key = topicPartitionKey(topic, partitionResponse.partitionIndex)
        const state = this.partitions.get(key)
        // Revoked, paused or moved by seek while the request was in flight: drop the answer.
        if (!state || state.paused || state.position !== requested.get(key)) continue
        if (partitionResponse.errorCode !== 0) {
          if (partitionResponse.errorCode === 1) resets.push(state)
          else {
            // Only this partition backs off (a moved leader, a topic being deleted): the others
            // of the same leader keep fetching.
            staleMetadata = true
            this.#failed(
              `partition:${key}`,
              { leader, topic, partition: state.partition },
              new KafkaError(
                `fetching ${topic}[${state.partition}] failed: ${protocolErrorsCodesById[partitionResponse.errorCode] ?? `error code ${partitionResponse.errorCode}`}`,
                {
                  retriable: true,
                  context: { topic, partition: state.partition },
                },
              ),
              false,
            )
          }
          continue
        }
        if (this.#streaks.size > 0) this.#succeeded(`partition:${key}`)
        const batch = this.#toBatch(state, partitionResponse)
        if (batch) batches.push(batch)
      }
    }
    if (resets.length > 0) {
      // OFFSET_OUT_OF_RANGE: the position fell off the log (retention, compaction) or is past its end.
      const offsets = await this.listOffsets(resets, this.#resetTimestamp())
      for (const state of resets) {
        const offset = offsets.get(state.key)
        if (offset !== undefined && this.partitions.get(state.key) === state) state.position = offset
      }
    }
    if (staleMetadata) await this.#cluster.refresh(this.#options.topics()).catch(() => {})
    return batches
  }

  #toBatch(state: PartitionState, partitionResponse: FetchPartitionResponse): FetchedBatch | undefined {
    if (partitionResponse.records === null) return undefined
    const batches = new RecordBatchReader(partitionResponse.records)
    const start = state.position!
    const records: FetchedRecord[] = []
    const aborted = new AbortedTransactions(partitionResponse.abortedTransactions)
    let next = start
    let any = false
    while (batches.next()) {
      any = true
      const lastOffset = batches.lastOffset
      if (lastOffset + 1n > next) next = lastOffset + 1n
      if (aborted.deliver(batches, lastOffset)) batches.records(state.topic, state.partition, start, records)
    }
    if (!any) return undefined
    state.position = next
    return {
      topic: state.topic,
      partition: state.partition,
      records,
      highWatermark: partitionResponse.highWatermark,
    }
  }
}

/**
 * read_committed filtering, as the Java consumer does it. The broker lists, per aborted
 * transaction, its producer id and first offset; each ends at that producer's next ABORT marker.
 * One answer can hold a committed and an aborted transaction of the same producer, so a batch is
 * dropped only while an aborted range of its producer is open at the batch's position.
 */
class AbortedTransactions {
  /** Aborted transactions not reached yet, by first offset. */
  readonly #pending: Array<{ producerId: bigint; firstOffset: bigint }>
  /** Producers whose aborted transaction started and whose ABORT marker has not come yet. */
  readonly #open = new Set<bigint>()

  constructor(list: ReadonlyArray<{ producerId: bigint; firstOffset: bigint }> | null | undefined) {
    this.#pending = [...(list ?? [])].sort((left, right) =>
      left.firstOffset < right.firstOffset ? -1 : left.firstOffset > right.firstOffset ? 1 : 0,
    )
  }

  /** Whether the records of `batch` are delivered; control batches never are. */
  deliver(batch: RecordBatchReader, lastOffset: bigint): boolean {
    // Ranges open when the log reaches their first offset, which may lie inside this batch.
    while (this.#pending.length > 0 && this.#pending[0]!.firstOffset <= lastOffset)
      this.#open.add(this.#pending.shift()!.producerId)
    if (batch.attributes & IS_CONTROL_BATCH) {
      if (isAbortMarker(batch)) this.#open.delete(batch.producerId)
      return false
    }
    return !(batch.attributes & IS_TRANSACTIONAL_BATCH && this.#open.has(batch.producerId))
  }
}

/** The key of a control record is a version (int16) and a type (int16). */
function isAbortMarker(batch: RecordBatchReader): boolean {
  const key = batch.firstKey()
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === ABORT_MARKER
}
