// The default Kafka port, on @platformatic/kafka: its Producer and Admin clients as they are, and
// a group consumer of our own on its exported protocol layer (see platformatic-group-consumer.ts)
// for what the high-level Consumer lacks: awaited revocation, exact per-partition pause and seek,
// and commits with metadata.
import { Admin, Producer } from '@platformatic/kafka'
import { ConfigError, KafkaError } from '../errors.js'
import type { AdminPort, KafkaPort, ProduceRecord, ProducerPort, TopicDescription } from './kafka-port.js'
import { Cluster } from './platformatic-cluster.js'
import { describeError, protocolFailures } from './platformatic-errors.js'
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
    createProducer: ({ clientId }) =>
      new PlatformaticProducer(
        new Producer({ ...clientOptions(clientId), acks: -1, compression: options.compression ?? 'none' }),
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

  async send(records: ProduceRecord[]): Promise<void> {
    if (records.length === 0) return
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
      await this.#producer.send({ messages, acks: -1 })
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

  async describeTopics(topics: string[]): Promise<Map<string, TopicDescription>> {
    const result = new Map<string, TopicDescription>()
    // One topic at a time: a missing topic fails the whole metadata request.
    for (const topic of topics) {
      try {
        const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: true })
        const found = metadata.topics.get(topic)
        if (found) result.set(topic, { name: topic, partitions: found.partitionsCount })
      } catch (error) {
        if (protocolFailures(error).some((failure) => failure.id === 'UNKNOWN_TOPIC_OR_PARTITION')) continue
        throw this.#wrap(`describe topic "${topic}"`, error)
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
