// Turns core's diagnostics channel messages into prom-client metrics. Several channels fire once per
// record (processor:processed, sink:record), so the handlers avoid allocating: label objects are
// built once per distinct label value and reused.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { ConfigError, IllegalStateError } from '@kstreams/core'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import {
  type CommitMessage,
  channelNames,
  type InFlightMessage,
  type LagMessage,
  type LateRecordMessage,
  type PartitionProgressMessage,
  type ProcessedMessage,
  type RebalanceMessage,
  type RecordErrorMessage,
  type RecordsProcessedMessage,
  type RecordsProducedMessage,
  type RestoreMessage,
  type RetryMessage,
  type SinkRecordMessage,
  type StateChangeMessage,
  type StoreOperationsMessage,
  type SupersededMessage,
} from './messages.js'
import { type MetricsServer, type ServeOptions, serveRegistry } from './metrics-server.js'

/** Bucket upper bounds, in seconds, of each histogram. */
export interface HistogramBuckets {
  /**
   * `processor_duration_seconds`: one processor on one record, usually microseconds.
   * @default [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]
   */
  processing?: readonly number[]
  /**
   * `end_to_end_latency_seconds`: from the record timestamp to the sink; a backlog makes it minutes.
   * @default [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600]
   */
  endToEnd?: readonly number[]
  /**
   * `commit_duration_seconds`: flushing stores, awaiting acknowledgements and committing offsets.
   * @default [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
   */
  commit?: readonly number[]
  /**
   * `restore_duration_seconds`: rebuilding one store of one task from its changelog.
   * @default [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600]
   */
  restore?: readonly number[]
}

/** The buckets used when {@link PrometheusMetricsOptions.buckets} does not override them. */
export const defaultBuckets: Readonly<Required<HistogramBuckets>> = Object.freeze({
  processing: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  endToEnd: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600],
  commit: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  restore: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600],
})

export interface PrometheusMetricsOptions {
  /**
   * The prom-client registry the metrics are registered into, e.g. the one your service already
   * exposes. Names must not be taken in it yet: prom-client throws on a duplicate.
   * @default a new `Registry`
   */
  registry?: Registry
  /**
   * Prepended to every metric name.
   * @default 'kstreams_'
   */
  prefix?: string
  /**
   * Labels with a fixed value added to every metric of this package, e.g. `{ application: 'orders' }`.
   * They are set on these metrics only, not as the registry's default labels, so metrics of a registry
   * you pass in stay as they are.
   * @default {}
   */
  labels?: Readonly<Record<string, string>>
  /** Histogram bucket overrides; each one given replaces the default of that histogram. */
  buckets?: HistogramBuckets
}

export interface PrometheusMetrics {
  /** The registry holding the metrics: the one passed in, or a new one. */
  readonly registry: Registry
  /**
   * Starts an HTTP server that exposes the registry in the Prometheus text format. `close()` of the
   * metrics closes it too.
   * @throws IllegalStateError after `close()`
   */
  serve(options?: ServeOptions): Promise<MetricsServer>
  /**
   * Unsubscribes from every channel and closes the servers started by `serve()`. The metrics stay in
   * the registry with their last values; remove them with `registry.removeSingleMetric` or
   * `registry.clear()` to create new ones under the same names. Calling it again does nothing.
   */
  close(): Promise<void>
}

/** Every state of a KStreamsApp (AppState in core), exported as 0 until the app reaches it. */
const appStates = [
  'created',
  'rebalancing',
  'running',
  'degraded',
  'pending-shutdown',
  'not-running',
  'error',
] as const

/** States after which nothing runs any more: gauges describing running work are cleared. */
const stoppedStates: ReadonlySet<string> = new Set(['not-running', 'error'])

/** Label names the metrics use themselves; a static label may not take one of them. */
const reservedLabels: ReadonlySet<string> = new Set([
  'task',
  'processor',
  'topic',
  'partition',
  'sink',
  'kind',
  'state',
  'store',
  'operation',
  'stage',
  'policy',
  'action',
  'le',
  'quantile',
])

