// The default Kafka port, on @platformatic/kafka: its Admin client as it is, its Producer with
// Produce requests encoded in one buffer (platformatic-produce-request.ts), and a group consumer
// of our own on its exported protocol layer (see platformatic-group-consumer.ts) for what the
// high-level Consumer lacks: awaited revocation, exact per-partition pause and seek, and commits
// with metadata.
import {
  Admin,
  type ProducerOptions as ClientProducerOptions,
  ConfigResourceTypes,
  type Producer,
} from '@platformatic/kafka'
import { ConfigError, KafkaError } from '../errors.js'
import { ConnectionSecurity, type SaslOptions, type TlsOptions } from './connection-security.js'
import { encodeHeaderName } from './header-names.js'
import {
  type AdminPort,
  type FetchedBatch,
  type KafkaPort,
  type PartitionReader,
  type ProducedOffset,
  type ProduceRecord,
  type ProducerOptions,
  type ProducerPort,
  produceRecordBytes,
  type TopicDescription,
  type TopicPartition,
  topicPartitionKey,
} from './kafka-port.js'
import { Cluster, type ClusterOptions } from './platformatic-cluster.js'
import {
  ConnectivityTracker,
  isRetriable,
  isUnreachable,
  retriesWithin,
  retryWithin,
  trackingRetryDelay,
} from './platformatic-connectivity.js'
import { describeError, isUnknownTopic, protocolFailures } from './platformatic-errors.js'
import { LATEST, PartitionFetcher } from './platformatic-fetcher.js'
import { PlatformaticGroupConsumer } from './platformatic-group-consumer.js'
import { SingleBufferProducer } from './platformatic-produce-request.js'
import { securityClientOptions, securityFailure } from './platformatic-security.js'

export interface PlatformaticKafkaPortOptions {
  /** Brokers as "host:port". */
  bootstrapServers: string[]
  /** @default 'kstreams' */
  clientId?: string
  /** @default 5000 */
  connectTimeoutMs?: number
  /** @default 30000 */
  requestTimeoutMs?: number
  /** Compression of produced batches, unless `createProducer` is given one. @default 'none' */
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
  /**
   * How long an admin call (describe or create topics) retries retriable failures, as the Java
   * admin client's `default.api.timeout.ms`. @default 60000
   */
  adminTimeoutMs?: number
  /** TLS for every connection: `true` (Node's root CAs) or the options. See `StreamsConfig.tls`. */
  tls?: TlsOptions | boolean
  /** SASL for every connection. See `StreamsConfig.sasl`. */
  sasl?: SaslOptions
}

const defaultDeliveryTimeoutMs = 120_000
const defaultBatchMaxBytes = 900_000
/**
 * The producer's metadata is refreshed for all its topics this often, ahead of the client's own
 * expiry (`PRODUCER_METADATA_MAX_AGE_MS`): a send that finds its topics' metadata expired looks
 * it up after its batch got its sequence numbers, and lookups for different topic sets may
 * answer in any order, so a later batch of a partition could reach the broker first
 * (OUT_OF_ORDER_SEQUENCE_NUMBER). Leader moves still refresh at once, through the client's errors.
 */
const PRODUCER_METADATA_REFRESH_MS = 60_000
/** As the Java producer's `metadata.max.age.ms`. */
const PRODUCER_METADATA_MAX_AGE_MS = 300_000

