// The at-least-once runtime: joins the consumer group named by applicationId, runs one StreamTask
// per (sub-topology, partition) it owns, and commits input offsets only after everything those
// records caused is durable (stores flushed, produced records acknowledged).
import { EventEmitter } from 'node:events'
import { channels } from '../diagnostics.js'
import { IllegalStateError, KStreamsError, TopologyError } from '../errors.js'
import {
  type AdminPort,
  type GroupConsumer,
  type GroupListener,
  type KafkaPort,
  type ProducerPort,
  type TopicPartition,
  topicPartitionKey,
} from '../kafka/kafka-port.js'
import { createPlatformaticKafkaPort } from '../kafka/platformatic-kafka-port.js'
import { cleanTaskDirectories } from '../state/task-directory.js'
import type { StateStore } from '../state-store.js'
import type { Topology } from '../topology.js'
import { type ResolvedConfig, resolveConfig, type StreamsConfig } from './config.js'
import { KafkaRecordCollector } from './kafka-record-collector.js'
import { StateRestorer } from './state-restorer.js'
import { changelogTopic, encodeCommitMetadata, StreamTask } from './task.js'

/**
 * - `created`: not started yet.
 * - `rebalancing`: joining the group or moving partitions.
 * - `running`: processing.
 * - `pending-shutdown`: `close()` was called; draining and committing.
 * - `not-running`: closed.
 * - `error`: stopped on an error; nothing after the failing record was committed.
 */
export type AppState = 'created' | 'rebalancing' | 'running' | 'pending-shutdown' | 'not-running' | 'error'

/** Records processed per task before the loop moves to the next task. */
const RECORDS_PER_TASK_PASS = 1000

export interface KStreamsAppEvents {
  stateChange: [state: AppState, previous: AppState]
  error: [error: Error]
}