const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/

type LabelValues = Readonly<Record<string, string>>

/**
 * Increments of one metric, summed in a Map and handed to prom-client when the metric is collected.
 * The per-record channels would otherwise pay prom-client's label hashing and validation for every
 * record (about 0.2 µs each); the Map is keyed by the reused label objects of {@link LabelSets}.
 */
class PendingIncrements {
  readonly #pending = new Map<LabelValues, number>()

  add(labels: LabelValues, amount: number): void {
    this.#pending.set(labels, (this.#pending.get(labels) ?? 0) + amount)
  }

  drainInto(metric: { inc(labels: LabelValues, value: number): void }): void {
    for (const [labels, amount] of this.#pending) metric.inc(labels, amount)
    this.#pending.clear()
  }
}

/**
 * Label objects of one label name (or pair of names), one per distinct value, merged with the static
 * labels. prom-client only reads the object it is given, so reusing it saves building one per event.
 */
class LabelSets {
  readonly #base: LabelValues
  readonly #names: readonly [string] | readonly [string, string]
  readonly #sets = new Map<string, LabelValues>()

  constructor(base: LabelValues, ...names: [string] | [string, string]) {
    this.#base = base
    this.#names = names
  }

  get(first: string, second?: string): LabelValues {
    // A NUL cannot occur in task, processor, topic or store names, so the key is unambiguous.
    const key = second === undefined ? first : `${first}\u0000${second}`
    let labels = this.#sets.get(key)
    if (labels === undefined) {
      const [firstName, secondName] = this.#names
      labels = Object.freeze(
        secondName === undefined
          ? { ...this.#base, [firstName]: first }
          : { ...this.#base, [firstName]: first, [secondName]: second ?? '' },
      )
      this.#sets.set(key, labels)
    }
    return labels
  }
}

/**
 * Subscribes to kstreams' diagnostics channels and keeps Prometheus metrics (prom-client) of every
 * application in the process: records processed and produced, latencies, lag, commits, rebalances,
 * state, restores, store operations and record errors.
 *
 * @throws ConfigError when a static label name is invalid or one the metrics use
 * @throws Error from prom-client when a metric name is already registered in `registry`
 * @example
 * import { createPrometheusMetrics } from '@kstreams/metrics-prometheus'
 *
 * const metrics = createPrometheusMetrics({ labels: { application: 'orders' } })
 * const server = await metrics.serve({ port: 9464 })
 * // Prometheus scrapes server.url (http://127.0.0.1:9464/metrics)
 * process.on('SIGTERM', () => void metrics.close())
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry()
  const prefix = options.prefix ?? 'kstreams_'
  const base = checkStaticLabels(options.labels ?? {})
  const baseNames = Object.keys(base)
  const buckets = { ...defaultBuckets, ...options.buckets }

  const created: string[] = []
  const define = <M>(name: string, make: (name: string) => M): M => {
    const metric = make(`${prefix}${name}`)
    created.push(`${prefix}${name}`)
    return metric
  }
  /** `pending`: increments added to the metric when it is collected, for the per-record channels. */
  const counter = (name: string, help: string, labelNames: readonly string[], pending?: PendingIncrements) =>
    define(
      name,
      (full) =>
        new Counter({
          name: full,
          help,
          labelNames: [...baseNames, ...labelNames],
          registers: [registry],
          ...(pending && {
            collect() {
              pending.drainInto(this)
            },
          }),
        }),
    )
  const gauge = (name: string, help: string, labelNames: readonly string[], pending?: PendingIncrements) =>
    define(
      name,
      (full) =>
        new Gauge({
          name: full,
          help,
          labelNames: [...baseNames, ...labelNames],
          registers: [registry],
          ...(pending && {
            collect() {
              pending.drainInto(this)
            },
          }),
        }),
    )
  const pendingProcessorRecords = new PendingIncrements()
  const pendingInFlight = new PendingIncrements()
  const histogram = (name: string, help: string, labelNames: readonly string[], bounds: readonly number[]) =>
    define(
      name,
      (full) =>
        new Histogram({
          name: full,
          help,
          labelNames: [...baseNames, ...labelNames],
          buckets: [...bounds],
          registers: [registry],
        }),
    )

  function defineMetrics() {
    return {
      recordsProcessed: counter('records_processed_total', 'Input records processed, per task.', ['task']),
      processorRecords: counter(
        'processor_records_processed_total',
        'Records a processor handled successfully, per task and processor.',
        ['task', 'processor'],
        pendingProcessorRecords,
      ),
      processorDuration: histogram(
        'processor_duration_seconds',
        'Time a processor took to handle one record, including the synchronous work of the processors it forwards to; for an asynchronous processor, until its Promise settled.',
        ['processor'],
        buckets.processing,
      ),
      recordsProduced: counter(
        'records_produced_total',
        'Records the broker acknowledged, per topic (sinks, changelogs and the dead-letter topic).',
        ['topic'],
      ),
      endToEndLatency: histogram(
        'end_to_end_latency_seconds',
        'Time from the timestamp of a record to its sending by a sink, per sink and topic.',
        ['sink', 'topic'],
        buckets.endToEnd,
      ),
      consumerLag: gauge(
        'consumer_lag',
        'Records in an input partition after the last one fetched, per topic and partition.',
        ['topic', 'partition'],
      ),
      commitDuration: histogram(
        'commit_duration_seconds',
        'Duration of a commit: flushing stores, awaiting acknowledgements and committing offsets.',
        [],
        buckets.commit,
      ),
      commits: counter('commits_total', 'Commits completed.', []),
      rebalances: counter(
        'rebalances_total',
        'Partition assignment changes, per kind (assigned, revoked, lost).',
        ['kind'],
      ),
      state: gauge('state', 'State of the application: 1 for the current one, 0 for the others.', ['state']),
      restoredRecords: counter(
        'restored_records_total',
        'Changelog records applied to a store while restoring it, per task and store.',
        ['task', 'store'],
      ),
      restoreSkippedRecords: counter(
        'restore_skipped_records_total',
        'Changelog records skipped while restoring because the input that caused them was not committed, per task and store.',
        ['task', 'store'],
      ),
      restoresInProgress: gauge('restores_in_progress', 'Stores being restored from their changelog.', [
        'store',
      ]),
      restoreDuration: histogram(
        'restore_duration_seconds',
        'Duration of the restore of one store of one task from its changelog.',
        ['store'],
        buckets.restore,
      ),
      storeOperations: counter(
        'store_operations_total',
        'State store operations, per store and operation (get, put, delete, scan); counted at each flush.',
        ['store', 'operation'],
      ),
      recordErrors: counter(
        'record_errors_total',
        'Record errors handled by an error policy, per stage (deserialization, processing) and policy.',
        ['stage', 'policy'],
      ),
      deadLetterRecords: counter(
        'dead_letter_records_total',
        'Records sent to the dead-letter topic, per stage.',
        ['stage'],
      ),
      lateRecords: counter(
        'late_records_total',
        'Records too late for all their windows, per window store and action (dropped, forwarded).',
        ['store', 'action'],
      ),
      partitionInFlight: gauge(
        'partition_in_flight',
        'Records of an input partition begun and not done (running, waiting to retry, or waiting behind their key).',
        ['topic', 'partition'],
      ),
      partitionRetrying: gauge(
        'partition_retrying',
        'Records of an input partition waiting to retry; each one parks its key.',
        ['topic', 'partition'],
      ),
      partitionWaiting: gauge(
        'partition_waiting',
        'Records of an input partition waiting behind a record of the same key.',
        ['topic', 'partition'],
      ),
      partitionCompleted: gauge(
        'partition_completed_offsets',
        'Offsets done above the lowest incomplete one of an input partition: the completed-offset map.',
        ['topic', 'partition'],
      ),
      partitionMapCharacters: gauge(
        'partition_completed_map_characters',
        'Characters the completed-offset map of an input partition takes in the commit metadata.',
        ['topic', 'partition'],
      ),
      partitionHeldBack: gauge(
        'partition_held_back',
        '1 while the completed-offset map of an input partition nears the broker metadata limit and the partition starts no record.',
        ['topic', 'partition'],
      ),
      headOfLineAge: gauge(
        'partition_head_of_line_age_seconds',
        'How long the lowest incomplete record of an input partition (the one its commit waits for) has been running or waiting; 0 when none.',
        ['topic', 'partition'],
      ),
      headOfLineAttempt: gauge(
        'partition_head_of_line_attempt',
        'The attempt of the lowest incomplete record of an input partition (from 1; 0 when none).',
        ['topic', 'partition'],
      ),
      retries: counter(
        'processor_retries_total',
        'Failed processor calls retried after a backoff (the retry option), per processor.',
        ['processor'],
      ),
      superseded: counter(
        'records_superseded_total',
        'Records conflation skipped because a newer record of their key came first, per topic.',
        ['topic'],
      ),
      inFlight: gauge(
        'processor_in_flight',
        'Asynchronous process() calls started and not settled yet, per processor.',
        ['processor'],
        pendingInFlight,
      ),
    }
  }

  let metrics: ReturnType<typeof defineMetrics>
  try {
    metrics = defineMetrics()
  } catch (error) {
    // A name taken halfway through must not leave the first metrics registered.
    for (const name of created) registry.removeSingleMetric(name)
    throw error
  }

  const byTask = new LabelSets(base, 'task')
  const byTaskProcessor = new LabelSets(base, 'task', 'processor')
  const byProcessor = new LabelSets(base, 'processor')
  const byTopic = new LabelSets(base, 'topic')
  const bySinkTopic = new LabelSets(base, 'sink', 'topic')
  const byTopicPartition = new LabelSets(base, 'topic', 'partition')
  const byKind = new LabelSets(base, 'kind')
  const byState = new LabelSets(base, 'state')
  const byTaskStore = new LabelSets(base, 'task', 'store')
  const byStore = new LabelSets(base, 'store')
  const byStoreOperation = new LabelSets(base, 'store', 'operation')
  const byStagePolicy = new LabelSets(base, 'stage', 'policy')
  const byStage = new LabelSets(base, 'stage')
  const byStoreAction = new LabelSets(base, 'store', 'action')
  const noLabels = base

  for (const state of appStates) metrics.state.set(byState.get(state), 0)
  const states = new Set<string>(appStates)

  /** Restores seen starting and not ending yet, with the running totals counted so far. */
  const restores = new Map<string, { store: string; records: number; skipped: number }>()
  const stopRestore = (key: string) => {
    const restore = restores.get(key)
    if (restore === undefined) return
    restores.delete(key)
    metrics.restoresInProgress.dec(byStore.get(restore.store))
  }
  /** Partitions with a lag gauge, to remove the gauge when the partition goes away. */
  const lagged = new Map<string, LabelValues>()
  /** Partitions with progress gauges, likewise. */
  const progressed = new Map<string, LabelValues>()
  const progressGauges = [
    metrics.partitionInFlight,
    metrics.partitionRetrying,
    metrics.partitionWaiting,
    metrics.partitionCompleted,
    metrics.partitionMapCharacters,
    metrics.partitionHeldBack,
    metrics.headOfLineAge,
    metrics.headOfLineAttempt,
  ]
  const forgetProgress = (key: string) => {
    const labels = progressed.get(key)
    if (labels === undefined) return
    progressed.delete(key)
    for (const metric of progressGauges) metric.remove(labels)
  }

  const handlers: Record<keyof typeof channelNames, (message: never) => void> = {
    recordsProcessed: (message: RecordsProcessedMessage) => {
      metrics.recordsProcessed.inc(byTask.get(message.taskId), message.count)
    },
    processed: (message: ProcessedMessage) => {
      pendingProcessorRecords.add(byTaskProcessor.get(message.taskId, message.processor), 1)
      metrics.processorDuration.observe(byProcessor.get(message.processor), message.durationMs / 1000)
    },
    recordsProduced: (message: RecordsProducedMessage) => {
      metrics.recordsProduced.inc(byTopic.get(message.topic), message.count)
    },
    sinkRecord: (message: SinkRecordMessage) => {
      // A record timestamp ahead of this host's clock (skew, or a timestamp set by the producer) gives
      // a negative latency, which would lower the histogram's sum; it counts as no latency instead.
      metrics.endToEndLatency.observe(
        bySinkTopic.get(message.sink, message.topic),
        Math.max(0, message.latencyMs) / 1000,
      )
    },
    lag: (message: LagMessage) => {
      const labels = byTopicPartition.get(message.topic, String(message.partition))
      lagged.set(`${message.topic}\u0000${message.partition}`, labels)
      metrics.consumerLag.set(labels, Number(message.lag))
    },
    commit: (message: CommitMessage) => {
      metrics.commits.inc(noLabels)
      metrics.commitDuration.observe(noLabels, message.durationMs / 1000)
    },
    rebalance: (message: RebalanceMessage) => {
      metrics.rebalances.inc(byKind.get(message.kind))
      if (message.kind === 'assigned') return
      // The lag of a partition this instance no longer reads would stay frozen at its last value.
      for (const { topic, partition } of message.partitions) {
        const key = `${topic}\u0000${partition}`
        const labels = lagged.get(key)
        if (labels === undefined) continue
        lagged.delete(key)
        metrics.consumerLag.remove(labels)
      }
      for (const { topic, partition } of message.partitions) forgetProgress(`${topic}\u0000${partition}`)
    },
    stateChange: (message: StateChangeMessage) => {
      states.add(message.to)
      for (const state of states) metrics.state.set(byState.get(state), state === message.to ? 1 : 0)
      if (!stoppedStates.has(message.to)) return
      // A failing restore publishes no end; once the app has stopped, nothing is restoring or lagging.
      for (const key of [...restores.keys()]) stopRestore(key)
      for (const labels of lagged.values()) metrics.consumerLag.remove(labels)
      lagged.clear()
      for (const key of [...progressed.keys()]) forgetProgress(key)
    },
    recordError: (message: RecordErrorMessage) => {
      metrics.recordErrors.inc(byStagePolicy.get(message.stage, message.policy))
      if (message.policy === 'dead-letter') metrics.deadLetterRecords.inc(byStage.get(message.stage))
    },
    restore: (message: RestoreMessage) => {
      const key = `${message.taskId}\u0000${message.store}`
      let restore = restores.get(key)
      if (restore === undefined || message.phase === 'start') {
        if (restore === undefined) metrics.restoresInProgress.inc(byStore.get(message.store))
        restore = { store: message.store, records: 0, skipped: 0 }
        restores.set(key, restore)
      }
      if (message.phase === 'start') return
      // Batch and end messages carry running totals; the counters add what came since the previous one.
      const labels = byTaskStore.get(message.taskId, message.store)
      if (message.records > restore.records) {
        metrics.restoredRecords.inc(labels, message.records - restore.records)
      }
      if (message.skipped > restore.skipped) {
        metrics.restoreSkippedRecords.inc(labels, message.skipped - restore.skipped)
      }
      restore.records = message.records
      restore.skipped = message.skipped
      if (message.phase !== 'end') return
      metrics.restoreDuration.observe(byStore.get(message.store), message.durationMs / 1000)
      stopRestore(key)
    },
    storeOperations: (message: StoreOperationsMessage) => {
      metrics.storeOperations.inc(byStoreOperation.get(message.store, 'get'), message.gets)
      metrics.storeOperations.inc(byStoreOperation.get(message.store, 'put'), message.puts)
      metrics.storeOperations.inc(byStoreOperation.get(message.store, 'delete'), message.deletes)
      metrics.storeOperations.inc(byStoreOperation.get(message.store, 'scan'), message.scans)
    },
    lateRecord: (message: LateRecordMessage) => {
      metrics.lateRecords.inc(byStoreAction.get(message.store, message.action))
    },
    inFlight: (message: InFlightMessage) => {
      pendingInFlight.add(byProcessor.get(message.processor), message.delta)
    },
    partitionProgress: (message: PartitionProgressMessage) => {
      const labels = byTopicPartition.get(message.topic, String(message.partition))
      progressed.set(`${message.topic}\u0000${message.partition}`, labels)
      metrics.partitionInFlight.set(labels, message.inFlight)
      metrics.partitionRetrying.set(labels, message.retrying)
      metrics.partitionWaiting.set(labels, message.waiting)
      metrics.partitionCompleted.set(labels, message.completed)
      metrics.partitionMapCharacters.set(labels, message.mapCharacters)
      metrics.partitionHeldBack.set(labels, message.heldBack ? 1 : 0)
      const head = message.headOfLine
      metrics.headOfLineAge.set(labels, (head?.ageMs ?? 0) / 1000)
      metrics.headOfLineAttempt.set(labels, head?.attempt ?? 0)
    },
    retry: (message: RetryMessage) => {
      metrics.retries.inc(byProcessor.get(message.processor))
    },
    superseded: (message: SupersededMessage) => {
      metrics.superseded.inc(byTopic.get(message.topic))
    },
  }

  // diagnostics_channel rethrows a subscriber's exception as an uncaught exception, which would crash
  // the application over a metric; a malformed message is dropped instead.
  const subscriptions = Object.entries(handlers).map(([key, handler]) => {
    const name = channelNames[key as keyof typeof channelNames]
    const listener = (message: unknown) => {
      try {
        handler(message as never)
      } catch {
        // Dropped on purpose: see above.
      }
    }
    subscribe(name, listener)
    return { name, listener }
  })

  const servers = new Set<MetricsServer>()
  let closing: Promise<void> | undefined

  return {
    registry,
    async serve(serveOptions) {
      if (closing !== undefined) {
        throw new IllegalStateError('serve() was called after close() of the Prometheus metrics')
      }
      const server = await serveRegistry(registry, serveOptions)
      servers.add(server)
      return {
        url: server.url,
        close: async () => {
          servers.delete(server)
          await server.close()
        },
      }
    },
    close() {
      closing ??= (async () => {
        for (const { name, listener } of subscriptions) unsubscribe(name, listener)
        await Promise.all([...servers].map((server) => server.close()))
        servers.clear()
      })()
      return closing
    },
  }
}

function checkStaticLabels(labels: Readonly<Record<string, string>>): LabelValues {
  for (const [name, value] of Object.entries(labels)) {
    if (!labelNamePattern.test(name) || name.startsWith('__')) {
      throw new ConfigError(
        `option "labels": "${name}" is not a valid Prometheus label name (letters, digits and underscores, not starting with a digit or "__")`,
        { context: { option: 'labels' } },
      )
    }
    if (reservedLabels.has(name)) {
      throw new ConfigError(
        `option "labels": "${name}" is a label the kstreams metrics set themselves; choose another name`,
        { context: { option: 'labels' } },
      )
    }
    if (typeof value !== 'string') {
      throw new ConfigError(`option "labels": the value of "${name}" must be a string`, {
        context: { option: 'labels' },
      })
    }
  }
  return Object.freeze({ ...labels })
}
