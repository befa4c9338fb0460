import { ConfigError } from '../errors.js'
import { ConnectionSecurity, type SaslOptions, type TlsOptions } from '../kafka/connection-security.js'
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
  /**
   * TLS on every connection to the brokers (producer, group consumer, admin, restore readers):
   * `true` to verify the brokers against Node's root CAs, or the PEM contents (not file paths) of
   * `ca` (the CA that signed the brokers' certificates), `cert` and `key` (a client certificate,
   * for `ssl.client.auth=required`), `passphrase` (of an encrypted key) and `servername` (the
   * name the certificates are checked against when it is not the address's host). A broker
   * certificate that does not verify fails `start()` with a KSTREAMS_KAFKA error saying so.
   * Combine with `sasl` for a `SASL_SSL` listener.
   *
   * @default no TLS
   * @example tls: { ca: readFileSync('/etc/kafka/ca.pem', 'utf8') }
   */
  tls?: TlsOptions | boolean
  /**
   * SASL authentication on every connection: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` with
   * `username` and `password` (a string, or a function returning one), or `OAUTHBEARER` with
   * `token`, a function called at every (re-)authentication that returns a current access token.
   * A refused login fails `start()` with a KSTREAMS_KAFKA error naming the mechanism. Passwords,
   * tokens and keys never appear in logs, errors or `JSON.stringify(app.config)`. Use PLAIN only
   * with `tls`: it sends the password as it is.
   *
   * @default no SASL
   * @example sasl: { mechanism: 'SCRAM-SHA-512', username: 'orders-app', password: process.env.KAFKA_PASSWORD! }
   * @example sasl: { mechanism: 'OAUTHBEARER', token: () => identityProvider.accessToken() }
   */
  sasl?: SaslOptions
  /** How often offsets are committed (after flushing and awaiting acks). @default 5000 */
  commitIntervalMs?: number
  /**
   * Records buffered per input partition before that partition alone is paused. Together with the
   * fetch sizes this bounds memory whatever the backlog. @default 2000
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
  /**
   * Fetch tuning; the byte sizes bound what one fetch response holds in memory.
   * @default fetchMaxBytes 16 MiB, fetchMaxBytesPerPartition 512 KiB, fetchMaxWaitMs 100
   */
  fetchMaxBytes?: number
  fetchMaxBytesPerPartition?: number
  fetchMaxWaitMs?: number
  /** Where a partition without a committed offset starts. @default 'earliest' */
  offsetReset?: 'earliest' | 'latest'
  /**
   * How long `start()` waits to join the consumer group before it fails. The session timeout
   * itself is the broker's `group.consumer.session.timeout.ms` (KIP-848 groups): a member that
   * sends no heartbeat for that long is removed, and kstreams rejoins when that happens.
   * @default 45000
   */
  joinTimeoutMs?: number
  /**
   * The member's rebalance timeout, given to the group: how long revoking partitions may take
   * (draining, committing, closing) before the group takes them. @default 60000
   */
  rebalanceTimeoutMs?: number
  /**
   * On revocation, how long records already running in the revoked tasks may take to finish; what
   * finished is committed (with its completed-offset map), the rest is given up (its results
   * reach no sink or store) and processed again by the next owner. At most `rebalanceTimeoutMs`.
   * @default 30000 (or `rebalanceTimeoutMs` when that is smaller)
   */
  revokeDrainMs?: number
  /**
   * A processor call (`process`, or the promise it returns) that has not settled after this long
   * is a processing error (`KSTREAMS_TIMEOUT`) under the processing error policy. 0 turns the
   * check off. @default 60000
   */
  processingTimeoutMs?: number
  /**
   * Bytes of fetched records buffered in the whole process (all partitions) before fetching
   * pauses, besides the per-partition bound `maxBufferedRecordsPerPartition`. @default 64 MiB
   */
  maxBufferedBytes?: number
  /** Records being processed at once in the whole process (over all tasks). @default 10000 */
  maxInFlightRecords?: number
  /**
   * How long a produce may retry retriable failures (broker away, leader moving) before the
   * production error policy applies, as the Java producer's `delivery.timeout.ms`. @default 120000
   */
  deliveryTimeoutMs?: number
  /**
   * How long the application rides out an outage in which no broker answers (state `degraded`,
   * retrying) before it fails with a KSTREAMS_KAFKA error naming the brokers. @default 120000
   */
  brokerUnavailableTimeoutMs?: number
  /**
   * How long commits may keep failing because a store's service is unreachable (a backend's
   * flush throws a retriable `StoreError`) before the application fails with that error. Until
   * then each commit retries the flush and commits nothing of the tasks concerned; the others
   * commit. @default 300000
   */
  storeUnavailableTimeoutMs?: number
  /** Compression of produced batches. @default 'none' */
  producerCompression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
  /**
   * `min.compaction.lag.ms` of changelog topics kstreams creates: how long the broker keeps an
   * entry uncompacted. Restore keeps a key's older entry when the newer one was caused by
   * uncommitted input, so the older entry must outlive the commit that follows it. @default 900000
   */
  changelogMinCompactionLagMs?: number
  /**
   * Called once when the application stopped on an error, after it closed. The default logs
   * nothing more (the error was logged) and exits the process with code 1, as Kafka Streams'
   * default uncaught-exception handling shuts the client down. Replace it to keep the process
   * alive (for example to restart the app or report the error), or use `app.done()`.
   *
   * @example onFatalError: (error) => { alerting.notify(error); process.exitCode = 1 }
   */
  onFatalError?: (error: Error) => void
  /** Commit on close, drain in-flight records: how long a graceful close may wait for them. @default 30000 */
  closeTimeoutMs?: number
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
   * there until the next commit. Counted as the heap the entries take (their keys and values and
   * about 400 bytes each besides), so the default holds about 50,000 small entries. 0 writes every
   * update through. @default 20 MiB
   */
  cacheMaxBytesPerTask?: number
  /**
   * Cached changes a task with nothing to run writes down at a time ahead of its next commit
   * (changelog, flush listeners, backends), so that the commit's flush, which holds the task,
   * finds little left to write and records arriving during a commit are not held for a long
   * write-down. Only changes 250 ms old or older, and only while the event loop is busy with
   * records less than half the time: under load nothing is written early, and updates of a key
   * still merge. 0 writes only at commits and evictions, as Kafka Streams does. @default 500
   */
  cacheIdleWriteDownBatch?: number
  /**
   * Tasks with stores whose commit flush runs at once. A task is held while its stores flush (no
   * record of it runs); tasks flushed one after another let the others keep processing, so a
   * commit stalls no record for the whole write-down. Raise it for stores whose flush mostly
   * waits on a remote service (Redis, object storage), to shorten the commit itself. @default 1
   */
  commitFlushConcurrency?: number
  /** How long the local state of a task that moved elsewhere is kept before it is deleted. @default 600000 */
  stateCleanupDelayMs?: number
  /**
   * Bounds each of V8's two young-generation semi-spaces to this many MiB while the app runs, as
   * `node --max-semi-space-size` would (Node 24 lets them grow to 64 MiB each, and a stream
   * processor keeps enough alive between collections that they do within seconds): up to 96 MiB
   * of resident memory less per process. For the whole process (V8's flags are process-wide),
   * from the app's start until it stops; a process started with `--max-semi-space-size` (in its
   * flags or NODE_OPTIONS) keeps its own. 0 leaves the young generation to V8. @default 16
   */
  maxSemiSpaceSizeMb?: number
  /**
   * How far V8 lets the old generation grow past what survived its last full collection before
   * it collects again, in percent, as `node --heap-growing-percent` would. V8 alone lets a fast
   * allocator's old generation grow to several times its live size. With 150 (and the default
   * `maxSemiSpaceSizeMb`) a pass-through's resident memory is about a third lower, for some 5–10%
   * more CPU spent collecting. Process-wide like `maxSemiSpaceSizeMb`; a process started with
   * `--heap-growing-percent` keeps its own. 0 leaves it to V8. @default 150
   */
  heapGrowingPercent?: number
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
  /** TLS and SASL; its secrets are hidden from JSON and inspection. */
  security: ConnectionSecurity
  commitIntervalMs: number
  maxBufferedRecordsPerPartition: number
  producerBatchSize: number
  producerBatchMaxBytes: number
  producerLingerMs: number
  fetchMaxBytes: number
  fetchMaxBytesPerPartition: number
  fetchMaxWaitMs: number
  offsetReset: 'earliest' | 'latest'
  joinTimeoutMs: number
  rebalanceTimeoutMs: number
  revokeDrainMs: number
  processingTimeoutMs: number
  maxBufferedBytes: number
  maxInFlightRecords: number
  deliveryTimeoutMs: number
  brokerUnavailableTimeoutMs: number
  storeUnavailableTimeoutMs: number
  producerCompression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
  changelogMinCompactionLagMs: number
  onFatalError: (error: Error) => void
  closeTimeoutMs: number
  errorPolicies: ErrorPolicies
  stateDir: string
  cacheMaxBytesPerTask: number
  cacheIdleWriteDownBatch: number
  maxSemiSpaceSizeMb: number
  heapGrowingPercent: number
  commitFlushConcurrency: number
  stateCleanupDelayMs: number
  restoreBatchSize: number
  handleSignals: boolean
  logger: Logger
  kafka: KafkaPort | undefined
}

