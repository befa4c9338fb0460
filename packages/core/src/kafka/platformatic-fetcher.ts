// Fetching for a set of partitions with a position each, so pause, resume and seek are exact:
// one Fetch request per leader, answers checked against the positions they were sent for, and
// offset resets through ListOffsets. The group consumer and the changelog reader share it.
import { fetchV17, listOffsetsV9, type RecordsBatch } from '@platformatic/kafka'
import { KafkaError } from '../errors.js'
import {
  type FetchedBatch,
  type FetchedRecord,
  type TopicPartition,
  topicPartitionKey,
} from './kafka-port.js'
import type { Cluster } from './platformatic-cluster.js'
import { describeError, partialResponse } from './platformatic-errors.js'

const IS_CONTROL_BATCH = 0x20
/** Control record type in a control batch's key: 0 = ABORT, 1 = COMMIT. */
const ABORT_MARKER = 0
const IS_TRANSACTIONAL_BATCH = 0x10
const LOG_APPEND_TIME = 0x08
const READ_COMMITTED = 1
/** ListOffsets timestamps. */
export const EARLIEST = -2n
export const LATEST = -1n
const LIST_OFFSETS_ATTEMPTS = 12

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
}

type FetchResponse = Awaited<ReturnType<typeof fetchV17.api.async>>

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}

export class PartitionFetcher {
  readonly partitions = new Map<string, PartitionState>()
  readonly #cluster: Cluster
  readonly #options: PartitionFetcherOptions

  constructor(cluster: Cluster, options: PartitionFetcherOptions) {
    this.#cluster = cluster
    this.#options = options
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
        await this.#cluster.refresh(topics).catch(() => {})
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
    const connection = await this.#cluster.connectionTo(leader, this.#cluster.fetchPool)
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
        if (partition.errorCode === 0)
          result.set(topicPartitionKey(topic.name, partition.partitionIndex), partition.offset)
      }
    }
  }

  /** One round of fetches from every leader of the positioned, not paused partitions. */
  async fetch(maxWaitMs: number): Promise<FetchedBatch[]> {
    const byLeader = new Map<number, PartitionState[]>()
    let needsMetadata = false
    for (const state of this.partitions.values()) {
      if (state.paused || state.position === undefined) continue
      const leader = this.#cluster.topic(state.topic)?.partitions[state.partition]?.leader
      if (leader === undefined || leader < 0) {
        needsMetadata = true
        continue
      }
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), state])
    }
    if (needsMetadata) await this.#cluster.refresh(this.#options.topics()).catch(() => {})
    if (byLeader.size === 0) {
      await sleep(Math.max(maxWaitMs, 1))
      return []
    }
    const results = await Promise.all(
      [...byLeader].map(([leader, states]) => this.#fetchFrom(leader, states, maxWaitMs)),
    )
    return results.flat()
  }

  #resetTimestamp(): bigint {
    return this.#options.offsetReset === 'earliest' ? EARLIEST : LATEST
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
        await this.#cluster.refresh(this.#options.topics()).catch(() => {})
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
        const state = this.partitions.get(key)
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

  #toBatch(
    state: PartitionState,
    partitionResponse: FetchResponse['responses'][number]['partitions'][number],
  ): FetchedBatch | undefined {
    const recordBatches: RecordsBatch[] = partitionResponse.records ?? []
    if (recordBatches.length === 0) return undefined
    const start = state.position!
    const records: FetchedRecord[] = []
    const aborted = new AbortedTransactions(partitionResponse.abortedTransactions)
    let next = start
    for (const recordBatch of recordBatches) {
      const batchEnd = recordBatch.firstOffset + BigInt(recordBatch.lastOffsetDelta) + 1n
      if (batchEnd > next) next = batchEnd
      if (!aborted.deliver(recordBatch, batchEnd - 1n)) continue
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
  deliver(batch: RecordsBatch, lastOffset: bigint): boolean {
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
function isAbortMarker(batch: RecordsBatch): boolean {
  const key = batch.records[0]?.key
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === ABORT_MARKER
}
