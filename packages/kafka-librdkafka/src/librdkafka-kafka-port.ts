// A Kafka port on librdkafka through @confluentinc/kafka-javascript: librdkafka's own threads do
// the network I/O, batching, compression and CRCs. What it supports of the port and what it
// cannot is in the README's capability table.
import { ConfigError, type KafkaPort } from '@kstreams/core'
import { type BindingConfig, loadBinding } from './binding.js'
import { LibrdkafkaAdmin } from './librdkafka-admin.js'
import { LibrdkafkaGroupConsumer } from './librdkafka-group-consumer.js'
import { LibrdkafkaProducer, producerConfig } from './librdkafka-producer.js'
import { LibrdkafkaPartitionReader } from './librdkafka-reader.js'

export interface LibrdkafkaKafkaPortOptions {
  /** Brokers as "host:port". */
  bootstrapServers: string[]
  /**
   * The group protocol: KIP-848's `consumer` (the broker assigns; as the default adapter) or
   * `classic` with the cooperative-sticky assignor.
   * @default 'consumer'
   */
  groupProtocol?: 'consumer' | 'classic'
  /** How long admin calls and offset look-ups wait for an answer. @default 60000 */
  requestTimeoutMs?: number
  /**
   * Fetched records a group consumer holds for the runtime before it pauses every partition in
   * librdkafka (resumed at half). The runtime's own per-partition and byte bounds apply on top.
   * @default 100000
   */
  maxHeldRecords?: number
  /**
   * Prefetched data librdkafka queues per partition, in kilobytes (`queued.max.messages.kbytes`).
   * @default 16384
   */
  queuedMaxKilobytesPerPartition?: number
  /**
   * Further librdkafka properties (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md)
   * for every client, e.g. `{ 'socket.nagle.disable': true }`. They are applied first: the
   * adapter's own settings (idempotence, acks, manual commits) win.
   * @example librdkafka: { 'statistics.interval.ms': 0 }
   */
  librdkafka?: { [property: string]: string | number | boolean }
}

export function createLibrdkafkaKafkaPort(options: LibrdkafkaKafkaPortOptions): KafkaPort {
  if (!Array.isArray(options?.bootstrapServers) || options.bootstrapServers.length === 0) {
    throw new ConfigError('option "bootstrapServers" must list at least one "host:port"', {
      context: { option: 'bootstrapServers' },
    })
  }
  const protocol = options.groupProtocol ?? 'consumer'
  if (protocol !== 'consumer' && protocol !== 'classic') {
    throw new ConfigError(
      `option "groupProtocol" must be "consumer" or "classic", not ${JSON.stringify(protocol)}`,
      {
        context: { option: 'groupProtocol' },
      },
    )
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000
  const maxHeldRecords = options.maxHeldRecords ?? 100_000
  if (!Number.isInteger(maxHeldRecords) || maxHeldRecords < 1) {
    throw new ConfigError(
      `option "maxHeldRecords" must be a positive integer, not ${String(maxHeldRecords)}`,
      {
        context: { option: 'maxHeldRecords' },
      },
    )
  }
  const binding = loadBinding()
  const base: BindingConfig = {
    ...options.librdkafka,
    'bootstrap.servers': options.bootstrapServers.join(','),
  }
  const consumerBase: BindingConfig = {
    ...base,
    'queued.max.messages.kbytes': options.queuedMaxKilobytesPerPartition ?? 16_384,
  }
  return {
    createConsumer: (consumerOptions) =>
      new LibrdkafkaGroupConsumer(binding, consumerBase, {
        ...consumerOptions,
        groupProtocol: protocol,
        maxHeldRecords,
      }),
    createReader: ({ clientId, fetchMaxBytes }) =>
      new LibrdkafkaPartitionReader(
        binding,
        consumerBase,
        clientId,
        fetchMaxBytes ?? 50 * 1024 * 1024,
        requestTimeoutMs,
      ),
    createProducer: (producerOptions) =>
      new LibrdkafkaProducer(binding, producerConfig(base, producerOptions)),
    createAdmin: ({ clientId }) =>
      new LibrdkafkaAdmin(binding, { ...base, 'client.id': clientId }, requestTimeoutMs),
  }
}

/** The librdkafka version the binding was built with, e.g. "2.15.1". */
export function librdkafkaVersion(): string {
  return loadBinding().librdkafkaVersion
}