export function createPlatformaticKafkaPort(options: PlatformaticKafkaPortOptions): KafkaPort {
  if (!Array.isArray(options?.bootstrapServers) || options.bootstrapServers.length === 0) {
    throw new ConfigError('option "bootstrapServers" must list at least one "host:port"', {
      context: { option: 'bootstrapServers' },
    })
  }
  const security = ConnectionSecurity.resolve({ tls: options.tls, sasl: options.sasl })
  const base = {
    bootstrapServers: options.bootstrapServers,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
  }
  const connectivity = new ConnectivityTracker(base.bootstrapServers)
  // Every cluster (and through it the group consumer and the fetchers) reports to the one tracker.
  const clusterOptions = (clientId: string): ClusterOptions => ({
    ...base,
    clientId,
    connectivity,
    security,
  })
  const adminTimeoutMs = options.adminTimeoutMs ?? 60_000
  return {
    connectivity,
    createConsumer: (consumerOptions) =>
      new PlatformaticGroupConsumer(new Cluster(clusterOptions(consumerOptions.clientId)), consumerOptions),
    createReader: ({ clientId, fetchMaxBytes }) =>
      new PlatformaticPartitionReader(
        new Cluster(clusterOptions(clientId)),
        fetchMaxBytes ?? 50 * 1024 * 1024,
      ),
    createProducer: (producerOptions) => {
      const clientOptions = {
        ...producerClientOptions(options, producerOptions, connectivity),
        ...securityClientOptions(security),
      }
      return new PlatformaticProducer(
        new SingleBufferProducer<Buffer, Buffer, Buffer, Buffer>(clientOptions),
        {
          servers: base.bootstrapServers,
          deliveryTimeoutMs: producerOptions.deliveryTimeoutMs ?? defaultDeliveryTimeoutMs,
          batchMaxBytes: producerOptions.batchMaxBytes ?? defaultBatchMaxBytes,
          connectivity,
          metadataRefreshMs: PRODUCER_METADATA_REFRESH_MS,
        },
      )
    },
    createAdmin: ({ clientId }) =>
      new PlatformaticAdmin(
        new Admin({
          clientId,
          bootstrapBrokers: base.bootstrapServers,
          connectTimeout: base.connectTimeoutMs,
          requestTimeout: base.requestTimeoutMs,
          // One attempt per call: PlatformaticAdmin retries within adminTimeoutMs itself, and
          // decides that a missing topic is an answer, not a reason to wait.
          retries: 0,
          ...securityClientOptions(security),
        }),
        { servers: base.bootstrapServers, timeoutMs: adminTimeoutMs, connectivity },
      ),
  }
}

/**
 * The @platformatic/kafka Producer options for `createProducer(producerOptions)`. The client
 * retries a failed produce request itself, with the same producer id and sequence numbers, so the
 * broker drops a resent batch that it had written already (the answer was lost): enough retries
 * to cover `deliveryTimeoutMs` keep a whole outage inside one idempotent send. The client has no
 * linger or batch size of its own (a send is one request); lingering is the record collector's
 * job, and PlatformaticProducer splits a send at `batchMaxBytes`.
 */
export function producerClientOptions(
  portOptions: PlatformaticKafkaPortOptions,
  producerOptions: ProducerOptions,
  connectivity: ConnectivityTracker,
): ProducerClientOptions {
  return {
    clientId: producerOptions.clientId,
    bootstrapBrokers: portOptions.bootstrapServers,
    connectTimeout: portOptions.connectTimeoutMs ?? 5000,
    requestTimeout: portOptions.requestTimeoutMs ?? 30_000,
    retries: retriesWithin(producerOptions.deliveryTimeoutMs ?? defaultDeliveryTimeoutMs),
    retryDelay: trackingRetryDelay(connectivity),
    metadataMaxAge: PRODUCER_METADATA_MAX_AGE_MS,
    acks: -1,
    // Without idempotence the client's retries can write a batch twice (seen on new topics).
    idempotent: true,
    compression: producerOptions.compression ?? portOptions.compression ?? 'none',
  }
}

type ProducerClientOptions = ClientProducerOptions<Buffer, Buffer, Buffer, Buffer> & {
  compression: NonNullable<ProducerOptions['compression']>
}

/** Typed arrays up to this length may live on V8's heap (copied by `asBuffer`, not wrapped). */
const SMALL_COPY = 64

function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes
  // A serializer's small `new Uint8Array(n)` keeps its bytes on V8's heap: a Buffer over its
  // `.buffer` would first move them into a new off-heap buffer, which costs several times more than
  // copying them into Node's shared pool.
  if (bytes.byteLength <= SMALL_COPY) return Buffer.from(bytes)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export interface ProducerSettings {
  servers: string[]
  deliveryTimeoutMs: number
  batchMaxBytes: number
  connectivity: ConnectivityTracker
  /** How often the metadata of every topic sent to is refreshed (PRODUCER_METADATA_REFRESH_MS). */
  metadataRefreshMs: number
}

type ClientMessage = Parameters<Producer['send']>[0]['messages'][number]

