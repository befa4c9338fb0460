// The at-least-once runtime: joins the consumer group named by applicationId and runs one
// StreamTask per (sub-topology, partition) it owns. Four loops run side by side:
//   - fetching: polls the group consumer and hands batches to tasks, pausing a partition whose
//     buffer is full and all fetching while the process-wide byte budget is spent;
//   - dispatching: starts records in every task whose lane is free; tasks run concurrently, so a
//     task awaiting an async processor never blocks another; long passes yield to the event loop;
//     a pass that starts nothing lets an idle task write its older cached changes down
//     (`IdleWriteDown`), so that its next commit has little left to write;
//   - committing: every commitIntervalMs, through the commit coordinator (which also serves
//     revocation and close), whatever the processors' speed;
//   - ticking: wakes the dispatcher for wall-clock punctuations and turns a broker outage the port
//     reports into the `degraded` state (and into a failure after brokerUnavailableTimeoutMs).
import { EventEmitter } from 'node:events'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { channels } from '../diagnostics.js'
import {
  ConfigError,
  IllegalStateError,
  isFencedError,
  KafkaError,
  KStreamsError,
  StoreError,
} from '../errors.js'
import {
  type AdminPort,
  type GroupConsumer,
  type GroupListener,
  type KafkaPort,
  type OffsetAndMetadata,
  type ProducerPort,
  type TopicPartition,
  topicPartitionKey,
} from '../kafka/kafka-port.js'
import { createPlatformaticKafkaPort } from '../kafka/platformatic-kafka-port.js'
import type { InstanceMetadata } from '../query/instance-registry.js'
import type { LocalTask, ReadOptions } from '../query/local-stores.js'
import { type QueryServer, type ServeQueriesOptions, startQueryServer } from '../query/query-server.js'
import { type AdvertiseOptions, type KeyMetadata, QueryService } from '../query/query-service.js'
import type { StoreKeyOf, StoreNameOf, StoresOf, StoreViewOf } from '../query/query-types.js'
import { cleanTaskDirectories } from '../state/task-directory.js'
import type { StateStore } from '../state-store.js'
import type { Topology } from '../topology.js'
import { CommitCoordinator, type CommitOutcome } from './commit-coordinator.js'
import { decodeCommitMetadata, MAX_METADATA_CHARACTERS } from './commit-metadata.js'
import { type ResolvedConfig, resolveConfig, type StreamsConfig } from './config.js'
import { GlobalStores } from './global-stores.js'
import { boundHeap } from './heap-bounds.js'
import { IdleWriteDown } from './idle-write-down.js'
import { BufferBudget, type PartitionProgress } from './input-scheduler.js'
import { KafkaRecordCollector } from './kafka-record-collector.js'
import { StateRestorer } from './state-restorer.js'
import { InFlightLimit, StreamTask } from './task.js'
import { prepareTopics } from './topics.js'

/**
 * - `created`: not started yet.
 * - `rebalancing`: joining the group or moving partitions.
 * - `running`: processing.
 * - `degraded`: no broker answers; processing of what was fetched goes on until the producer's
 *   bound, everything retries, and the app goes back to `running` by itself when the brokers
 *   return (or fails after `brokerUnavailableTimeoutMs`).
 * - `pending-shutdown`: `close()` was called; draining and committing.
 * - `not-running`: closed.
 * - `error`: stopped on an error; nothing after the failing record was committed.
 */
export type AppState =
  | 'created'
  | 'rebalancing'
  | 'running'
  | 'degraded'
  | 'pending-shutdown'
  | 'not-running'
  | 'error'

/** How long a write waits for a heartbeat's answer when the last one is old (then it goes on, or skips an idle write-down). */
const CONFIRM_MEMBERSHIP_WAIT_MS = 1_000
/** Records a task starts per pass of the dispatch loop before the loop moves on (and yields). */
const RECORDS_PER_TASK_PASS = 256
/** How often timers (wall-clock punctuation, outage checks) are looked at. */
const TICK_MS = 100
const MINIMUM_NODE_MAJOR = 22
/** How long a failing app waits for records already handed to the producer. */
const FAILURE_FLUSH_MS = 5000

export interface KStreamsAppEvents {
  stateChange: [state: AppState, previous: AppState]
  error: [error: Error]
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}

/** Throws when this Node.js is older than the one kstreams needs. */
function checkNodeVersion(version = process.versions.node): void {
  const major = Number(version.split('.')[0])
  if (!(major >= MINIMUM_NODE_MAJOR)) {
    throw new ConfigError(
      `kstreams needs Node.js ${MINIMUM_NODE_MAJOR} or newer; this process runs Node.js ${version}`,
      { context: { option: 'node' } },
    )
  }
}

