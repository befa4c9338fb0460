// The Kafka port: the only way the runtime reaches Kafka. A small, internal interface so that the
// runtime can be tested against any client, and other clients can be adapted behind it later.
// The default adapter is `platformatic-kafka-port.ts` (@platformatic/kafka).
import type { Logger } from '../logger.js'

export interface TopicPartition {
  topic: string
  partition: number
}

/** A record as fetched: raw bytes, not yet deserialized. */
export interface FetchedRecord {
  topic: string
  partition: number
  offset: bigint
  /** Milliseconds since the epoch (CreateTime or LogAppendTime, as the broker reports it). */
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  /** Header names and values in wire order; names are UTF-8 text. */
  headers: ReadonlyArray<readonly [string, Uint8Array | null]>
  /**
   * Bytes of the key and the value together (null counts 0), for a port that can tell without
   * making their views (the runtime sizes its input buffers with it); absent: read from both.
   */
  readonly payloadBytes?: number
}

/** A batch of fetched records of ONE partition, in offset order. */
export interface FetchedBatch {
  topic: string
  partition: number
  /** Handed over to the runtime: it clears each record from the array once it has taken it. */
  records: FetchedRecord[]
  /** The partition's high watermark at fetch time, for lag. */
  highWatermark: bigint
}

export interface OffsetAndMetadata {
  /** The next offset to read (last processed + 1), as Kafka defines a committed offset. */
  offset: bigint
  /** Free-form text stored with the commit. kstreams stores the task's stream time here (JSON). */
  metadata: string | null
}

export interface CommitRequest extends TopicPartition, OffsetAndMetadata {}

/**
 * Called by the group consumer on membership changes. Every call is awaited: partitions are
 * given up only after `onRevoked` resolves, so the runtime can drain, flush and commit first.
 */
export interface GroupListener {
  /**
   * New partitions for this member. Fetching them starts after this resolves, at the committed
   * offsets, which the consumer passes along (keyed by `topicPartitionKey`; null: none committed)
   * when it read them first, so the runtime reads their commit metadata without another request.
   */
  onAssigned(
    partitions: TopicPartition[],
    committed?: ReadonlyMap<string, OffsetAndMetadata | null>,
  ): Promise<void>
  /** Partitions this member must give up. Commits are still allowed until this resolves. */
  onRevoked(partitions: TopicPartition[]): Promise<void>
  /** Partitions lost without a chance to commit (fenced, session expired). Do not commit them. */
  onLost(partitions: TopicPartition[]): Promise<void>
}

export interface GroupConsumerOptions {
  groupId: string
  clientId: string
  topics: string[]
  listener: GroupListener
  /** Where to start a partition that has no committed offset. @default 'earliest' */
  offsetReset?: 'earliest' | 'latest'
  /**
   * How long `subscribe()` waits to join the group before it fails. (The session timeout itself
   * is the broker's `group.consumer.session.timeout.ms` under KIP-848; a client cannot set it.)
   * @default 45000
   */
  joinTimeoutMs?: number
  /** @default 60000 */
  rebalanceTimeoutMs?: number
  /** Fetch tuning. */
  fetchMinBytes?: number
  fetchMaxBytes?: number
  fetchMaxBytesPerPartition?: number
  fetchMaxWaitMs?: number
  /**
   * How long a commit or a committed-offset fetch keeps retrying while no broker answers (or the
   * coordinator is unavailable) before it fails with a retriable KafkaError. Heartbeats retry for
   * as long as the outage lasts: the runtime decides when it has lasted too long.
   * @default 120000
   * @example brokerUnavailableTimeoutMs: 30_000
   */
  brokerUnavailableTimeoutMs?: number
  /**
   * Where membership events go: lost partitions, rejoins, the start and end of an outage (once
   * per outage, not once per attempt).
   * @default silentLogger
   */
  logger?: Logger
}

export interface GroupConsumer {
  /** Joins the group and starts membership in the background. Resolves once joined. */
  subscribe(): Promise<void>
  /**
   * Returns fetched batches from assigned, not paused partitions. Waits at most `maxWaitMs` when
   * nothing is available and returns an empty array then. Never returns records of a partition
   * that was revoked or paused after the fetch was sent.
   */
  poll(maxWaitMs: number): Promise<FetchedBatch[]>
  /** Stops fetching these partitions until `resume`. Records already returned stay valid. */
  pause(partitions: TopicPartition[]): void
  resume(partitions: TopicPartition[]): void
  /** The next fetch of this partition starts at `offset`; anything prefetched beyond is dropped. */
  seek(partition: TopicPartition, offset: bigint): void
  /** Committed offsets and metadata of the group for these partitions (null when none). */
  committed(partitions: TopicPartition[]): Promise<Map<string, OffsetAndMetadata | null>>
  /**
   * Commits as the current group member. Fails with a `FencedError` (KSTREAMS_FENCED) when the
   * broker no longer accepts this member's epoch (the partitions are lost; the consumer rejoins),
   * and with a retriable KafkaError when the coordinator could not be reached in time.
   */
  commit(offsets: CommitRequest[]): Promise<void>
  /**
   * Who this member is in the group now: its member id and epoch. Stores receive it in their
   * ownership token so that a newer owner can fence this one.
   */
  generation(): { memberId: string; memberEpoch: number }
  /**
   * Confirms, before a write that a newer owner's work could make stale (a commit's flush of the
   * stores, an idle write-down), that this member still belongs to the group: at once when a
   * heartbeat sent within the last two heartbeat intervals was answered; otherwise (the event loop
   * was blocked, say, past the session timeout) after one more heartbeat, asked for at once and
   * awaited up to `maxWaitMs`. Resolves true when confirmed and false when no answer came in time
   * (an outage: the caller decides); rejects with a `FencedError` when the member was fenced (its
   * partitions are lost and it rejoins). Optional: a port without it confirms nothing.
   */
  confirmMembership?(maxWaitMs: number): Promise<boolean>
  /** The partitions currently assigned to this member. */
  assignment(): TopicPartition[]
  /** Leaves the group (revoking through the listener first) and closes the connections. */
  close(): Promise<void>
}