const recordPolicies: readonly string[] = ['fail', 'continue', 'dead-letter']
const productionPolicies: readonly string[] = ['fail', 'continue']

/** The record cache per task: about 50,000 entries of small keys and values (see `CACHE_ENTRY_OVERHEAD`). */
export const DEFAULT_CACHE_MAX_BYTES_PER_TASK = 20 * 1024 * 1024

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

function fatalErrorHandler(config: StreamsConfig): (error: Error) => void {
  const handler = config.onFatalError
  if (handler === undefined) return exitOnFatalError
  if (typeof handler !== 'function') {
    throw new ConfigError(`option "onFatalError" must be a function, got ${JSON.stringify(handler)}`, {
      context: { option: 'onFatalError' },
    })
  }
  return handler
}

const topicName = /^[a-zA-Z0-9._-]{1,249}$/

/** Every option `StreamsConfig` has, for the unknown-option check. */
const knownOptions: ReadonlyArray<keyof StreamsConfig> = [
  'applicationId',
  'bootstrapServers',
  'clientId',
  'tls',
  'sasl',
  'commitIntervalMs',
  'maxBufferedRecordsPerPartition',
  'producerBatchSize',
  'producerBatchMaxBytes',
  'producerLingerMs',
  'fetchMaxBytes',
  'fetchMaxBytesPerPartition',
  'fetchMaxWaitMs',
  'offsetReset',
  'joinTimeoutMs',
  'rebalanceTimeoutMs',
  'revokeDrainMs',
  'processingTimeoutMs',
  'maxBufferedBytes',
  'maxInFlightRecords',
  'deliveryTimeoutMs',
  'brokerUnavailableTimeoutMs',
  'storeUnavailableTimeoutMs',
  'producerCompression',
  'changelogMinCompactionLagMs',
  'onFatalError',
  'closeTimeoutMs',
  'deserializationErrorPolicy',
  'processingErrorPolicy',
  'productionErrorPolicy',
  'deadLetterTopic',
  'stateDir',
  'cacheMaxBytesPerTask',
  'cacheIdleWriteDownBatch',
  'maxSemiSpaceSizeMb',
  'heapGrowingPercent',
  'commitFlushConcurrency',
  'stateCleanupDelayMs',
  'restoreBatchSize',
  'handleSignals',
  'logger',
  'kafka',
]