/** The ProducerPort over a @platformatic/kafka Producer (exported for its tests). */
export class PlatformaticProducer implements ProducerPort {
  readonly #producer: Producer
  readonly #settings: ProducerSettings
  /** Topics whose metadata the client has: a send to them gets its sequence numbers at once. */
  readonly #known = new Set<string>()
  /** The last send handed to the client (not its acknowledgement): sends are handed over in order. */
  #dispatched: Promise<unknown> = Promise.resolve()
  /** Settles once every send made so far has settled (acknowledged or failed). */
  #settled: Promise<void> = Promise.resolve()
  readonly #refresh: NodeJS.Timeout

  constructor(producer: Producer, settings: ProducerSettings) {
    this.#producer = producer
    this.#settings = settings
    this.#refresh = setInterval(() => {
      if (this.#known.size === 0) return
      // Failures are the sends' to report (they look the metadata up themselves when it expired).
      this.#producer.metadata({ topics: [...this.#known], forceUpdate: true }).catch(() => {})
    }, settings.metadataRefreshMs)
    this.#refresh.unref()
  }

  /**
   * Sends are handed to the client in the order they were made, each once the client knows the
   * metadata of its topics. The client gives a batch its idempotent sequence numbers only when
   * it has the topic's metadata, so a send to a topic it has not seen yet (the first changelog
   * or dead-letter write) would otherwise be overtaken by later sends, and a partition's records
   * would land out of order.
   */
  send(records: ProduceRecord[]): Promise<ProducedOffset[]> {
    if (records.length === 0) return Promise.resolve([])
    // The delivery timeout counts from here: the metadata lookup is part of delivering.
    const started = Date.now()
    const earlier = this.#settled
    let sent!: Promise<ProducedOffset[]>
    const turn = this.#dispatched.then(async () => {
      await this.#learn(records, started + this.#settings.deliveryTimeoutMs)
      sent = this.#send(records, started, earlier)
    })
    this.#dispatched = turn.catch(() => {})
    const result = turn.then(() => sent)
    const settled = result.then(
      () => {},
      () => {},
    )
    this.#settled = Promise.all([earlier, settled]).then(() => {})
    return result
  }

  /**
   * Fetches the metadata of topics the client has not seen, until `deadline` at most (a failure
   * or a broker away is the send's to report, within what is left of its delivery timeout).
   */
  async #learn(records: ProduceRecord[], deadline: number): Promise<void> {
    const unknown: string[] = []
    for (const { topic } of records) {
      if (!this.#known.has(topic) && !unknown.includes(topic)) unknown.push(topic)
    }
    if (unknown.length === 0) return
    let timer: NodeJS.Timeout | undefined
    const lookup = this.#producer.metadata({ topics: unknown })
    try {
      const found = await Promise.race([
        lookup.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))
        }),
      ])
      if (found) for (const topic of unknown) this.#known.add(topic)
    } catch {
      // The send itself fails with the client's error, retried and reported as every send.
    } finally {
      clearTimeout(timer)
      lookup.catch(() => {})
    }
  }

  async #send(records: ProduceRecord[], started: number, earlier: Promise<void>): Promise<ProducedOffset[]> {
    const offsets = new Map<string, ProducedOffset>()
    // Chunks go one after the other, so that a partition's records keep their order.
    for (const chunk of chunksOf(records, this.#settings.batchMaxBytes)) {
      for (const produced of await this.#sendChunk(chunk, started, earlier)) {
        const key = topicPartitionKey(produced.topic, produced.partition)
        if (!offsets.has(key)) offsets.set(key, produced)
      }
    }
    return [...offsets.values()]
  }

  async #sendChunk(
    records: ProduceRecord[],
    started: number,
    earlier: Promise<void>,
  ): Promise<ProducedOffset[]> {
    const messages = records.map(toMessage)
    const { deliveryTimeoutMs, connectivity } = this.#settings
    const deadline = started + deliveryTimeoutMs
    let outOfOrder = false
    return retryWithin({
      budgetMs: Math.max(0, deadline - Date.now()),
      tracker: connectivity,
      // The client already retried this request for the whole budget with the same sequence
      // numbers; it gives up early only on an unretriable error or when the budget is spent, so
      // a second round here is rare (and gets a new producer id from the client).
      operation: async () => {
        // The broker refused this batch because an earlier one of its partition had not arrived
        // (the client's own recovery, a new producer id, did not settle it). It was not written:
        // send it again once every earlier send has settled, so that it lands after them.
        if (outOfOrder) await earlier
        try {
          return await this.#deliverWithin(messages, Math.max(0, deadline - Date.now()))
        } catch (error) {
          outOfOrder = isOutOfOrderSequence(error)
          throw error
        }
      },
      retriable: (error) => isRetriable(error) || isOutOfOrderSequence(error),
      giveUp: (error) => this.#failure(records, error, Date.now() - started),
    })
  }

  /**
   * One client send, bounded by `budgetMs`: an attempt can hang past the retries' count (a broker
   * that accepts connections but never answers takes `requestTimeoutMs` each time), and the
   * caller must hear about the failure at the deadline, as with the Java producer.
   */
  async #deliverWithin(messages: ClientMessage[], budgetMs: number): Promise<ProducedOffset[]> {
    let timer: NodeJS.Timeout | undefined
    const sending = this.#producer.send({ messages, acks: -1 })
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new DeliveryTimeout(this.#settings.connectivity.outage()?.lastError)),
        budgetMs,
      )
    })
    try {
      const result = await Promise.race([sending, deadline])
      return (result.offsets ?? []).map(({ topic, partition, offset }) => ({
        topic,
        partition,
        baseOffset: offset,
      }))
    } finally {
      clearTimeout(timer)
      // Past the deadline the client may still be retrying; its outcome no longer matters here.
      sending.catch(() => {})
    }
  }

  #failure(records: ProduceRecord[], error: unknown, elapsedMs: number): KafkaError {
    const topics = [...new Set(records.map((record) => record.topic))].join(', ')
    const retriable = isRetriable(error)
    const reason = retriable
      ? `Kafka at ${this.#settings.servers.join(', ')} did not accept them within ${seconds(elapsedMs)} (deliveryTimeoutMs ${this.#settings.deliveryTimeoutMs})`
      : `Kafka at ${this.#settings.servers.join(', ')} refused them after ${seconds(elapsedMs)}`
    return new KafkaError(
      `producing ${records.length} record(s) to ${topics} failed: ${reason}: ${describeError(error)}`,
      {
        cause: error,
        retriable,
        context: { topic: topics, brokers: this.#settings.servers.join(', '), elapsedMs },
      },
    )
  }

  async close(): Promise<void> {
    clearInterval(this.#refresh)
    await this.#producer.close()
  }
}

