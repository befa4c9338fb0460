// A task runs one sub-topology for one partition number: fresh processor instances, its stores,
// its input queues (one per co-partitioned source topic) and its stream time. The runtime and the
// test driver both drive tasks, so what a test shows is what production does.

import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { channels } from '../diagnostics.js'
import { ProcessingError, SerdeError, TopologyError } from '../errors.js'
import type { FetchedRecord } from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import type { Cancellable, Processor, ProcessorContext, PunctuationType, Punctuator } from '../processor.js'
import type { Record, RecordMetadata } from '../record.js'
import type { SerdeContext } from '../serde.js'
import { RecordCache } from '../state/record-cache.js'
import { TaskDirectory } from '../state/task-directory.js'
import type { ChangelogWriter, StateStore, StateStoreContext } from '../state-store.js'
import type { ProcessorNode, SinkNode, SourceNode, Subtopology, Topology, TopologyNode } from '../topology.js'
import { deadLetterRecord, type ErrorPolicies } from './error-policy.js'
import { OffsetTracker } from './offset-tracker.js'
import type { Partitioner, RecordCollector } from './record-collector.js'

export interface TaskOptions {
  applicationId: string
  topology: Topology
  subtopology: Subtopology
  partition: number
  collector: RecordCollector
  errorPolicies: ErrorPolicies
  logger: Logger
  stateDir: string
  /** Bytes of the task's record cache, shared by its stores. */
  cacheMaxBytes: number
  /** The wall clock. */
  now: () => number
}

/** A store with a changelog, as the restorer sees it. */
export interface LoggedStore {
  store: StateStore
  topic: string
  /** The changelog offset the local state matches (from the checkpoint); undefined: from the start. */
  checkpoint: bigint | undefined
}

const encoder = new TextEncoder()

/** Changelog header names: the input record whose processing caused the change. */
export const ChangelogHeaders = {
  inputTopic: 'kstreams.input.topic',
  inputOffset: 'kstreams.input.offset',
} as const

/** Commit metadata of a task's input offsets: its stream time. */
export function encodeCommitMetadata(streamTime: number): string {
  return JSON.stringify({ streamTime })
}

/** The stream time in commit metadata written by `encodeCommitMetadata`, if any. */
export function decodeCommitMetadata(metadata: string | null | undefined): number | undefined {
  if (!metadata) return undefined
  try {
    const parsed = JSON.parse(metadata) as { streamTime?: unknown }
    return typeof parsed.streamTime === 'number' ? parsed.streamTime : undefined
  } catch {
    return undefined
  }
}

/** The changelog topic of a store: `<applicationId>-<store>-changelog`. */
export function changelogTopic(applicationId: string, store: string): string {
  return `${applicationId}-${store}-changelog`
}

interface InputQueue {
  topic: string
  batches: FetchedRecord[][]
  /** Index of the next record in batches[0]. */
  index: number
  size: number
  offsets: OffsetTracker
}

interface Schedule {
  node: RuntimeNode
  intervalMs: number
  type: PunctuationType
  punctuator: Punctuator
  next: number
  cancelled: boolean
}

/** A node instantiated for one task. */
interface RuntimeNode {
  definition: TopologyNode
  children: RuntimeNode[]
  childByName: Map<string, RuntimeNode>
  processor: Processor<unknown, unknown, unknown, unknown> | undefined
  context: ProcessorContext<unknown, unknown> | undefined
}

export class StreamTask {
  readonly id: string
  readonly partition: number
  readonly subtopology: Subtopology
  readonly #options: TaskOptions
  readonly #queues = new Map<string, InputQueue>()
  readonly #nodes = new Map<string, RuntimeNode>()
  readonly #stores = new Map<string, StateStore>()
  readonly #logged: LoggedStore[] = []
  readonly #encodedTopics = new Map<string, Uint8Array>()
  #directory: TaskDirectory | undefined
  #cache: RecordCache
  readonly #schedules: Schedule[] = []
  readonly #keyContext: SerdeContext = { topic: '', target: 'key', headers: [] }
  readonly #valueContext: SerdeContext = { topic: '', target: 'value', headers: [] }
  /** Promises started while processing the current record (async processors). */
  #pending: Promise<unknown>[] = []
  #current: RecordMetadata | undefined
  #currentTimestamp = -1
  #streamTime = -1
  #closed = false

