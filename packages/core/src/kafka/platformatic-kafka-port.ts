// The default Kafka port, on @platformatic/kafka: its Producer and Admin clients as they are, and
// a group consumer of our own on its exported protocol layer (see platformatic-group-consumer.ts)
// for what the high-level Consumer lacks: awaited revocation, exact per-partition pause and seek,
// and commits with metadata.
import { Admin, ConfigResourceTypes, Producer } from '@platformatic/kafka'
import { ConfigError, KafkaError } from '../errors.js'
import {
  type AdminPort,
  type FetchedBatch,
  type KafkaPort,
  type PartitionReader,
  type ProducedOffset,
  type ProduceRecord,
  type ProducerPort,
  type TopicDescription,
  type TopicPartition,
  topicPartitionKey,
} from './kafka-port.js'
import { Cluster } from './platformatic-cluster.js'
import { describeError, isUnknownTopic, protocolFailures } from './platformatic-errors.js'
import { LATEST, PartitionFetcher } from './platformatic-fetcher.js'
import { PlatformaticGroupConsumer } from './platformatic-group-consumer.js'

export interface PlatformaticKafkaPortOptions {
  /** Brokers as "host:port". */
  bootstrapServers: string[]
  /** @default 'kstreams' */
  clientId?: string
  /** @default 5000 */
  connectTimeoutMs?: number
  /** @default 30000 */
  requestTimeoutMs?: number
  /** Compression of produced batches. @default 'none' */
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
}

export function createPlatformaticKafkaPort(options: PlatformaticKafkaPortOptions): KafkaPort {
  if (!Array.isArray(options?.bootstrapServers) || options.bootstrapServers.length === 0) {
    throw new ConfigError('option "bootstrapServers" must list at least one "host:port"', {
      context: { option: 'bootstrapServers' },
    })
  }
  const base = {
    bootstrapServers: options.bootstrapServers,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
  }
  const clientOptions = (clientId: string) => ({
    clientId,
    bootstrapBrokers: base.bootstrapServers,
    connectTimeout: base.connectTimeoutMs,
    requestTimeout: base.requestTimeoutMs,
    retries: 3,
  })
  return {
    createConsumer: (consumerOptions) =>
      new PlatformaticGroupConsumer(
        new Cluster({ ...base, clientId: consumerOptions.clientId }),
        consumerOptions,
      ),
    createReader: ({ clientId, fetchMaxBytes }) =>
      new PlatformaticPartitionReader(new Cluster({ ...base, clientId }), fetchMaxBytes ?? 50 * 1024 * 1024),
    createProducer: ({ clientId }) =>
      new PlatformaticProducer(
        new Producer({
          ...clientOptions(clientId),
          acks: -1,
          // Without idempotence the client's retries can write a batch twice (seen on new topics).
          idempotent: true,
          compression: options.compression ?? 'none',
        }),
      ),
    createAdmin: ({ clientId }) =>
      new PlatformaticAdmin(new Admin(clientOptions(clientId)), base.bootstrapServers),
  }
}

const encoder = new TextEncoder()

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

class PlatformaticProducer implements ProducerPort {
  readonly #producer: Producer

  constructor(producer: Producer) {
    this.#producer = producer
  }

  async send(records: ProduceRecord[]): Promise<ProducedOffset[]> {
    if (records.length === 0) return []
    const messages = new Array(records.length)
    for (let index = 0; index < records.length; index += 1) {
      const record = records[index]!
      let headers: Map<Buffer, Buffer> | undefined
      if (record.headers && record.headers.length > 0) {
        headers = new Map()
        for (const [name, value] of record.headers) {
          headers.set(Buffer.from(encoder.encode(name)), value === null ? Buffer.alloc(0) : asBuffer(value))
        }
      }
      messages[index] = {
        topic: record.topic,
        partition: record.partition,
        key: record.key === null ? undefined : asBuffer(record.key),
        value: record.value === null ? undefined : asBuffer(record.value),
        timestamp: record.timestamp === undefined ? undefined : BigInt(record.timestamp),
        headers,
      }
    }
    try {
      const result = await this.#producer.send({ messages, acks: -1 })
      return (result.offsets ?? []).map(({ topic, partition, offset }) => ({
        topic,
        partition,
        baseOffset: offset,
      }))
    } catch (error) {
      const topics = [...new Set(records.map((record) => record.topic))].join(', ')
      throw new KafkaError(
        `producing ${records.length} record(s) to ${topics} failed: ${describeError(error)}`,
        {
          cause: error,
          retriable: false,
          context: { topic: topics },
        },
      )
    }
  }