export class KStreamsApp<T extends Topology = Topology> extends EventEmitter<KStreamsAppEvents> {
  readonly topology: T
  readonly config: ResolvedConfig
  #state: AppState = 'created'
  #kafka: KafkaPort | undefined
  #admin: AdminPort | undefined
  #producer: ProducerPort | undefined
  /** Store changelogs have a producer (a connection) of their own; see `#changelogCollector`. */
  #changelogProducer: ProducerPort | undefined
  #consumer: GroupConsumer | undefined
  /** Sinks' output and the dead-letter topic. */
  #collector: KafkaRecordCollector | undefined
  /**
   * Store changelogs. On a connection of their own, a commit's burst of changelog records is not
   * queued at the broker ahead of output produced meanwhile (a broker handles one request per
   * connection at a time), which held that output for the burst's length.
   */
  #changelogCollector: KafkaRecordCollector | undefined
  #restorer: StateRestorer | undefined
  #globalStores: GlobalStores | undefined
  #coordinator: CommitCoordinator | undefined
  readonly #budget: BufferBudget
  readonly #inFlight: InFlightLimit
  readonly #tasks = new Map<string, StreamTask>()
  /** Tasks whose restore failed (fenced): they neither process nor commit until they are rebuilt. */
  readonly #unrestored = new WeakSet<StreamTask>()
  /** Task of each assigned input partition. */
  readonly #taskByPartition = new Map<string, StreamTask>()
  readonly #paused = new Map<string, TopicPartition>()
  /** Idle tasks' cached changes written down ahead of their commits. */
  #idleWriteDown: IdleWriteDown | undefined
  /** Membership changes and close run one at a time. */
  #membership: Promise<unknown> = Promise.resolve()
  #loops: Promise<unknown> | undefined
  #wakeDispatch: (() => void) | undefined
  #wakeCommit: (() => void) | undefined
  #stopping = false
  /** Lifts this app's bounds on V8's heap (`maxSemiSpaceSizeMb`, `heapGrowingPercent`) once it stopped. */
  #releaseHeapBounds: () => void = () => {}
  #outageSince: number | undefined
  /** The broker's `offset.metadata.max.bytes`, read at start: the completed-offset map's limit. */
  #metadataMaxCharacters = MAX_METADATA_CHARACTERS
  /** Since when commits have found some store unable to flush (its service unreachable). */
  #storeOutageSince: number | undefined
  #failure: Error | undefined
  #queries: QueryService | undefined
  readonly #queryServers: QueryServer[] = []
  readonly #partitionCounts = new Map<string, Promise<number>>()
  #done: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void }
  readonly #signalHandler = () => {
    this.config.logger.info('signal received, closing gracefully')
    void this.close()
  }

  constructor(topology: T, config: StreamsConfig) {
    super()
    this.config = resolveConfig(config)
    // The resolved topology has the same stores (and store types), with internal topics named.
    this.topology = topology.resolve(this.config.applicationId) as T
    this.#budget = new BufferBudget(this.config.maxBufferedBytes)
    this.#inFlight = new InFlightLimit(this.config.maxInFlightRecords)
    let resolve!: () => void
    let reject!: (error: Error) => void
    const promise = new Promise<void>((resolvePromise, rejectPromise) => {
      resolve = resolvePromise
      reject = rejectPromise
    })
    promise.catch(() => {})
    this.#done = { promise, resolve, reject }
  }

  get state(): AppState {
    return this.#state
  }

  /**
   * Where every input partition of this instance's tasks stands: records in flight, running,
   * retrying and waiting behind their key, the completed-offset map, and the head-of-line record
   * a commit waits for. Published on `kstreams:partition:progress` once per commit interval.
   */
  progress(): PartitionProgress[] {
    return [...this.#tasks.values()].flatMap((task) => task.progress())
  }

  /** Resolves when the application has closed; rejects with the error that stopped it. */
  done(): Promise<void> {
    return this.#done.promise
  }

  /**
   * Checks the topics, joins the group and starts processing in the background. Resolves once
   * the application is a member of the group. When it fails later, `onFatalError` is called
   * (by default the process exits with code 1).
   */
  async start(): Promise<void> {
    if (this.#state !== 'created') {
      throw new IllegalStateError(
        `start() can be called once, on a created application; it is ${this.#state}`,
      )
    }
    checkNodeVersion()
    this.#setState('rebalancing')
    const { config } = this
    this.#releaseHeapBounds = boundHeap(config)
    if (config.security.tls?.rejectUnauthorized === false)
      config.logger.warn("tls.rejectUnauthorized is false: the brokers' certificates are not verified")
    try {
      const kafka =
        config.kafka ??
        createPlatformaticKafkaPort({
          bootstrapServers: config.bootstrapServers,
          clientId: config.clientId,
          compression: config.producerCompression,
          tls: config.security.tls,
          sasl: config.security.sasl,
        })
      this.#kafka = kafka
      this.#admin = kafka.createAdmin({ clientId: `${config.clientId}-admin` })
      const admin = this.#admin
      const producerAndCollector = (clientId: string) => {
        const producer = kafka.createProducer({
          clientId,
          lingerMs: config.producerLingerMs,
          batchMaxBytes: config.producerBatchMaxBytes,
          compression: config.producerCompression,
          deliveryTimeoutMs: config.deliveryTimeoutMs,
        })
        const collector = new KafkaRecordCollector({
          producer,
          admin,
          batchSize: config.producerBatchSize,
          batchMaxBytes: config.producerBatchMaxBytes,
          lingerMs: config.producerLingerMs,
          policy: config.errorPolicies.production,
          logger: config.logger,
        })
        return { producer, collector }
      }
      const output = producerAndCollector(`${config.clientId}-producer`)
      this.#producer = output.producer
      const collector = output.collector
      this.#collector = collector
      const changelogs = producerAndCollector(`${config.clientId}-changelog-producer`)
      this.#changelogProducer = changelogs.producer
      const changelogCollector = changelogs.collector
      this.#changelogCollector = changelogCollector
      await prepareTopics({ admin, collector, changelogCollector, topology: this.topology, config })
      this.#metadataMaxCharacters = await this.#readMetadataLimit(this.#admin)
      if (this.topology.globalStores.size > 0) {
        // Every instance fills its global stores before it joins the group and processes a record.
        this.#globalStores = new GlobalStores({
          kafka,
          admin: this.#admin,
          topology: this.topology,
          applicationId: config.applicationId,
          clientId: config.clientId,
          stateDir: config.stateDir,
          logger: config.logger,
          fetchMaxBytes: config.fetchMaxBytes,
          batchSize: config.restoreBatchSize,
          checkpointIntervalMs: config.commitIntervalMs,
          pollWaitMs: config.fetchMaxWaitMs,
          onError: (error) => void this.#fail(error),
        })
        await this.#globalStores.start()
      }
      const consumer = kafka.createConsumer({
        groupId: config.applicationId,
        clientId: `${config.clientId}-consumer`,
        topics: this.topology.sourceTopics,
        listener: this.#listener,
        offsetReset: config.offsetReset,
        joinTimeoutMs: config.joinTimeoutMs,
        rebalanceTimeoutMs: config.rebalanceTimeoutMs,
        fetchMaxBytes: config.fetchMaxBytes,
        fetchMaxBytesPerPartition: config.fetchMaxBytesPerPartition,
        fetchMaxWaitMs: config.fetchMaxWaitMs,
        brokerUnavailableTimeoutMs: config.brokerUnavailableTimeoutMs,
        logger: config.logger,
      })
      this.#consumer = consumer
      // The commit's flush and the idle write-down both confirm the membership first.
      const confirming = consumer.confirmMembership
        ? { confirmMembership: () => consumer.confirmMembership!(CONFIRM_MEMBERSHIP_WAIT_MS) }
        : {}
      this.#coordinator = new CommitCoordinator({
        flushProduced: () => Promise.all([collector.flush(), changelogCollector.flush()]).then(() => {}),
        endOffset: (topic, partition) => changelogCollector.endOffset(topic, partition),
        commitOffsets: (offsets) => consumer.commit(offsets),
        ...confirming,
        logger: config.logger,
        metadataMaxCharacters: this.#metadataMaxCharacters,
        flushConcurrency: config.commitFlushConcurrency,
      })
      this.#idleWriteDown = new IdleWriteDown({
        batch: config.cacheIdleWriteDownBatch,
        logger: config.logger,
        ...confirming,
        wake: () => this.#wake(),
      })
      this.#restorer = new StateRestorer({
        kafka,
        clientId: config.clientId,
        consumer,
        logger: config.logger,
        batchSize: config.restoreBatchSize,
        fetchMaxBytes: config.fetchMaxBytes,
      })
      await consumer.subscribe()
      this.#loops = Promise.all([
        this.#fetchLoop(),
        this.#dispatchLoop(),
        this.#commitLoop(),
        this.#tickLoop(),
      ])
    } catch (error) {
      // The caller of start() gets this error: onFatalError is for failures nobody awaits.
      await this.#fail(error, false)
      throw error
    }
    if (config.handleSignals) {
      process.once('SIGTERM', this.#signalHandler)
      process.once('SIGINT', this.#signalHandler)
    }
  }

  /**
   * Stops starting records, lets the ones in flight finish (within `closeTimeoutMs`), commits what
   * is done (flushing stores and awaiting acknowledgements first), leaves the group and closes
   * every client.
   */
  async close(): Promise<void> {
    if (this.#state === 'not-running' || this.#state === 'error' || this.#state === 'pending-shutdown') {
      return this.#done.promise.catch(() => {})
    }
    if (this.#state === 'created') {
      this.#setState('not-running')
      this.#done.resolve()
      return
    }
    this.#setState('pending-shutdown')
    this.#stopping = true
    this.#wake()
    // The commit loop may be waiting for its next interval: close commits by itself below.
    this.#wakeCommit?.()
    process.off('SIGTERM', this.#signalHandler)
    process.off('SIGINT', this.#signalHandler)
    try {
      await this.#closeQueries()
      await this.#loops
      if (this.#failure) return
      await this.#drain([...this.#tasks.values()], this.config.closeTimeoutMs)
      if (this.#failure) return
      await this.#commit([...this.#tasks.values()])
      // Leaving the group revokes every partition through the listener, which commits again (a no-op).
      await this.#consumer?.close()
      await this.#closeTasks([...this.#tasks.values()])
      await this.#closeClients()
      this.#setState('not-running')
      this.#done.resolve()
    } catch (error) {
      await this.#fail(error)
    }
  }

  /**
   * A store of a task on this instance, for interactive queries and tests. A global store is the
   * same for every partition.
   */
  getStore<S extends StateStore>(name: string, partition: number): S | undefined {
    const global = this.#globalStores?.stores.get(name)
    if (global) return global as S
    for (const task of this.#tasks.values()) {
      if (task.partition === partition) {
        const store = task.getStore<S>(name)
        if (store) return store
      }
    }
    return undefined
  }

  /** Input partitions this instance owns. */
  assignment(): TopicPartition[] {
    return this.#consumer?.assignment() ?? []
  }

  // ---- interactive queries (src/query/) ---------------------------------------------------------

  /**
   * A read-only, typed view of store `name` across the tasks this instance owns. Reads see
   * committed-or-newer local state; a store still restoring throws a retriable KSTREAMS_STORE
   * error saying how far the restore is, unless `allowRestoring` is set.
   *
   * @example const count = await app.store('counts').get('kafka')
   */
  store<N extends StoreNameOf<T>>(name: N, options?: ReadOptions): StoreViewOf<StoresOf<T>[N]> {
    return this.#queryService().local.view(name, options) as StoreViewOf<StoresOf<T>[N]>
  }

  /** Every live instance with its endpoint and tasks (after `serveQueries()` or `advertise()`). */
  metadata(): InstanceMetadata[] {
    return this.#queryService().metadata()
  }

  /** The partition, task and live owner of `key` in store `name`, by the partitioner its input uses. */
  metadataForKey<N extends StoreNameOf<T>>(name: N, key: StoreKeyOf<StoresOf<T>[N]>): Promise<KeyMetadata> {
    return this.#queryService().metadataForKey(name, key)
  }

  /**
   * Joins the instance directory (`<applicationId>-instances`) without a built-in server, for an
   * application that serves its stores itself: `metadata()` then lists every live instance.
   */
  async advertise(options: AdvertiseOptions = {}): Promise<void> {
    await this.#queryService().advertise(options)
  }

  /** Serves the stores over HTTP (see `ServeQueriesOptions`) and advertises the server's endpoint. */
  async serveQueries(options: ServeQueriesOptions = {}): Promise<QueryServer> {
    const server = await startQueryServer(
      this.#queryService(),
      {
        state: () => this.#state,
        restoringTasks: () =>
          [...this.#tasks.values()]
            .filter((task) => this.#restorer?.isRestoring(task))
            .map((task) => task.id),
      },
      options,
    )
    this.#queryServers.push(server)
    return server
  }

  #queryService(): QueryService {
    this.#queries ??= new QueryService({
      topology: this.topology,
      applicationId: this.config.applicationId,
      clientId: this.config.clientId,
      logger: this.config.logger,
      tasks: () =>
        [...this.#tasks.values()].map(
          (task): LocalTask => ({
            id: task.id,
            partition: task.partition,
            subtopologyId: task.subtopology.id,
            getStore: (name) => task.getStore(name),
            restoring: () => this.#restorer?.progress(task),
          }),
        ),
      partitionCount: (topic) => this.#partitionCount(topic),
      clients: () =>
        this.#kafka && this.#admin && this.#producer
          ? { kafka: this.#kafka, admin: this.#admin, producer: this.#producer }
          : undefined,
    })
    return this.#queries
  }

  #partitionCount(topic: string): Promise<number> {
    let count = this.#partitionCounts.get(topic)
    if (!count) {
      const admin = this.#admin
      if (!admin) throw new IllegalStateError('queries need a started application: await app.start() first')
      count = admin.describeTopics([topic]).then((found) => {
        const partitions = found.get(topic)?.partitions
        if (!partitions)
          throw new KafkaError(`topic "${topic}" was not found`, { retriable: true, context: { topic } })
        return partitions
      })
      count.catch(() => this.#partitionCounts.delete(topic))
      this.#partitionCounts.set(topic, count)
    }
    return count
  }

  async #closeQueries(): Promise<void> {
    const servers = this.#queryServers.splice(0)
    await Promise.all(servers.map((server) => server.close()))
    await this.#queries?.close()
  }

  readonly #listener: GroupListener = {
    onAssigned: (partitions, committed) => this.#serialized(() => this.#assign(partitions, committed)),
    onRevoked: (partitions) => this.#serialized(() => this.#revoke(partitions, true)),
    onLost: (partitions) => this.#serialized(() => this.#revoke(partitions, false)),
  }

  // ---- the loops ---------------------------------------------------------------------------

  async #fetchLoop(): Promise<void> {
    const consumer = () => this.#consumer!
    try {
      while (!this.#stopping) {
        if (this.#budget.exhausted) {
          // Everything buffered counts against one budget: wait until half of it was processed.
          while (!this.#stopping && this.#budget.bytes > this.#budget.maxBytes / 2) await sleep(5)
          continue
        }
        const batches = await consumer().poll(this.config.fetchMaxWaitMs)
        if (this.#stopping) break
        let enqueued = false
        for (const batch of batches) {
          const key = topicPartitionKey(batch.topic, batch.partition)
          const task = this.#taskByPartition.get(key)
          if (!task) continue
          task.enqueue(batch.topic, batch.records)
          enqueued ||= batch.records.length > 0
          if (channels.lag.hasSubscribers && batch.records.length > 0) {
            const last = batch.records[batch.records.length - 1]!.offset
            channels.lag.publish({
              topic: batch.topic,
              partition: batch.partition,
              lag: batch.highWatermark - last - 1n,
            })
          }
          if (
            task.buffered(batch.topic) >= this.config.maxBufferedRecordsPerPartition &&
            !this.#paused.has(key)
          ) {
            const partition = { topic: batch.topic, partition: batch.partition }
            this.#paused.set(key, partition)
            consumer().pause([partition])
          }
        }
        if (enqueued) this.#wake()
      }
    } catch (error) {
      await this.#fail(error)
    }
  }

  async #dispatchLoop(): Promise<void> {
    const collectors = [this.#collector!, this.#changelogCollector!]
    try {
      while (!this.#stopping) {
        const full = collectors.find((collector) => collector.failure || !collector.hasCapacity)
        if (full?.failure) throw full.failure
        if (full) {
          await full.waitForCapacity()
          continue
        }
        const now = Date.now()
        let started = 0
        for (const task of this.#tasks.values()) {
          if (this.#restorer!.isRestoring(task) || this.#unrestored.has(task)) continue
          let count: number
          try {
            count = task.pump(RECORDS_PER_TASK_PASS, now)
          } catch (error) {
            if (!isFencedError(error)) throw error
            void this.#serialized(() => this.#resetFenced([task]))
            continue
          }
          if (count > 0 && channels.recordsProcessed.hasSubscribers) {
            channels.recordsProcessed.publish({ taskId: task.id, count })
          }
          started += count
        }
        this.#resumeDrained()
        if (started > 0) await yieldToEventLoop()
        else {
          this.#writeDownIdle()
          await this.#waitForWork()
        }
      }
    } catch (error) {
      await this.#fail(error)
    } finally {
      this.#idleWriteDown!.close()
    }
  }

  async #commitLoop(): Promise<void> {
    try {
      while (!this.#stopping) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.config.commitIntervalMs)
          this.#wakeCommit = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        this.#wakeCommit = undefined
        if (this.#stopping || this.#state === 'rebalancing' || this.#failure) continue
        const tasks = [...this.#tasks.values()].filter(
          (task) => !this.#restorer!.isRestoring(task) && !this.#unrestored.has(task),
        )
        if (tasks.length > 0) await this.#commit(tasks)
        if (channels.partitionProgress.hasSubscribers) {
          for (const progress of this.progress()) channels.partitionProgress.publish(progress)
        }
      }
    } catch (error) {
      await this.#fail(error)
    }
  }

  /** Wakes the dispatcher for wall-clock punctuations and watches for broker outages. */
  async #tickLoop(): Promise<void> {
    try {
      while (!this.#stopping) {
        await sleep(TICK_MS)
        this.#wake()
        this.#watchConnectivity()
      }
    } catch (error) {
      await this.#fail(error)
    }
  }

  /** Idle tasks write cached changes down ahead of their commits (`IdleWriteDown`), only when the app runs steadily and no commit is under way. */
  #writeDownIdle(): void {
    if (this.#state !== 'running' || this.#coordinator!.committing) return
    this.#idleWriteDown!.run(this.#idleCandidates())
  }

  *#idleCandidates(): Generator<StreamTask> {
    for (const task of this.#tasks.values()) {
      if (!this.#restorer!.isRestoring(task) && !this.#unrestored.has(task)) yield task
    }
  }

  #waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeDispatch = resolve
    })
  }

  #wake(): void {
    const wake = this.#wakeDispatch
    this.#wakeDispatch = undefined
    wake?.()
  }

  #resumeDrained(): void {
    if (this.#paused.size === 0) return
    const resume: TopicPartition[] = []
    for (const [key, partition] of this.#paused) {
      const task = this.#taskByPartition.get(key)
      if (!task || task.buffered(partition.topic) <= this.config.maxBufferedRecordsPerPartition / 2) {
        this.#paused.delete(key)
        if (task) resume.push(partition)
      }
    }
    if (resume.length > 0) this.#consumer!.resume(resume)
  }

  /** Turns an outage the port reports into the `degraded` state, and into a failure when too long. */
  #watchConnectivity(): void {
    const outage = this.#kafka?.connectivity?.outage()
    const { logger, brokerUnavailableTimeoutMs } = this.config
    if (outage && this.#outageSince === undefined) {
      this.#outageSince = outage.sinceMs
      logger.warn(
        `Kafka at ${outage.brokers} is not answering (${outage.lastError}); retrying, and failing if it stays away for ${brokerUnavailableTimeoutMs} ms`,
      )
      if (channels.brokerOutage.hasSubscribers) {
        channels.brokerOutage.publish({ phase: 'start', brokers: outage.brokers, error: outage.lastError })
      }
      if (this.#state === 'running') this.#setState('degraded')
    } else if (!outage && this.#outageSince !== undefined) {
      const durationMs = Date.now() - this.#outageSince
      this.#outageSince = undefined
      logger.info(`Kafka answers again after ${durationMs} ms`)
      if (channels.brokerOutage.hasSubscribers) {
        channels.brokerOutage.publish({
          phase: 'end',
          brokers: this.config.bootstrapServers.join(', '),
          durationMs,
        })
      }
      if (this.#state === 'degraded') this.#setState('running')
    }
    if (outage && Date.now() - outage.sinceMs > brokerUnavailableTimeoutMs) {
      void this.#fail(
        new KafkaError(
          `Kafka at ${outage.brokers} has been unreachable for ${Math.round((Date.now() - outage.sinceMs) / 1000)} s, longer than brokerUnavailableTimeoutMs (${brokerUnavailableTimeoutMs} ms); last error: ${outage.lastError}`,
          { retriable: true, context: { option: 'brokerUnavailableTimeoutMs', brokers: outage.brokers } },
        ),
      )
    }
  }

  // ---- commits and membership ---------------------------------------------------------------

  /**
   * One commit through the coordinator. Tasks the group fenced are lost at once (the consumer
   * rejoins and the group assigns again); tasks a store fenced are rebuilt here.
   */
  async #commit(tasks: StreamTask[]): Promise<void> {
    const outcome = await this.#coordinator!.commit(tasks)
    this.#idleWriteDown!.committed()
    this.#watchStores(outcome)
    if (outcome.groupFenced.length > 0) await this.#serialized(() => this.#lose(outcome.groupFenced))
    if (outcome.fenced.length > 0) await this.#serialized(() => this.#resetFenced(outcome.fenced))
  }

  /** Reads `offset.metadata.max.bytes` from the broker; Kafka's default when it cannot be read. */
  async #readMetadataLimit(admin: AdminPort): Promise<number> {
    const key = 'offset.metadata.max.bytes'
    try {
      const value = Number((await admin.describeBrokerConfigs?.([key]))?.[key])
      if (Number.isInteger(value) && value > 0) {
        this.config.logger.debug(`commit metadata limit: ${value} bytes (${key})`)
        return value
      }
    } catch (error) {
      this.config.logger.warn(
        `cannot read ${key} from the broker (${error instanceof Error ? error.message : String(error)}); assuming Kafka's default, ${MAX_METADATA_CHARACTERS}`,
      )
    }
    return MAX_METADATA_CHARACTERS
  }

  /** The commit metadata limit in use (the broker's `offset.metadata.max.bytes`, read at start). */
  get metadataMaxBytes(): number {
    return this.#metadataMaxCharacters
  }

  /**
   * Tasks whose stores could not flush commit nothing and are flushed again by the next commit;
   * logged once per streak, and fatal once the streak outlasts `storeUnavailableTimeoutMs`.
   */
  #watchStores(outcome: CommitOutcome): void {
    const first = outcome.unflushed[0]
    if (!first) {
      if (this.#storeOutageSince !== undefined) {
        this.config.logger.info(
          `stores flush again after ${Date.now() - this.#storeOutageSince} ms; commits go on`,
        )
        this.#storeOutageSince = undefined
      }
      return
    }
    const tasks = outcome.unflushed.map(({ task }) => task.id).join(', ')
    if (this.#storeOutageSince === undefined) {
      this.#storeOutageSince = Date.now()
      this.config.logger.warn(
        `task(s) ${tasks} could not flush their stores, so their offsets are not committed; retrying at every commit for up to ${this.config.storeUnavailableTimeoutMs} ms (storeUnavailableTimeoutMs): ${first.error.message}`,
        { code: first.error.code, ...first.error.context },
      )
      return
    }
    const elapsed = Date.now() - this.#storeOutageSince
    if (elapsed > this.config.storeUnavailableTimeoutMs) {
      throw new StoreError(
        `task(s) ${tasks} could not flush their stores for ${elapsed} ms (storeUnavailableTimeoutMs is ${this.config.storeUnavailableTimeoutMs}): ${first.error.message}`,
        { cause: first.error, context: { ...first.error.context, option: 'storeUnavailableTimeoutMs' } },
      )
    }
  }

  /** Closes tasks still here as lost (without committing); returns the partitions they had. */
  async #lose(tasks: StreamTask[]): Promise<TopicPartition[]> {
    const partitions: TopicPartition[] = []
    for (const task of tasks) {
      if (this.#tasks.get(task.id) !== task) continue
      for (const topic of task.subtopology.sourceTopics) {
        if (this.#taskByPartition.get(topicPartitionKey(topic, task.partition)) === task) {
          partitions.push({ topic, partition: task.partition })
        }
      }
    }
    if (partitions.length > 0) await this.#revoke(partitions, false)
    return partitions
  }

  /**
   * A store said another instance owns these tasks now: they are lost (closed without committing)
   * and built again from the committed offsets, so nothing is skipped; if the group moved them,
   * the next rebalance takes them away.
   */
  async #resetFenced(tasks: StreamTask[]): Promise<void> {
    const live = tasks.filter((task) => this.#tasks.get(task.id) === task)
    if (live.length === 0) return
    this.config.logger.error(
      `task(s) ${live.map((task) => task.id).join(', ')} were fenced: another instance owns them now; closing them without committing and rebuilding them from the committed offsets`,
    )
    const partitions = await this.#lose(live)
    const consumer = this.#consumer!
    const owned = new Set(
      consumer.assignment().map(({ topic, partition }) => topicPartitionKey(topic, partition)),
    )
    const still = partitions.filter(({ topic, partition }) => owned.has(topicPartitionKey(topic, partition)))
    if (still.length === 0) return
    let committed: Map<string, OffsetAndMetadata | null>
    try {
      committed = await consumer.committed(still)
    } catch (error) {
      // The member itself was fenced meanwhile: the group consumer reports the partitions lost and rejoins.
      if (isFencedError(error)) return
      throw error
    }
    for (const partition of still) {
      consumer.seek(
        partition,
        committed.get(topicPartitionKey(partition.topic, partition.partition))?.offset ?? 0n,
      )
    }
    await this.#assign(still, committed)
  }

  async #assign(
    partitions: TopicPartition[],
    committed?: ReadonlyMap<string, OffsetAndMetadata | null>,
  ): Promise<void> {
    if (channels.rebalance.hasSubscribers) channels.rebalance.publish({ kind: 'assigned', partitions })
    if (this.#state === 'running' || this.#state === 'degraded') this.#setState('rebalancing')
    const generation = this.#consumer!.generation()
    // The committed completed-offset maps: a new task skips the records they list.
    committed ??= await this.#consumer!.committed(partitions)
    for (const { topic, partition } of partitions) {
      const subtopology = this.topology.subtopologyByTopic.get(topic)
      if (!subtopology) continue
      const taskId = `${subtopology.id}_${partition}`
      let task = this.#tasks.get(taskId)
      if (!task) {
        const skipOffsets = new Map<string, bigint[]>()
        for (const source of subtopology.sourceTopics) {
          const entry = committed.get(topicPartitionKey(source, partition))
          const completed = decodeCommitMetadata(entry?.metadata, entry?.offset)?.completed ?? []
          if (completed.length > 0) skipOffsets.set(source, completed)
        }
        task = new StreamTask({
          applicationId: this.config.applicationId,
          topology: this.topology,
          subtopology,
          partition,
          collector: this.#collector!,
          changelogCollector: this.#changelogCollector!,
          errorPolicies: this.config.errorPolicies,
          logger: this.config.logger,
          stateDir: this.config.stateDir,
          cacheMaxBytes: this.config.cacheMaxBytesPerTask,
          ...(this.#globalStores ? { globalStores: this.#globalStores.stores } : {}),
          now: Date.now,
          ownership: generation,
          processingTimeoutMs: this.config.processingTimeoutMs,
          budget: this.#budget,
          inFlight: this.#inFlight,
          onRunnable: () => this.#wake(),
          onFailure: (error) => {
            // A store refused a write for a newer owner: the task is lost, not the app.
            if (isFencedError(error)) void this.#serialized(() => this.#resetFenced([task!]))
            else void this.#fail(error)
          },
          skipOffsets,
          metadataMaxCharacters: this.#metadataMaxCharacters,
        })
        try {
          await task.init()
        } catch (error) {
          if (!isFencedError(error)) throw error
          // A store says a newer owner has the task: this member's assignment is stale, and the
          // group moves the partitions away soon. Until then they are not read here.
          this.config.logger.error(
            `task ${taskId} was not opened: ${(error as Error).message}; its partitions wait, unread, until the group moves them`,
          )
          this.#consumer!.pause(subtopology.sourceTopics.map((source) => ({ topic: source, partition })))
          continue
        }
        this.#tasks.set(taskId, task)
        if (task.loggedStores.length > 0) {
          this.#restorer!.start(task, (error) => {
            if (!error) this.#wake()
            // Fenced while restoring (its offset fetch found the member gone): the task is lost,
            // not the app, as when a store refuses a write for a newer owner. Its state is not
            // restored, so it must not process meanwhile.
            else if (isFencedError(error)) {
              this.#unrestored.add(task!)
              void this.#serialized(() => this.#resetFenced([task!]))
            } else void this.#fail(error)
          })
        }
      }
      this.#taskByPartition.set(topicPartitionKey(topic, partition), task)
    }
    this.config.logger.info(
      `assigned ${partitions.length} partition(s); ${this.#tasks.size} task(s) running`,
      { partitions: partitions.map(({ topic, partition }) => `${topic}-${partition}`) },
    )
    if (this.#state === 'rebalancing')
      this.#setState(this.#outageSince === undefined ? 'running' : 'degraded')
    const owned = new Set(this.#tasks.keys())
    cleanTaskDirectories(
      this.config.stateDir,
      this.config.applicationId,
      owned,
      this.config.stateCleanupDelayMs,
      this.config.logger,
    ).catch(() => {})
    this.#wake()
  }

  /**
   * Gives partitions up. Revoked: stop starting their records, let the running ones finish within
   * the rebalance budget, commit, close the tasks. Lost: close them at once without committing
   * (their results belong to an epoch that is over).
   */
  async #revoke(partitions: TopicPartition[], commit: boolean): Promise<void> {
    if (channels.rebalance.hasSubscribers) {
      channels.rebalance.publish({ kind: commit ? 'revoked' : 'lost', partitions })
    }
    const affected = new Set<StreamTask>()
    for (const { topic, partition } of partitions) {
      const key = topicPartitionKey(topic, partition)
      const task = this.#taskByPartition.get(key)
      if (task) affected.add(task)
      task?.clearQueue(topic)
      this.#taskByPartition.delete(key)
      this.#paused.delete(key)
    }
    const orphaned = [...affected].filter((task) => ![...this.#taskByPartition.values()].includes(task))
    if (commit && affected.size > 0 && !this.#failure) {
      // Closing drained already (within closeTimeoutMs) and gave up what still ran: no second wait.
      if (!this.#stopping) await this.#drain([...affected], this.config.revokeDrainMs)
      const outcome = await this.#coordinator!.commit(affected)
      for (const { task, error } of outcome.unflushed) {
        this.config.logger.warn(
          `task ${task.id} is handed over without a commit: its stores could not flush (${error.message}); its next owner processes again from the last committed offsets`,
        )
      }
    } else if (!commit && orphaned.length > 0) {
      // Results of a lost epoch are dropped: the task's unsent records, and any commit of it under way.
      for (const task of orphaned) task.markLost()
      const owners = new Set(orphaned.map((task) => task.id))
      this.#collector?.discardUnsent(owners)
      this.#changelogCollector?.discardUnsent(owners)
    }
    await this.#closeTasks(orphaned)
    this.config.logger.info(`${commit ? 'revoked' : 'lost'} ${partitions.length} partition(s)`, {
      partitions: partitions.map(({ topic, partition }) => `${topic}-${partition}`),
    })
  }

  /** Waits until the tasks' running records finished, at most `budgetMs`. */
  async #drain(tasks: StreamTask[], budgetMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMs)
    })
    const drained = await Promise.race([
      Promise.all(tasks.map((task) => task.idle())).then(() => true),
      expired,
    ])
    clearTimeout(timer)
    if (!drained) {
      this.config.logger.warn(
        `records still running after ${budgetMs} ms; committing what is done (the rest is processed again by the next owner)`,
      )
      for (const task of tasks) task.abandonRunning()
    }
  }

  async #closeTasks(tasks: StreamTask[]): Promise<void> {
    for (const task of tasks) {
      await this.#restorer?.cancel(task)
      await task.close()
      this.#tasks.delete(task.id)
    }
  }

  async #closeClients(): Promise<void> {
    const results = await Promise.allSettled([
      this.#restorer?.close(),
      this.#globalStores?.close(),
      this.#producer?.close(),
      this.#changelogProducer?.close(),
      this.#admin?.close(),
    ])
    for (const result of results) {
      if (result.status === 'rejected')
        this.config.logger.warn(`closing a Kafka client failed: ${String(result.reason)}`)
    }
  }

  /** Stops on an error without committing anything more, then calls `onFatalError`. */
  async #fail(cause: unknown, fatal = true): Promise<void> {
    if (this.#failure) return
    const error = this.#describeOutage(cause instanceof Error ? cause : new Error(String(cause)))
    this.#failure = error
    this.#stopping = true
    this.#wake()
    this.#wakeCommit?.()
    process.off('SIGTERM', this.#signalHandler)
    process.off('SIGINT', this.#signalHandler)
    const described = KStreamsError.isInstance(error) ? `${error.code}: ${error.message}` : error.message
    this.config.logger.error(
      `stopping on error: ${described}`,
      KStreamsError.isInstance(error) ? error.context : {},
    )
    this.#setState('error')
    await this.#closeQueries().catch(() => {})
    // Leave the group so it need not wait for this member; #revoke commits nothing once #failure is set.
    await this.#consumer?.close().catch(() => {})
    await this.#closeTasks([...this.#tasks.values()]).catch(() => {})
    // What was handed to the producer before the failure still goes out (nothing is committed for it).
    const flushed = [this.#collector, this.#changelogCollector].map((collector) =>
      collector?.flush().catch(() => {}),
    )
    await Promise.race([Promise.all(flushed), sleep(FAILURE_FLUSH_MS)])
    await this.#closeClients()
    this.#done.reject(error)
    if (this.listenerCount('error') > 0) this.emit('error', error)
    if (fatal) this.config.onFatalError(error)
  }

  /**
   * A produce or Kafka failure while no broker answers is the outage itself (whichever client gave
   * up first): it is reported as one KSTREAMS_KAFKA error naming the brokers and how long they
   * were away, with the client's error as its cause.
   */
  #describeOutage(error: Error): Error {
    const outage = this.#kafka?.connectivity?.outage()
    if (!outage || !KStreamsError.isInstance(error)) return error
    if (error.code !== 'KSTREAMS_PRODUCTION' && error.code !== 'KSTREAMS_KAFKA') return error
    if (error.code === 'KSTREAMS_KAFKA' && error.context.option === 'brokerUnavailableTimeoutMs') return error
    const seconds = ((Date.now() - outage.sinceMs) / 1000).toFixed(1)
    return new KafkaError(
      `Kafka at ${outage.brokers} has been unreachable for ${seconds} s: ${error.message}`,
      {
        cause: error,
        retriable: true,
        context: { ...error.context, brokers: outage.brokers, unreachableMs: Date.now() - outage.sinceMs },
      },
    )
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#membership.then(work)
    this.#membership = result.catch(() => {})
    return result
  }

  #setState(state: AppState): void {
    const previous = this.#state
    if (previous === state) return
    this.#state = state
    if (state === 'not-running' || state === 'error') this.#releaseHeapBounds()
    if (channels.stateChange.hasSubscribers) channels.stateChange.publish({ from: previous, to: state })
    this.emit('stateChange', state, previous)
  }
}

/** Creates an application; call `start()` to run it. */
export function createApp<T extends Topology>(topology: T, config: StreamsConfig): KStreamsApp<T> {
  return new KStreamsApp(topology, config)
}

export { checkNodeVersion }