export interface ProduceRecord {
  topic: string
  /**
   * When absent, the producer picks one. The runtime always sets it for records with a key (Kafka's
   * Java default partitioner, `defaultPartition`); records with a null key are spread by the producer.
   */
  partition?: number
  key: Uint8Array | null
  value: Uint8Array | null
  timestamp?: number
  headers?: ReadonlyArray<readonly [string, Uint8Array | null]>
}

/**
 * A produce record's size as batches are measured (the record collector and the producer's chunks
 * agree on it, so that a collector's batch is never split): its key, value and headers plus a fixed
 * allowance for the record's framing.
 */
export function produceRecordBytes(record: ProduceRecord): number {
  let bytes = 70 + (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0)
  const headers = record.headers
  if (headers)
    for (let index = 0; index < headers.length; index++) {
      const [name, value] = headers[index]!
      bytes += name.length + (value?.byteLength ?? 0) + 4
    }
  return bytes
}

/** Where a send put the records of one partition: the offset of the first of them. */
export interface ProducedOffset extends TopicPartition {
  baseOffset: bigint
}

export interface ProducerPort {
  /**
   * Sends a batch; resolves when every record is acknowledged (acks=all), with the base offset
   * written in each partition; rejects otherwise.
   */
  send(records: ProduceRecord[]): Promise<ProducedOffset[]>
  close(): Promise<void>
}

export interface TopicDescription {
  name: string
  partitions: number
  /** Topic configs; `describeTopics` fills the ones set on the topic (e.g. `cleanup.policy`). */
  configs?: Record<string, string>
}

export interface AdminPort {
  /**
   * Partition counts of existing topics (and the values of `configKeys` set on them, in `configs`);
   * topics that do not exist are absent from the map.
   */
  describeTopics(topics: string[], configKeys?: string[]): Promise<Map<string, TopicDescription>>
  /** Creates topics; topics that already exist are left as they are. */
  createTopics(topics: Array<TopicDescription & { replicationFactor?: number }>): Promise<void>
  /**
   * Values of broker configs (`configKeys`, e.g. `offset.metadata.max.bytes`) as one broker of the
   * cluster reports them; keys it does not report are absent. Optional: without it the runtime
   * assumes Kafka's defaults.
   */
  describeBrokerConfigs?(configKeys: string[]): Promise<Record<string, string>>
  close(): Promise<void>
}

/**
 * Reads chosen partitions from chosen offsets, outside any group: the runtime restores state stores
 * from their changelogs with it.
 */
export interface PartitionReader {
  /** Starts reading `partition` at `offset`, or at its earliest offset when `offset` is undefined. */
  assign(partitions: Array<TopicPartition & { offset: bigint | undefined }>): Promise<void>
  /** Stops reading these partitions. */
  unassign(partitions: TopicPartition[]): void
  /** The next offset to be read from `partition`, once known. */
  position(partition: TopicPartition): bigint | undefined
  /** Fetched batches of the assigned partitions; waits at most `maxWaitMs` when there are none. */
  poll(maxWaitMs: number): Promise<FetchedBatch[]>
  /** The offset after the last record of each partition (its end), keyed by `topicPartitionKey`. */
  endOffsets(partitions: TopicPartition[]): Promise<Map<string, bigint>>
  close(): Promise<void>
}

export interface ProducerOptions {
  clientId: string
  /** How long the client may wait to fill a batch. @default 5 */
  lingerMs?: number
  /** Bytes per produce request at most. @default 900000 */
  batchMaxBytes?: number
  /** @default 'none' */
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
  /**
   * How long a send may keep retrying retriable failures (broker unreachable, leader moving,
   * request timeouts) before it fails, as the Java producer's `delivery.timeout.ms`.
   * @default 120000
   */
  deliveryTimeoutMs?: number
}

/** An outage as one port's clients see it: no broker has answered since `sinceMs`. */
export interface BrokerOutage {
  /** When the first request of the outage failed (ms since the epoch). */
  sinceMs: number
  /** The brokers that were tried, as "host:port, …". */
  brokers: string
  /** The last failure, for the log. */
  lastError: string
}

/** Whether the brokers answer, as seen by every client of one port. */
export interface BrokerConnectivity {
  /** The ongoing outage, or undefined while requests succeed. */
  outage(): BrokerOutage | undefined
}

export interface KafkaPort {
  createConsumer(options: GroupConsumerOptions): GroupConsumer
  createReader(options: { clientId: string; fetchMaxBytes?: number }): PartitionReader
  createProducer(options: ProducerOptions): ProducerPort
  createAdmin(options: { clientId: string }): AdminPort
  /** Outage tracking shared by the port's clients; a port without it reports none. */
  readonly connectivity?: BrokerConnectivity
}

/** Map key for a topic partition. */
export function topicPartitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}