  async close(): Promise<void> {
    await this.#producer.close()
  }
}

class PlatformaticAdmin implements AdminPort {
  readonly #admin: Admin
  readonly #servers: string[]

  constructor(admin: Admin, servers: string[]) {
    this.#admin = admin
    this.#servers = servers
  }

  async describeTopics(topics: string[], configKeys?: string[]): Promise<Map<string, TopicDescription>> {
    const result = new Map<string, TopicDescription>()
    // One topic at a time: a missing topic fails the whole metadata request.
    for (const topic of topics) {
      try {
        const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: true })
        const found = metadata.topics.get(topic)
        if (found) result.set(topic, { name: topic, partitions: found.partitionsCount })
      } catch (error) {
        if (isUnknownTopic(error)) continue
        throw this.#wrap(`describe topic "${topic}"`, error)
      }
    }
    if (configKeys && configKeys.length > 0 && result.size > 0) {
      try {
        const described = await this.#admin.describeConfigs({
          resources: [...result.keys()].map((name) => ({
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: name,
            configurationKeys: configKeys,
          })),
        })
        for (const resource of described) {
          const configs: Record<string, string> = {}
          for (const config of resource.configs)
            if (typeof config.value === 'string') configs[config.name] = config.value
          result.get(resource.resourceName)!.configs = configs
        }
      } catch (error) {
        throw this.#wrap(`describe the configs of topic(s) ${[...result.keys()].join(', ')}`, error)
      }
    }
    return result
  }

  async createTopics(topics: Array<TopicDescription & { replicationFactor?: number }>): Promise<void> {
    for (const topic of topics) {
      try {
        await this.#admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas: topic.replicationFactor ?? -1,
          configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
        })
      } catch (error) {
        if (protocolFailures(error).some((failure) => failure.id === 'TOPIC_ALREADY_EXISTS')) continue
        throw this.#wrap(`create topic "${topic.name}"`, error)
      }
    }
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }

  #wrap(action: string, error: unknown): KafkaError {
    const unreachable = protocolFailures(error).length === 0
    return new KafkaError(
      unreachable
        ? `cannot ${action}: Kafka at ${this.#servers.join(', ')} did not answer (${describeError(error)})`
        : `cannot ${action}: ${describeError(error)}`,
      { cause: error, retriable: unreachable },
    )
  }
}

class PlatformaticPartitionReader implements PartitionReader {
  readonly #cluster: Cluster
  readonly #fetcher: PartitionFetcher

  constructor(cluster: Cluster, fetchMaxBytes: number) {
    this.#cluster = cluster
    this.#fetcher = new PartitionFetcher(cluster, {
      topics: () => [...new Set([...this.#fetcher.partitions.values()].map((state) => state.topic))],
      offsetReset: 'earliest',
      fetchMinBytes: 1,
      fetchMaxBytes,
      fetchMaxBytesPerPartition: fetchMaxBytes,
    })
  }

  async assign(partitions: Array<TopicPartition & { offset: bigint | undefined }>): Promise<void> {
    await this.#cluster.refresh([...new Set(partitions.map((partition) => partition.topic))])
    for (const { topic, partition, offset } of partitions) this.#fetcher.add(topic, partition, offset)
    await this.#fetcher.resetPositions()
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
    await this.#cluster.refresh([...new Set(partitions.map((partition) => partition.topic))])
    return this.#fetcher.listOffsets(partitions, LATEST)
  }

  async close(): Promise<void> {
    await this.#cluster.close()
  }
}