export class KStreamsApp extends EventEmitter<KStreamsAppEvents> {
  readonly topology: Topology
  readonly config: ResolvedConfig
  #state: AppState = 'created'
  #kafka: KafkaPort | undefined
  #admin: AdminPort | undefined
  #producer: ProducerPort | undefined
  #consumer: GroupConsumer | undefined
  #collector: KafkaRecordCollector | undefined
  #restorer: StateRestorer | undefined
  readonly #tasks = new Map<string, StreamTask>()
  /** Task of each assigned input partition. */
  readonly #taskByPartition = new Map<string, StreamTask>()
  readonly #paused = new Map<string, TopicPartition>()
  #exclusive: Promise<unknown> = Promise.resolve()
  #loop: Promise<void> | undefined
  #stopping = false
  #lastCommit = Date.now()
  #failure: Error | undefined
  #done: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void }
  readonly #signalHandler = () => {
    this.config.logger.info('signal received, closing gracefully')
    void this.close()
  }

  constructor(topology: Topology, config: StreamsConfig) {
    super()
    this.topology = topology
    this.config = resolveConfig(config)
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

  /** Resolves when the application has closed; rejects with the error that stopped it. */
  done(): Promise<void> {
    return this.#done.promise
  }

  /**
   * Checks the topics, joins the group and starts processing in the background. Resolves once
   * the application is a member of the group.
   */
  async start(): Promise<void> {
    if (this.#state !== 'created') {
      throw new IllegalStateError(
        `start() can be called once, on a created application; it is ${this.#state}`,
      )
    }
    this.#setState('rebalancing')
    const { config } = this
    try {
      const kafka =
        config.kafka ??
        createPlatformaticKafkaPort({ bootstrapServers: config.bootstrapServers, clientId: config.clientId })
      this.#kafka = kafka
      this.#admin = kafka.createAdmin({ clientId: `${config.clientId}-admin` })
      this.#producer = kafka.createProducer({
        clientId: `${config.clientId}-producer`,
        lingerMs: config.producerLingerMs,
      })
      this.#collector = new KafkaRecordCollector({
        producer: this.#producer,
        admin: this.#admin,
        batchSize: config.producerBatchSize,
        batchMaxBytes: config.producerBatchMaxBytes,
        lingerMs: config.producerLingerMs,
        policy: config.errorPolicies.production,
        logger: config.logger,
      })
      await this.#checkTopics()
      this.#consumer = kafka.createConsumer({
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
      })
      this.#restorer = new StateRestorer({
        kafka,
        clientId: config.clientId,
        consumer: this.#consumer,
        logger: config.logger,
        batchSize: config.restoreBatchSize,
        fetchMaxBytes: config.fetchMaxBytes,
      })
      await this.#consumer.subscribe()
    } catch (error) {
      await this.#fail(error)
      throw error
    }
    if (config.handleSignals) {
      process.once('SIGTERM', this.#signalHandler)
      process.once('SIGINT', this.#signalHandler)
    }
    this.#loop = this.#run()
  }

  /**
   * Stops processing, commits what is done (flushing stores and awaiting acknowledgements first),
   * leaves the group and closes every client.
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
    process.off('SIGTERM', this.#signalHandler)
    process.off('SIGINT', this.#signalHandler)
    try {
      await this.#loop
      if (this.#failure) return
      await this.#runExclusive(() => this.#commit())
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

  /** A store of a task on this instance, for interactive queries and tests. */
  getStore<S extends StateStore>(name: string, partition: number): S | undefined {
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

  readonly #listener: GroupListener = {
    onAssigned: (partitions) => this.#runExclusive(() => this.#assign(partitions)),
    onRevoked: (partitions) => this.#runExclusive(() => this.#revoke(partitions, true)),
    onLost: (partitions) => this.#runExclusive(() => this.#revoke(partitions, false)),
  }

  async #checkTopics(): Promise<void> {
    const admin = this.#admin!
    const sourceTopics = this.topology.sourceTopics
    const sinkTopics = [
      ...new Set(this.topology.subtopologies.flatMap((subtopology) => subtopology.sinkTopics)),
    ]
    const described = await admin.describeTopics([...new Set([...sourceTopics, ...sinkTopics])])
    const missing = sourceTopics.filter((topic) => !described.has(topic))
    if (missing.length > 0) {
      throw new TopologyError(
        `source topic(s) ${missing.map((topic) => `"${topic}"`).join(', ')} do not exist; create them before starting (kstreams does not create input topics)`,
        { context: { topic: missing[0] } },
      )
    }
    for (const subtopology of this.topology.subtopologies) {
      const counts = subtopology.sourceTopics.map((topic) => `${topic} (${described.get(topic)!.partitions})`)
      const distinct = new Set(subtopology.sourceTopics.map((topic) => described.get(topic)!.partitions))
      if (distinct.size > 1) {
        throw new TopologyError(
          `sub-topology ${subtopology.id} reads topics that are not co-partitioned: ${counts.join(', ')}; they need the same number of partitions`,
          { context: { topic: subtopology.sourceTopics[0] } },
        )
      }
    }
    for (const topic of sinkTopics) {
      const description = described.get(topic)
      if (description) this.#collector!.setPartitionCount(topic, description.partitions)
    }
    await this.#ensureChangelogs((topic) => described.get(topic)!.partitions)
    const { errorPolicies } = this.config
    if (errorPolicies.deserialization === 'dead-letter' || errorPolicies.processing === 'dead-letter') {
      await admin.createTopics([{ name: errorPolicies.deadLetterTopic, partitions: 1 }])
    }
  }

  /**
   * Creates each store's compacted changelog with as many partitions as its sub-topology's sources,
   * or checks the one that exists.
   */
  async #ensureChangelogs(sourcePartitions: (topic: string) => number): Promise<void> {
    const admin = this.#admin!
    const wanted = new Map<
      string,
      { store: string; partitions: number; configs: { [name: string]: string } }
    >()
    for (const subtopology of this.topology.subtopologies) {
      for (const store of subtopology.stores) {
        const logging = this.topology.stores.get(store)!.logging
        if (logging === false) continue
        wanted.set(changelogTopic(this.config.applicationId, store), {
          store,
          partitions: sourcePartitions(subtopology.sourceTopics[0]!),
          configs: { ...logging.topicConfigs, 'cleanup.policy': 'compact' },
        })
      }
    }
    if (wanted.size === 0) return
    const existing = await admin.describeTopics([...wanted.keys()], ['cleanup.policy'])
    const missing = [...wanted].filter(([topic]) => !existing.has(topic))
    await admin.createTopics(
      missing.map(([name, { partitions, configs }]) => ({ name, partitions, configs })),
    )
    for (const [topic, { store, partitions }] of wanted) {
      const found = existing.get(topic)
      if (found && found.partitions !== partitions) {
        throw new TopologyError(
          `the changelog topic "${topic}" of store "${store}" has ${found.partitions} partition(s), but the store's source topics have ${partitions}; they must match (delete the changelog to rebuild it, or fix the sources)`,
          { context: { topic, store } },
        )
      }
      const policy = found?.configs?.['cleanup.policy']
      if (found && policy !== undefined && !policy.split(',').includes('compact')) {
        throw new TopologyError(
          `the changelog topic "${topic}" of store "${store}" has cleanup.policy=${policy}; it must include "compact" or old state is deleted`,
          { context: { topic, store } },
        )
      }
      this.#collector!.setPartitionCount(topic, partitions)
      this.#collector!.trackEndOffsets(topic)
    }
  }

  async #run(): Promise<void> {
    const consumer = this.#consumer!
    const collector = this.#collector!
    try {
      while (!this.#stopping) {
        const batches = await consumer.poll(this.#hasBufferedRecords() ? 0 : this.config.fetchMaxWaitMs)
        if (this.#stopping) break
        for (const batch of batches) {
          const key = topicPartitionKey(batch.topic, batch.partition)
          const task = this.#taskByPartition.get(key)
          if (!task) continue
          task.enqueue(batch.topic, batch.records)
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
            consumer.pause([partition])
          }
        }
        await this.#runExclusive(async () => {
          await this.#processBuffered()
          this.#resumeDrained()
          await this.#punctuateWallClock()
          if (collector.failure) throw collector.failure
          if (Date.now() - this.#lastCommit >= this.config.commitIntervalMs) await this.#commit()
        })
      }
    } catch (error) {
      await this.#fail(error)
    }
  }

  #hasBufferedRecords(): boolean {
    for (const task of this.#tasks.values())
      if (task.buffered() > 0 && !this.#restorer!.isRestoring(task)) return true
    return false
  }

  async #processBuffered(): Promise<void> {
    const collector = this.#collector!
    for (const task of this.#tasks.values()) {
      if (this.#restorer!.isRestoring(task)) continue
      let processed = 0
      while (processed < RECORDS_PER_TASK_PASS) {
        const outcome = task.processNext()
        if (outcome === false) break
        if (outcome !== true) await outcome
        processed += 1
      }
      if (processed > 0 && channels.recordsProcessed.hasSubscribers) {
        channels.recordsProcessed.publish({ taskId: task.id, count: processed })
      }
      if (!collector.hasCapacity) await collector.waitForCapacity()
    }
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

  async #punctuateWallClock(): Promise<void> {
    const now = Date.now()
    for (const task of this.#tasks.values()) await task.punctuateWallClock(now)
  }

  /** The commit cycle: flush stores, await every acknowledgement, then commit input offsets. */
  async #commit(tasks: Iterable<StreamTask> = this.#tasks.values()): Promise<void> {
    const started = Date.now()
    const selected = [...tasks]
    for (const task of selected) await task.flush()
    await this.#collector!.flush()
    // The metadata carries the task's stream time, so window closing resumes where it was.
    const offsets = selected.flatMap((task) =>
      task
        .committableOffsets()
        .map((offset) => ({ ...offset, metadata: encodeCommitMetadata(task.streamTime) })),
    )
    if (offsets.length > 0) {
      await this.#consumer!.commit(offsets)
      for (const task of selected)
        for (const offset of task.committableOffsets()) task.markCommitted(offset.topic, offset.offset)
    }
    const collector = this.#collector!
    for (const task of selected) {
      if (!this.#restorer!.isRestoring(task))
        task.checkpoint((topic, partition) => collector.endOffset(topic, partition))
    }
    this.#lastCommit = Date.now()
    if (channels.commit.hasSubscribers) {
      channels.commit.publish({ durationMs: this.#lastCommit - started, partitions: offsets.length })
    }
  }

  async #assign(partitions: TopicPartition[]): Promise<void> {
    if (channels.rebalance.hasSubscribers) channels.rebalance.publish({ kind: 'assigned', partitions })
    if (this.#state === 'running') this.#setState('rebalancing')
    for (const { topic, partition } of partitions) {
      const subtopology = this.topology.subtopologyByTopic.get(topic)
      if (!subtopology) continue
      const taskId = `${subtopology.id}_${partition}`
      let task = this.#tasks.get(taskId)
      if (!task) {
        task = new StreamTask({
          applicationId: this.config.applicationId,
          topology: this.topology,
          subtopology,
          partition,
          collector: this.#collector!,
          errorPolicies: this.config.errorPolicies,
          logger: this.config.logger,
          stateDir: this.config.stateDir,
          cacheMaxBytes: this.config.cacheMaxBytesPerTask,
          now: Date.now,
        })
        await task.init()
        this.#tasks.set(taskId, task)
        if (task.loggedStores.length > 0) {
          this.#restorer!.start(task, (error) => {
            if (error) void this.#fail(error)
          })
        }
      }
      this.#taskByPartition.set(topicPartitionKey(topic, partition), task)
    }
    this.config.logger.info(
      `assigned ${partitions.length} partition(s); ${this.#tasks.size} task(s) running`,
      {
        partitions: partitions.map(({ topic, partition }) => `${topic}-${partition}`),
      },
    )
    if (this.#state === 'rebalancing') this.#setState('running')
    const owned = new Set(this.#tasks.keys())
    cleanTaskDirectories(
      this.config.stateDir,
      this.config.applicationId,
      owned,
      this.config.stateCleanupDelayMs,
      this.config.logger,
    ).catch(() => {})
  }

  async #revoke(partitions: TopicPartition[], commit: boolean): Promise<void> {
    if (channels.rebalance.hasSubscribers) {
      channels.rebalance.publish({ kind: commit ? 'revoked' : 'lost', partitions })
    }
    const affected = new Set<StreamTask>()
    for (const { topic, partition } of partitions) {
      const task = this.#taskByPartition.get(topicPartitionKey(topic, partition))
      if (task) affected.add(task)
    }
    if (commit && affected.size > 0 && !this.#failure) await this.#commit(affected)
    for (const { topic, partition } of partitions) {
      const key = topicPartitionKey(topic, partition)
      this.#taskByPartition.get(key)?.clearQueue(topic)
      this.#taskByPartition.delete(key)
      this.#paused.delete(key)
    }
    const orphaned = [...affected].filter((task) => ![...this.#taskByPartition.values()].includes(task))
    await this.#closeTasks(orphaned)
    this.config.logger.info(`${commit ? 'revoked' : 'lost'} ${partitions.length} partition(s)`, {
      partitions: partitions.map(({ topic, partition }) => `${topic}-${partition}`),
    })
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
      this.#producer?.close(),
      this.#admin?.close(),
    ])
    for (const result of results) {
      if (result.status === 'rejected')
        this.config.logger.warn(`closing a Kafka client failed: ${String(result.reason)}`)
    }
  }

  /** Stops on an error without committing anything more. */
  async #fail(cause: unknown): Promise<void> {
    if (this.#failure) return
    const error = cause instanceof Error ? cause : new Error(String(cause))
    this.#failure = error
    this.#stopping = true
    process.off('SIGTERM', this.#signalHandler)
    process.off('SIGINT', this.#signalHandler)
    const described = KStreamsError.isInstance(error) ? `${error.code}: ${error.message}` : error.message
    this.config.logger.error(
      `stopping on error: ${described}`,
      KStreamsError.isInstance(error) ? error.context : {},
    )
    this.#setState('error')
    // Leave the group so it need not wait for this member; #revoke commits nothing once #failure is set.
    await this.#consumer?.close().catch(() => {})
    await this.#closeTasks([...this.#tasks.values()]).catch(() => {})
    await this.#closeClients()
    this.#done.reject(error)
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }

  #runExclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#exclusive.then(work)
    this.#exclusive = result.catch(() => {})
    return result
  }

  #setState(state: AppState): void {
    const previous = this.#state
    if (previous === state) return
    this.#state = state
    if (channels.stateChange.hasSubscribers) channels.stateChange.publish({ from: previous, to: state })
    this.emit('stateChange', state, previous)
  }
}

/** Creates an application; call `start()` to run it. */
export function createApp(topology: Topology, config: StreamsConfig): KStreamsApp {
  return new KStreamsApp(topology, config)
}
