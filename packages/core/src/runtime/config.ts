import { ConfigError } from '../errors.js'
import type { KafkaPort } from '../kafka/kafka-port.js'
import { consoleLogger, type Logger } from '../logger.js'
import type { ErrorPolicies, ProductionErrorPolicy, RecordErrorPolicy } from './error-policy.js'

/**
 * Configuration of a kstreams application. Only `applicationId` and `bootstrapServers` are
 * required; the defaults favour throughput with bounded memory.
 */
export interface StreamsConfig {
  /** Names the application: it is the consumer group id and prefixes internal topics. */
  applicationId: string
  /** Kafka brokers, e.g. `['127.0.0.1:9092']` or `'127.0.0.1:9092,127.0.0.1:9093'`. */
  bootstrapServers: string[] | string
  /** @default `${applicationId}-${pid}` */
  clientId?: string
  /** How often offsets are committed (after flushing and awaiting acks). @default 5000 */
  commitIntervalMs?: number
  /**
   * Records buffered per input partition before that partition alone is paused. Together with the
   * fetch sizes this bounds memory whatever the backlog. @default 10000
   */
  maxBufferedRecordsPerPartition?: number
  /** Records sent in one produce batch at most. @default 10000 */
  producerBatchSize?: number
  /**
   * Bytes (keys, values, headers) in one produce batch at most, below the broker's
   * `message.max.bytes` (1 MiB by default). @default 900000
   */
  producerBatchMaxBytes?: number
  /** How long a produce batch may wait to fill up. @default 5 */
  producerLingerMs?: number
  /** Fetch tuning. @default fetchMaxBytes 50 MiB, fetchMaxBytesPerPartition 1 MiB, fetchMaxWaitMs 100 */
  fetchMaxBytes?: number
  fetchMaxBytesPerPartition?: number
  fetchMaxWaitMs?: number
  /** Where a partition without a committed offset starts. @default 'earliest' */
  offsetReset?: 'earliest' | 'latest'
  /** @default 45000 */
  sessionTimeoutMs?: number
  /** How long revoked work may take to drain and commit. @default 60000 */
  rebalanceTimeoutMs?: number
  /** Error policies. @default deserialization 'fail', processing 'fail', production 'fail' */
  deserializationErrorPolicy?: RecordErrorPolicy
  processingErrorPolicy?: RecordErrorPolicy
  productionErrorPolicy?: ProductionErrorPolicy
  /** @default `${applicationId}-dlq` */
  deadLetterTopic?: string
  /** Root directory of persistent state stores. @default './.state' */
  stateDir?: string
  /**
   * Bytes of each task's record cache, shared by the task's stores; repeated updates of a key merge
   * there until the next commit. 0 writes every update through. @default 4 MiB
   */
  cacheMaxBytesPerTask?: number
  /** How long the local state of a task that moved elsewhere is kept before it is deleted. @default 600000 */
  stateCleanupDelayMs?: number
  /** Changelog records read per restore batch at most (bounded by fetch size too). @default 10000 */
  restoreBatchSize?: number
  /** Close gracefully on SIGTERM and SIGINT. @default true */
  handleSignals?: boolean
  /** @default writes info and above to stderr */
  logger?: Logger
  /** The Kafka client; the default uses @platformatic/kafka. */
  kafka?: KafkaPort
}

export interface ResolvedConfig {
  applicationId: string
  bootstrapServers: string[]
  clientId: string
  commitIntervalMs: number
  maxBufferedRecordsPerPartition: number
  producerBatchSize: number
  producerBatchMaxBytes: number
  producerLingerMs: number
  fetchMaxBytes: number
  fetchMaxBytesPerPartition: number
  fetchMaxWaitMs: number
  offsetReset: 'earliest' | 'latest'
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  errorPolicies: ErrorPolicies
  stateDir: string
  cacheMaxBytesPerTask: number
  stateCleanupDelayMs: number
  restoreBatchSize: number
  handleSignals: boolean
  logger: Logger
  kafka: KafkaPort | undefined
}

const recordPolicies: readonly string[] = ['fail', 'continue', 'dead-letter']
const productionPolicies: readonly string[] = ['fail', 'continue']

function positiveInteger(config: object, option: string, fallback: number): number {
  const value = (config as { [key: string]: unknown })[option]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`option "${option}" must be a positive integer, got ${JSON.stringify(value)}`, {
      context: { option },
    })
  }
  return value
}

function nonNegativeInteger(config: object, option: string, fallback: number): number {
  const value = (config as { [key: string]: unknown })[option]
  if (value === 0) return 0
  return positiveInteger(config, option, fallback)
}