/** No broker answered: the client's own error, or the cluster's KafkaError around it. */
function unreachable(error: unknown): boolean {
  return isUnreachable(error) || isUnreachable((error as { cause?: unknown } | undefined)?.cause)
}

function isOutOfOrderSequence(error: unknown): boolean {
  return protocolFailures(error).some((failure) => failure.id === 'OUT_OF_ORDER_SEQUENCE_NUMBER')
}

/** The client's send did not settle within the delivery timeout (it is retrying, or hangs). */
class DeliveryTimeout extends KafkaError {
  constructor(lastError: string | undefined) {
    super(`no acknowledgement before the delivery timeout${lastError ? ` (last error: ${lastError})` : ''}`, {
      retriable: true,
    })
  }
}

/** Header names as bytes, encoded once: changelogs and dead letters repeat a few names per record. */
const headerNames = new Map<string, Buffer>()
const EMPTY = Buffer.alloc(0)

function headerName(name: string): Buffer {
  let bytes = headerNames.get(name)
  if (bytes === undefined) {
    bytes = asBuffer(encodeHeaderName(name))
    // Names an application makes up per record must not grow the map without bound.
    if (headerNames.size < 1024) headerNames.set(name, bytes)
  }
  return bytes
}

/** A record as the client sends it (exported for its tests). */
export function toMessage(record: ProduceRecord): ClientMessage {
  let headers: Map<Buffer, Buffer> | undefined
  if (record.headers && record.headers.length > 0) {
    headers = new Map()
    for (const [name, value] of record.headers) {
      let nameBytes = headerName(name)
      // The client's headers are a Map by Buffer: a repeated name needs a Buffer of its own.
      if (headers.has(nameBytes)) nameBytes = Buffer.from(nameBytes)
      headers.set(nameBytes, value === null ? EMPTY : asBuffer(value))
    }
  }
  return {
    topic: record.topic,
    partition: record.partition,
    key: record.key === null ? undefined : asBuffer(record.key),
    value: record.value === null ? undefined : asBuffer(record.value),
    timestamp: record.timestamp === undefined ? undefined : BigInt(record.timestamp),
    headers,
  }
}