/** Options that were renamed, with what to use instead. */
const renamedOptions: { [name: string]: string } = {
  sessionTimeoutMs:
    'it was renamed "joinTimeoutMs" (how long start() waits to join); the session timeout is the broker\'s group.consumer.session.timeout.ms',
}

/** Levenshtein distance, for "did you mean". */
function editDistance(left: string, right: string): number {
  const a = left.toLowerCase()
  const b = right.toLowerCase()
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i]
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length]!
}

function rejectUnknownOptions(config: object): void {
  for (const key of Object.keys(config)) {
    if ((knownOptions as readonly string[]).includes(key)) continue
    const renamed = renamedOptions[key]
    if (renamed) {
      throw new ConfigError(`option "${key}" is not supported: ${renamed}`, { context: { option: key } })
    }
    let closest = knownOptions[0]!
    for (const option of knownOptions)
      if (editDistance(key, option) < editDistance(key, closest)) closest = option
    throw new ConfigError(`unknown option "${key}"; did you mean "${closest}"?`, {
      context: { option: key, closest },
    })
  }
}

const compressions: readonly string[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

/**
 * The default `onFatalError`: the process ends with exit code 1. It exits after a moment, not at
 * once, so that handlers of `app.done()` and pending log writes still run.
 */
function exitOnFatalError(): void {
  process.exitCode = 1
  setTimeout(() => process.exit(1), 1000).unref()
}

/** Checks every option and fills in defaults. Throws a ConfigError naming the first bad option. */
export function resolveConfig(config: StreamsConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) {
    throw new ConfigError(
      'the configuration must be an object with at least applicationId and bootstrapServers',
    )
  }
  rejectUnknownOptions(config)
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
  if (config.kafka !== undefined && (config.tls !== undefined || config.sasl !== undefined)) {
    const option = config.tls !== undefined ? 'tls' : 'sasl'
    throw new ConfigError(
      `option "${option}" configures the default Kafka client, but "kafka" gives another one: pass TLS and SASL to that client (createPlatformaticKafkaPort takes "tls" and "sasl" too)`,
      { context: { option } },
    )
  }
  const rebalanceTimeoutMs = positiveInteger(config, 'rebalanceTimeoutMs', 60_000)
  const revokeDrainMs = positiveInteger(config, 'revokeDrainMs', Math.min(30_000, rebalanceTimeoutMs))
  if (revokeDrainMs > rebalanceTimeoutMs) {
    throw new ConfigError(
      `option "revokeDrainMs" (${revokeDrainMs}) must not exceed "rebalanceTimeoutMs" (${rebalanceTimeoutMs}): the group takes revoked partitions after rebalanceTimeoutMs, and the drain must leave time to commit`,
      { context: { option: 'revokeDrainMs' } },
    )
  }
  return {
    applicationId,
    bootstrapServers: servers.map((server) => server.trim()),
    clientId: config.clientId ?? `${applicationId}-${process.pid}`,
    security: ConnectionSecurity.resolve({ tls: config.tls, sasl: config.sasl }),
    commitIntervalMs: positiveInteger(config, 'commitIntervalMs', 5000),
    maxBufferedRecordsPerPartition: positiveInteger(config, 'maxBufferedRecordsPerPartition', 2000),
    producerBatchSize: positiveInteger(config, 'producerBatchSize', 10_000),
    producerBatchMaxBytes: positiveInteger(config, 'producerBatchMaxBytes', 900_000),
    producerLingerMs: config.producerLingerMs === 0 ? 0 : positiveInteger(config, 'producerLingerMs', 5),
    fetchMaxBytes: positiveInteger(config, 'fetchMaxBytes', 16 * 1024 * 1024),
    fetchMaxBytesPerPartition: positiveInteger(config, 'fetchMaxBytesPerPartition', 512 * 1024),
    fetchMaxWaitMs: positiveInteger(config, 'fetchMaxWaitMs', 100),
    offsetReset: oneOf(config, 'offsetReset', ['earliest', 'latest'], 'earliest'),
    joinTimeoutMs: positiveInteger(config, 'joinTimeoutMs', 45_000),
    rebalanceTimeoutMs,
    revokeDrainMs,
    processingTimeoutMs: nonNegativeInteger(config, 'processingTimeoutMs', 60_000),
    maxBufferedBytes: positiveInteger(config, 'maxBufferedBytes', 64 * 1024 * 1024),
    maxInFlightRecords: positiveInteger(config, 'maxInFlightRecords', 10_000),
    deliveryTimeoutMs: positiveInteger(config, 'deliveryTimeoutMs', 120_000),
    brokerUnavailableTimeoutMs: positiveInteger(config, 'brokerUnavailableTimeoutMs', 120_000),
    storeUnavailableTimeoutMs: positiveInteger(config, 'storeUnavailableTimeoutMs', 300_000),
    producerCompression: oneOf(config, 'producerCompression', compressions, 'none'),
    changelogMinCompactionLagMs: nonNegativeInteger(config, 'changelogMinCompactionLagMs', 900_000),
    onFatalError: fatalErrorHandler(config),
    closeTimeoutMs: positiveInteger(config, 'closeTimeoutMs', 30_000),
    errorPolicies: {
      deserialization: oneOf(config, 'deserializationErrorPolicy', recordPolicies, 'fail'),
      processing: oneOf(config, 'processingErrorPolicy', recordPolicies, 'fail'),
      production: oneOf(config, 'productionErrorPolicy', productionPolicies, 'fail'),
      deadLetterTopic,
    },
    stateDir: config.stateDir ?? './.state',
    cacheMaxBytesPerTask: nonNegativeInteger(
      config,
      'cacheMaxBytesPerTask',
      DEFAULT_CACHE_MAX_BYTES_PER_TASK,
    ),
    cacheIdleWriteDownBatch: nonNegativeInteger(config, 'cacheIdleWriteDownBatch', 500),
    maxSemiSpaceSizeMb: nonNegativeInteger(config, 'maxSemiSpaceSizeMb', 16),
    heapGrowingPercent: nonNegativeInteger(config, 'heapGrowingPercent', 150),
    commitFlushConcurrency: positiveInteger(config, 'commitFlushConcurrency', 1),
    stateCleanupDelayMs: nonNegativeInteger(config, 'stateCleanupDelayMs', 600_000),
    restoreBatchSize: positiveInteger(config, 'restoreBatchSize', 10_000),
    handleSignals: config.handleSignals ?? true,
    logger: config.logger ?? consoleLogger,
    kafka: config.kafka,
  }
}