function oneOf<T extends string>(config: object, option: string, allowed: readonly string[], fallback: T): T {
  const value = (config as { [key: string]: unknown })[option]
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw new ConfigError(
      `option "${option}" must be one of ${allowed.map((item) => `'${item}'`).join(', ')}, got ${JSON.stringify(value)}`,
      { context: { option } },
    )
  }
  return value as T
}

const topicName = /^[a-zA-Z0-9._-]{1,249}$/

/** Checks every option and fills in defaults. Throws a ConfigError naming the first bad option. */
export function resolveConfig(config: StreamsConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) {
    throw new ConfigError(
      'the configuration must be an object with at least applicationId and bootstrapServers',
    )
  }
  const { applicationId } = config
  if (typeof applicationId !== 'string' || !topicName.test(applicationId)) {
    throw new ConfigError(
      `option "applicationId" must be a non-empty string of letters, digits, '.', '_' or '-' (it names the consumer group and internal topics), got ${JSON.stringify(applicationId)}`,
      { context: { option: 'applicationId' } },
    )
  }
  const servers =
    typeof config.bootstrapServers === 'string' ? config.bootstrapServers.split(',') : config.bootstrapServers
  if (
    !Array.isArray(servers) ||
    servers.length === 0 ||
    servers.some((server) => typeof server !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(server.trim()))
  ) {
    throw new ConfigError(
      `option "bootstrapServers" must list brokers as "host:port" (e.g. ['127.0.0.1:9092']), got ${JSON.stringify(config.bootstrapServers)}`,
      { context: { option: 'bootstrapServers' } },
    )
  }
  const deadLetterTopic = config.deadLetterTopic ?? `${applicationId}-dlq`
  if (typeof deadLetterTopic !== 'string' || !topicName.test(deadLetterTopic)) {
    throw new ConfigError(
      `option "deadLetterTopic" must be a valid topic name, got ${JSON.stringify(deadLetterTopic)}`,
      {
        context: { option: 'deadLetterTopic' },
      },
    )
  }
  if (config.logger !== undefined && typeof config.logger?.warn !== 'function') {
    throw new ConfigError('option "logger" must have debug, info, warn and error functions', {
      context: { option: 'logger' },
    })
  }
  return {
    applicationId,
    bootstrapServers: servers.map((server) => server.trim()),
    clientId: config.clientId ?? `${applicationId}-${process.pid}`,
    commitIntervalMs: positiveInteger(config, 'commitIntervalMs', 5000),
    maxBufferedRecordsPerPartition: positiveInteger(config, 'maxBufferedRecordsPerPartition', 10_000),
    producerBatchSize: positiveInteger(config, 'producerBatchSize', 10_000),
    producerBatchMaxBytes: positiveInteger(config, 'producerBatchMaxBytes', 900_000),
    producerLingerMs: config.producerLingerMs === 0 ? 0 : positiveInteger(config, 'producerLingerMs', 5),
    fetchMaxBytes: positiveInteger(config, 'fetchMaxBytes', 50 * 1024 * 1024),
    fetchMaxBytesPerPartition: positiveInteger(config, 'fetchMaxBytesPerPartition', 1024 * 1024),
    fetchMaxWaitMs: positiveInteger(config, 'fetchMaxWaitMs', 100),
    offsetReset: oneOf(config, 'offsetReset', ['earliest', 'latest'], 'earliest'),
    sessionTimeoutMs: positiveInteger(config, 'sessionTimeoutMs', 45_000),
    rebalanceTimeoutMs: positiveInteger(config, 'rebalanceTimeoutMs', 60_000),
    errorPolicies: {
      deserialization: oneOf(config, 'deserializationErrorPolicy', recordPolicies, 'fail'),
      processing: oneOf(config, 'processingErrorPolicy', recordPolicies, 'fail'),
      production: oneOf(config, 'productionErrorPolicy', productionPolicies, 'fail'),
      deadLetterTopic,
    },
    stateDir: config.stateDir ?? './.state',
    cacheMaxBytesPerTask: nonNegativeInteger(config, 'cacheMaxBytesPerTask', 4 * 1024 * 1024),
    stateCleanupDelayMs: nonNegativeInteger(config, 'stateCleanupDelayMs', 600_000),
    restoreBatchSize: positiveInteger(config, 'restoreBatchSize', 10_000),
    handleSignals: config.handleSignals ?? true,
    logger: config.logger ?? consoleLogger,
    kafka: config.kafka,
  }
}