  constructor(options: TaskOptions) {
    this.#options = options
    this.subtopology = options.subtopology
    this.partition = options.partition
    this.id = `${options.subtopology.id}_${options.partition}`
    this.#cache = new RecordCache(options.cacheMaxBytes)
    for (const topic of options.subtopology.sourceTopics) {
      this.#queues.set(topic, { topic, batches: [], index: 0, size: 0, offsets: new OffsetTracker() })
    }
  }

  get streamTime(): number {
    return this.#streamTime
  }

  /** Resumes stream time from the last commit (it never moves backwards). */
  resumeStreamTime(streamTime: number): void {
    if (streamTime > this.#streamTime) this.#streamTime = streamTime
  }

  /** Stores with a changelog, with the offset each one's local state matches. */
  get loggedStores(): readonly LoggedStore[] {
    return this.#logged
  }

  /**
   * Opens stores and initializes processors, parents first. Persistent stores whose checkpoint
   * does not vouch for them are wiped, to be rebuilt from their changelog.
   */
  async init(): Promise<void> {
    const { topology, subtopology, applicationId, stateDir } = this.#options
    const checkpoint = new Map<string, bigint>()
    try {
      for (const storeName of subtopology.stores) {
        const builder = topology.stores.get(storeName)!
        const topic = builder.logging === false ? undefined : changelogTopic(applicationId, storeName)
        let directory = join(stateDir, applicationId, this.id, storeName)
        if (builder.persistent) {
          if (!this.#directory) {
            this.#directory = await TaskDirectory.lock(stateDir, applicationId, this.id, storeName)
            for (const [store, offset] of this.#directory.readCheckpoint()) checkpoint.set(store, offset)
          }
          if (topic && !checkpoint.has(storeName)) this.#directory.wipeStore(storeName)
          directory = this.#directory.storeDirectory(storeName)
          await mkdir(directory, { recursive: true })
        }
        const store = builder.build()
        await store.init(this.#storeContext(directory, topic))
        this.#stores.set(storeName, store)
        if (topic) {
          this.#logged.push({
            store,
            topic,
            checkpoint: builder.persistent ? checkpoint.get(storeName) : undefined,
          })
        }
      }
    } catch (error) {
      await this.#closeStores()
      throw error
    }
    for (const definition of subtopology.nodes) {
      const node: RuntimeNode = {
        definition,
        children: [],
        childByName: new Map(),
        processor: undefined,
        context: undefined,
      }
      this.#nodes.set(definition.name, node)
    }
    for (const node of this.#nodes.values()) {
      for (const childName of topology.children.get(node.definition.name) ?? []) {
        const child = this.#nodes.get(childName)!
        node.children.push(child)
        node.childByName.set(childName, child)
      }
    }
    for (const node of this.#nodes.values()) {
      if (node.definition.kind !== 'processor') continue
      node.processor = node.definition.supplier()
      node.context = this.#createContext(node, node.definition)
      try {
        await node.processor.init?.(node.context)
      } catch (error) {
        throw new ProcessingError(`processor "${node.definition.name}" failed in init() in task ${this.id}`, {
          cause: error,
          context: { processor: node.definition.name, taskId: this.id },
        })
      }
    }
  }

  /** Adds fetched records of one input partition; they are processed in timestamp order across inputs. */
  enqueue(topic: string, records: FetchedRecord[]): void {
    if (records.length === 0) return
    const queue = this.#queue(topic)
    queue.batches.push(records)
    queue.size += records.length
  }

  /** Records waiting in the queue of `topic` (or all queues). */
  buffered(topic?: string): number {
    if (topic !== undefined) return this.#queues.get(topic)?.size ?? 0
    let total = 0
    for (const queue of this.#queues.values()) total += queue.size
    return total
  }

  /**
   * Processes the next record: the queued one with the smallest timestamp among the inputs.
   * Returns a Promise only when a processor was asynchronous; the record's offset is complete when
   * it settles. Returns false when no record was queued.
   */
  processNext(): boolean | Promise<boolean> {
    const queue = this.#nextQueue()
    if (!queue) return false
    const batch = queue.batches[0]!
    const fetched = batch[queue.index]!
    queue.index += 1
    queue.size -= 1
    if (queue.index >= batch.length) {
      queue.batches.shift()
      queue.index = 0
    }
    queue.offsets.begin(fetched.offset)
    const outcome = this.#process(fetched)
    if (outcome === undefined) {
      queue.offsets.complete(fetched.offset)
      return true
    }
    return outcome.then(() => {
      queue.offsets.complete(fetched.offset)
      return true
    })
  }

  /** Fires due wall-clock punctuations. */
  punctuateWallClock(now: number): void | Promise<void> {
    return this.#punctuate('wall-clock', now)
  }

  /** Offsets to commit for every input partition that made progress since the last commit. */
  committableOffsets(): Array<{ topic: string; partition: number; offset: bigint }> {
    const offsets: Array<{ topic: string; partition: number; offset: bigint }> = []
    for (const queue of this.#queues.values()) {
      const offset = queue.offsets.committable()
      if (offset !== undefined) offsets.push({ topic: queue.topic, partition: this.partition, offset })
    }
    return offsets
  }

  markCommitted(topic: string, offset: bigint): void {
    this.#queues.get(topic)?.offsets.markCommitted(offset)
  }

  /** Drops queued records of `topic` (after a seek or revocation). */
  clearQueue(topic: string): void {
    const queue = this.#queues.get(topic)
    if (!queue) return
    queue.batches = []
    queue.index = 0
    queue.size = 0
  }

  /**
   * Writes cached store changes down (to the changelog, flush listeners and backends) and makes
   * them durable. Runs before every commit, before the producer is flushed.
   */
  async flush(): Promise<void> {
    for (const store of this.#stores.values()) await store.flush()
    // Flush listeners may have forwarded to asynchronous processors.
    if (this.#pending.length > 0) {
      const pending = this.#pending
      this.#pending = []
      await Promise.all(pending)
    }
  }

  /**
   * Records, after a commit, the changelog offsets the persistent stores now match.
   * `endOffset(topic, partition)` is the offset after the last acknowledged changelog record.
   */
  checkpoint(endOffset: (topic: string, partition: number) => bigint | undefined): void {
    if (!this.#directory) return
    const offsets = new Map<string, bigint>()
    for (const logged of this.#logged) {
      if (!logged.store.persistent) continue
      const offset = endOffset(logged.topic, this.partition) ?? logged.checkpoint
      if (offset === undefined) return
      logged.checkpoint = offset
      offsets.set(logged.store.name, offset)
    }
    if (offsets.size > 0) this.#directory.writeCheckpoint(offsets)
  }

  getStore<S extends StateStore>(name: string): S | undefined {
    return this.#stores.get(name) as S | undefined
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const schedule of this.#schedules) schedule.cancelled = true
    const failures: unknown[] = []
    for (const node of this.#nodes.values()) {
      try {
        await node.processor?.close?.()
      } catch (error) {
        failures.push(error)
      }
    }
    failures.push(...(await this.#closeStores()))
    if (failures.length > 0) {
      this.#options.logger.warn(
        `task ${this.id}: ${failures.length} processor(s) or store(s) failed to close`,
        {
          errors: failures.map(String),
        },
      )
    }
  }

  async #closeStores(): Promise<unknown[]> {
    const failures: unknown[] = []
    for (const store of this.#stores.values()) {
      try {
        await store.close()
      } catch (error) {
        failures.push(error)
      }
    }
    this.#stores.clear()
    this.#directory?.release()
    return failures
  }

  #storeContext(directory: string, topic: string | undefined): StateStoreContext {
    const { collector } = this.#options
    const partition = this.partition
    const changelog: ChangelogWriter | undefined = topic
      ? {
          topic,
          partition,
          send: (key, value, timestamp, input) => {
            collector.send({
              topic,
              partition,
              key,
              value,
              timestamp: timestamp < 0 ? undefined : timestamp,
              headers: input
                ? [
                    [ChangelogHeaders.inputTopic, this.#topicBytes(input.topic)],
                    [ChangelogHeaders.inputOffset, encoder.encode(String(input.offset))],
                  ]
                : [],
            })
          },
        }
      : undefined
    return {
      applicationId: this.#options.applicationId,
      taskId: this.id,
      partition,
      stateDir: this.#options.stateDir,
      directory,
      cache: this.#cache,
      changelog,
      currentInput: () =>
        this.#current ? { topic: this.#current.topic, offset: this.#current.offset } : undefined,
      currentTimestamp: () => (this.#current ? this.#currentTimestamp : this.#streamTime),
      beforeWrite: () => this.#directory?.invalidateCheckpoint(),
      logger: this.#options.logger,
    }
  }

  /** UTF-8 bytes of an input topic name, encoded once (changelog headers carry it per record). */
  #topicBytes(topic: string): Uint8Array {
    let bytes = this.#encodedTopics.get(topic)
    if (!bytes) {
      bytes = encoder.encode(topic)
      this.#encodedTopics.set(topic, bytes)
    }
    return bytes
  }

  #queue(topic: string): InputQueue {
    const queue = this.#queues.get(topic)
    if (!queue)
      throw new TopologyError(`task ${this.id} does not read topic "${topic}"`, { context: { topic } })
    return queue
  }

  #nextQueue(): InputQueue | undefined {
    let best: InputQueue | undefined
    let bestTimestamp = 0
    for (const queue of this.#queues.values()) {
      if (queue.size === 0) continue
      const timestamp = queue.batches[0]![queue.index]!.timestamp
      if (best === undefined || timestamp < bestTimestamp) {
        best = queue
        bestTimestamp = timestamp
      }
    }
    return best
  }

  /** Runs one fetched record through the graph. Returns a Promise only if something was async. */
  #process(fetched: FetchedRecord): Promise<void> | undefined {
    const source = this.#options.topology.sourceByTopic.get(fetched.topic)!
    const record = this.#deserialize(source, fetched)
    if (record === undefined) return this.#drainPending(fetched)
    if (record.timestamp > this.#streamTime) this.#streamTime = record.timestamp
    this.#current = { topic: fetched.topic, partition: fetched.partition, offset: fetched.offset }
    this.#currentTimestamp = record.timestamp
    const node = this.#nodes.get(source.name)!
    try {
      for (const child of node.children) this.#deliver(child, record)
      const punctuation = this.#hasStreamTimeSchedules()
        ? this.#punctuate('stream-time', this.#streamTime)
        : undefined
      if (punctuation) this.#pending.push(punctuation)
    } catch (error) {
      // Work already started for this record is abandoned; keep its late failures from going unhandled.
      for (const promise of this.#pending) promise.catch(() => {})
      this.#pending = []
      this.#handleProcessingError(fetched, error)
    }
    return this.#drainPending(fetched)
  }

  #drainPending(fetched: FetchedRecord): Promise<void> | undefined {
    if (this.#pending.length === 0) return undefined
    const pending = this.#pending
    this.#pending = []
    return Promise.all(pending).then(
      () => undefined,
      (error: unknown) => this.#handleProcessingError(fetched, error),
    )
  }

  #deserialize(source: SourceNode, fetched: FetchedRecord): Record<unknown, unknown> | undefined {
    const keyContext = this.#keyContext
    const valueContext = this.#valueContext
    keyContext.topic = valueContext.topic = fetched.topic
    keyContext.headers = valueContext.headers = fetched.headers
    let key: unknown = null
    let value: unknown = null
    let target: 'key' | 'value' = 'key'
    try {
      if (fetched.key !== null) key = source.keySerde.deserialize(fetched.key, keyContext)
      target = 'value'
      if (fetched.value !== null) value = source.valueSerde.deserialize(fetched.value, valueContext)
    } catch (cause) {
      const error = new SerdeError(
        `cannot deserialize the ${target} of the record at ${fetched.topic}[${fetched.partition}]@${fetched.offset}: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          cause,
          context: {
            topic: fetched.topic,
            partition: fetched.partition,
            offset: fetched.offset,
            target,
            taskId: this.id,
          },
        },
      )
      this.#applyPolicy('deserialization', this.#options.errorPolicies.deserialization, fetched, error)
      return undefined
    }
    const record: Record<unknown, unknown> = {
      key,
      value,
      timestamp: fetched.timestamp,
      headers: fetched.headers,
      topic: fetched.topic,
      partition: fetched.partition,
      offset: fetched.offset,
    }
    if (source.timestampExtractor) {
      record.timestamp = source.timestampExtractor(record, this.#streamTime)
    }
    return record
  }

  #deliver(node: RuntimeNode, record: Record<unknown, unknown>): void {
    const definition = node.definition
    if (definition.kind === 'sink') {
      this.#sink(definition, record)
      return
    }
    const observed = channels.processed.hasSubscribers
    const started = observed ? performance.now() : 0
    let result: void | Promise<void>
    try {
      result = node.processor!.process(record)
    } catch (error) {
      throw this.#wrapProcessingError(definition.name, error)
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      const inFlight = channels.inFlight.hasSubscribers
      if (inFlight) channels.inFlight.publish({ taskId: this.id, processor: definition.name, delta: 1 })
      this.#pending.push(
        (result as Promise<void>).then(
          () => {
            if (inFlight)
              channels.inFlight.publish({ taskId: this.id, processor: definition.name, delta: -1 })
            if (observed) this.#publishProcessed(definition.name, started)
          },
          (error: unknown) => {
            if (inFlight)
              channels.inFlight.publish({ taskId: this.id, processor: definition.name, delta: -1 })
            throw this.#wrapProcessingError(definition.name, error)
          },
        ),
      )
    } else if (observed) {
      this.#publishProcessed(definition.name, started)
    }
  }

  #publishProcessed(processor: string, started: number): void {
    channels.processed.publish({ taskId: this.id, processor, durationMs: performance.now() - started })
  }

  #sink(definition: SinkNode, record: Record<unknown, unknown>): void {
    const topic = typeof definition.topic === 'string' ? definition.topic : definition.topic(record)
    const keyContext = this.#keyContext
    const valueContext = this.#valueContext
    keyContext.topic = valueContext.topic = topic
    keyContext.headers = valueContext.headers = record.headers
    let key: Uint8Array | null
    let value: Uint8Array | null
    try {
      key =
        record.key === null || record.key === undefined
          ? null
          : definition.keySerde.serialize(record.key, keyContext)
      value =
        record.value === null || record.value === undefined
          ? null
          : definition.valueSerde.serialize(record.value, valueContext)
    } catch (cause) {
      throw new SerdeError(`sink "${definition.name}" cannot serialize a record for topic "${topic}"`, {
        cause,
        context: { topic, processor: definition.name, taskId: this.id },
      })
    }
    if (channels.sinkRecord.hasSubscribers) {
      channels.sinkRecord.publish({
        taskId: this.id,
        sink: definition.name,
        topic,
        latencyMs: this.#options.now() - record.timestamp,
      })
    }
    this.#options.collector.send(
      { topic, key, value, timestamp: record.timestamp, headers: record.headers },
      definition.partitioner as Partitioner | undefined,
      record,
    )
  }

  #wrapProcessingError(processor: string, error: unknown): unknown {
    if (error instanceof ProcessingError || error instanceof SerdeError) return error
    const where = this.#current
      ? ` at ${this.#current.topic}[${this.#current.partition}]@${this.#current.offset}`
      : ' in a punctuation'
    return new ProcessingError(
      `processor "${processor}" failed on the record${where}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, context: { processor, taskId: this.id, ...this.#current } },
    )
  }

  /** `error` is already a ProcessingError or SerdeError naming the node (see #deliver). */
  #handleProcessingError(fetched: FetchedRecord, error: unknown): void {
    this.#applyPolicy('processing', this.#options.errorPolicies.processing, fetched, error)
  }

  #applyPolicy(
    stage: 'deserialization' | 'processing',
    policy: ErrorPolicies['processing'],
    fetched: FetchedRecord,
    error: unknown,
  ): void {
    if (channels.recordError.hasSubscribers) {
      channels.recordError.publish({
        stage,
        policy,
        error,
        taskId: this.id,
        topic: fetched.topic,
        partition: fetched.partition,
        offset: fetched.offset,
      })
    }
    if (policy === 'fail') throw error
    const fields = {
      topic: fetched.topic,
      partition: fetched.partition,
      offset: fetched.offset,
      taskId: this.id,
    }
    if (policy === 'continue') {
      this.#options.logger.warn(
        `${stage} error skipped (policy continue): ${(error as Error).message}`,
        fields,
      )
      return
    }
    this.#options.logger.warn(`${stage} error sent to ${this.#options.errorPolicies.deadLetterTopic}`, fields)
    this.#options.collector.send(
      deadLetterRecord(this.#options.errorPolicies.deadLetterTopic, stage, fetched, error),
    )
  }

  #createContext(node: RuntimeNode, definition: ProcessorNode): ProcessorContext<unknown, unknown> {
    const task = this
    const forward = (record: Record<unknown, unknown>): void => {
      for (const child of node.children) this.#deliver(child, record)
    }
    return {
      applicationId: this.#options.applicationId,
      taskId: this.id,
      get streamTime() {
        return task.#streamTime
      },
      get recordMetadata() {
        return task.#current
      },
      children: node.children.map((child) => child.definition.name),
      forward,
      forwardTo: (childName, record) => {
        const child = node.childByName.get(childName)
        if (!child) {
          throw new TopologyError(
            `processor "${definition.name}" cannot forward to "${childName}": it is not a child (children: ${[...node.childByName.keys()].join(', ') || 'none'})`,
            { context: { processor: definition.name } },
          )
        }
        this.#deliver(child, record)
      },
      getStore: <S extends StateStore>(name: string): S => {
        if (!definition.stores.includes(name)) {
          throw new TopologyError(
            `processor "${definition.name}" asked for store "${name}", which is not attached to it (attached: ${definition.stores.join(', ') || 'none'}); list it in the processor's "stores" option`,
            { context: { processor: definition.name, store: name } },
          )
        }
        return this.#stores.get(name) as S
      },
      schedule: (intervalMs, type, punctuator): Cancellable => {
        if (!(intervalMs > 0)) {
          throw new TopologyError(
            `processor "${definition.name}": schedule interval must be > 0 ms, got ${intervalMs}`,
            {
              context: { processor: definition.name, option: 'intervalMs' },
            },
          )
        }
        const schedule: Schedule = {
          node,
          intervalMs,
          type,
          punctuator,
          // Stream-time punctuation fires first with the first record; wall-clock after one interval.
          next: type === 'wall-clock' ? this.#options.now() + intervalMs : this.#streamTime,
          cancelled: false,
        }
        this.#schedules.push(schedule)
        return {
          cancel: () => {
            schedule.cancelled = true
          },
        }
      },
      currentSystemTimeMs: () => this.#options.now(),
    }
  }

  #hasStreamTimeSchedules(): boolean {
    for (const schedule of this.#schedules)
      if (schedule.type === 'stream-time' && !schedule.cancelled) return true
    return false
  }

  #punctuate(type: PunctuationType, time: number): Promise<void> | undefined {
    const pending: Promise<unknown>[] = []
    const previous = this.#current
    for (const schedule of this.#schedules) {
      if (schedule.cancelled || schedule.type !== type) continue
      if (schedule.next < 0) schedule.next = time
      if (time < schedule.next) continue
      // One call per due interval boundary, as Kafka Streams: a long gap fires once, not per missed tick.
      schedule.next = time + schedule.intervalMs
      this.#current = undefined
      try {
        const result = schedule.punctuator(time)
        if (result && typeof result.then === 'function') pending.push(result)
      } catch (error) {
        throw this.#wrapProcessingError(schedule.node.definition.name, error)
      } finally {
        this.#current = previous
      }
    }
    for (let index = this.#schedules.length - 1; index >= 0; index -= 1) {
      if (this.#schedules[index]!.cancelled) this.#schedules.splice(index, 1)
    }
    if (this.#pending.length > 0 && type === 'wall-clock') {
      pending.push(...this.#pending)
      this.#pending = []
    }
    return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined
  }
}