/**
 * Consecutive runs of `records` of at most `maxBytes` each (a larger single record goes alone),
 * measured as the record collector measures its batches, so that its batches are never split.
 */
export function chunksOf(records: ProduceRecord[], maxBytes: number): ProduceRecord[][] {
  let total = 0
  for (let index = 0; index < records.length && total <= maxBytes; index++)
    total += produceRecordBytes(records[index]!)
  // The usual case: the collector's batch fits in one request, and is sent as it is.
  if (total <= maxBytes) return records.length > 0 ? [records] : []
  const chunks: ProduceRecord[][] = []
  let chunk: ProduceRecord[] = []
  let bytes = 0
  for (const record of records) {
    const size = produceRecordBytes(record)
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk)
      chunk = []
      bytes = 0
    }
    chunk.push(record)
    bytes += size
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}

function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`
}

interface AdminSettings {
  servers: string[]
  timeoutMs: number
  connectivity: ConnectivityTracker
}

class PlatformaticAdmin implements AdminPort {
  readonly #admin: Admin
  readonly #settings: AdminSettings

  constructor(admin: Admin, settings: AdminSettings) {
    this.#admin = admin
    this.#settings = settings
  }

  async describeTopics(topics: string[], configKeys?: string[]): Promise<Map<string, TopicDescription>> {
    const result = new Map<string, TopicDescription>()
    // One topic at a time: a missing topic fails the whole metadata request.
    for (const topic of topics) {
      try {
        const metadata = await this.#retry(`describe topic "${topic}"`, () =>
          this.#admin.metadata({ topics: [topic], forceUpdate: true }),
        )
        const found = metadata.topics.get(topic)
        if (found) result.set(topic, { name: topic, partitions: found.partitionsCount })
      } catch (error) {
        if (isUnknownTopic((error as KafkaError).cause)) continue
        throw error
      }
    }
    if (configKeys && configKeys.length > 0 && result.size > 0) {
      const described = await this.#retry(
        `describe the configs of topic(s) ${[...result.keys()].join(', ')}`,
        () =>
          this.#admin.describeConfigs({
            resources: [...result.keys()].map((name) => ({
              resourceType: ConfigResourceTypes.TOPIC,
              resourceName: name,
              configurationKeys: configKeys,
            })),
          }),
      )
      for (const resource of described) {
        const configs: Record<string, string> = {}
        for (const config of resource.configs)
          if (typeof config.value === 'string') configs[config.name] = config.value
        result.get(resource.resourceName)!.configs = configs
      }
    }
    return result
  }

  async describeBrokerConfigs(configKeys: string[]): Promise<Record<string, string>> {
    const metadata = await this.#retry('read the cluster metadata', () =>
      this.#admin.metadata({ topics: [] }),
    )
    const broker = [...metadata.brokers.keys()].sort((left, right) => left - right)[0]
    if (broker === undefined) return {}
    const described = await this.#retry(`describe the configs of broker ${broker}`, () =>
      this.#admin.describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.BROKER,
            resourceName: String(broker),
            configurationKeys: configKeys,
          },
        ],
      }),
    )
    const configs: Record<string, string> = {}
    for (const resource of described) {
      for (const config of resource.configs)
        if (typeof config.value === 'string') configs[config.name] = config.value
    }
    return configs
  }

  async createTopics(topics: Array<TopicDescription & { replicationFactor?: number }>): Promise<void> {
    for (const topic of topics) {
      try {
        // A retry after a lost answer finds the topic created by the first attempt: that is success.
        await this.#retry(`create topic "${topic.name}"`, () =>
          this.#admin.createTopics({
            topics: [topic.name],
            partitions: topic.partitions,
            replicas: topic.replicationFactor ?? -1,
            configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
          }),
        )
      } catch (error) {
        const cause = (error as KafkaError).cause
        if (protocolFailures(cause).some((failure) => failure.id === 'TOPIC_ALREADY_EXISTS')) continue
        throw error
      }
    }
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }

  #retry<T>(action: string, operation: () => Promise<T>): Promise<T> {
    return retryWithin({
      budgetMs: this.#settings.timeoutMs,
      tracker: this.#settings.connectivity,
      operation,
      giveUp: (error, elapsedMs, attempts) => {
        // A refused TLS handshake or login came from a broker that answered.
        const security = securityFailure(error)
        const unreachable = protocolFailures(error).length === 0 && !isUnknownTopic(error) && !security
        const servers = this.#settings.servers.join(', ')
        return new KafkaError(
          unreachable
            ? `cannot ${action}: Kafka at ${servers} did not answer for ${seconds(elapsedMs)} (${attempts} attempt(s)): ${describeError(error)}`
            : `cannot ${action}: ${describeError(error)}`,
          {
            cause: error,
            retriable: isRetriable(error),
            context: { brokers: servers, elapsedMs, ...(security ? { reason: security.kind } : {}) },
          },
        )
      },
    })
  }
}

/**
 * How long a reader's metadata and offset lookups wait out a broker that does not answer (its
 * fetches wait as long, in the fetcher); the app fails earlier if its brokerUnavailableTimeoutMs
 * is shorter (the shared outage tracker sees these attempts).
 */
const READER_UNAVAILABLE_TIMEOUT_MS = 120_000

class PlatformaticPartitionReader implements PartitionReader {
  readonly #cluster: Cluster
  readonly #fetcher: PartitionFetcher
  readonly #tracker: ConnectivityTracker

  constructor(cluster: Cluster, fetchMaxBytes: number) {
    this.#cluster = cluster
    this.#tracker = cluster.connectivity ?? new ConnectivityTracker([cluster.servers])
    this.#fetcher = new PartitionFetcher(cluster, {
      tracker: cluster.connectivity,
      topics: () => [...new Set([...this.#fetcher.partitions.values()].map((state) => state.topic))],
      offsetReset: 'earliest',
      fetchMinBytes: 1,
      fetchMaxBytes,
      fetchMaxBytesPerPartition: fetchMaxBytes,
    })
  }

  async assign(partitions: Array<TopicPartition & { offset: bigint | undefined }>): Promise<void> {
    const topics = [...new Set(partitions.map((partition) => partition.topic))]
    await this.#waitingOutOutages(`look up ${topics.join(', ')}`, () => this.#cluster.refresh(topics))
    for (const { topic, partition, offset } of partitions) this.#fetcher.add(topic, partition, offset)
    await this.#waitingOutOutages(`find the start offsets of ${topics.join(', ')}`, () =>
      this.#fetcher.resetPositions(),
    )
  }

  unassign(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions)
      this.#fetcher.partitions.delete(topicPartitionKey(topic, partition))
  }

  position({ topic, partition }: TopicPartition): bigint | undefined {
    return this.#fetcher.partitions.get(topicPartitionKey(topic, partition))?.position
  }

  poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    return this.#fetcher.fetch(maxWaitMs)
  }

  async endOffsets(partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    const topics = [...new Set(partitions.map((partition) => partition.topic))]
    return this.#waitingOutOutages(`find the end offsets of ${topics.join(', ')}`, async () => {
      await this.#cluster.refresh(topics)
      return this.#fetcher.listOffsets(partitions, LATEST)
    })
  }

  /** Runs a lookup again, with backoff, while no broker answers it (a restore during an outage). */
  #waitingOutOutages<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return retryWithin({
      budgetMs: READER_UNAVAILABLE_TIMEOUT_MS,
      tracker: this.#tracker,
      operation,
      retriable: unreachable,
      giveUp: (error, elapsedMs, attempts) =>
        unreachable(error)
          ? new KafkaError(
              `cannot ${what}: Kafka at ${this.#cluster.servers} has been unreachable for ${seconds(elapsedMs)} (${attempts} attempts): ${describeError(error)}`,
              { cause: error, retriable: true, context: { brokers: this.#cluster.servers } },
            )
          : (error as Error),
    })
  }

  async close(): Promise<void> {
    await this.#cluster.close()
  }
}
