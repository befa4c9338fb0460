// A task runs one sub-topology for one partition number. It puts three parts together, each in
// its own file: the input scheduler (queues, offsets, stream time, lanes), the executor (runs each
// record in its own scope through fresh processor instances) and the task's stores (opened here,
// flushed by the commit coordinator). The runtime and the test driver drive tasks the same way, so
// what a test shows is what production does.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChangelogCommitPoint, CommitPoint, InputCommitPoint, OwnershipToken } from '../commit-point.js'
import type { FetchedRecord } from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import { RecordCache } from '../state/record-cache.js'
import { TaskDirectory } from '../state/task-directory.js'
import type { ChangelogWriter, StateStore, StateStoreContext } from '../state-store.js'
import type { Subtopology, Topology } from '../topology.js'
import type { ErrorPolicies } from './error-policy.js'
import { Executor } from './executor.js'
import {
  BufferBudget,
  InputScheduler,
  type PartitionProgress,
  type ScheduledRecord,
} from './input-scheduler.js'
import type { RecordCollector } from './record-collector.js'
import { currentScope, type RecordScope } from './record-scope.js'

/** Records in flight in the whole process, over all tasks (`maxInFlightRecords`). */
export class InFlightLimit {
  count = 0
  readonly max: number

  constructor(max: number) {
    this.max = max
  }
}

export interface TaskOptions {
  applicationId: string
  topology: Topology
  subtopology: Subtopology
  partition: number
  /** Where sinks (and the dead-letter topic) send. */
  collector: RecordCollector
  /**
   * Where store changelogs send: the runtime's has a producer (a connection) of its own, so that a
   * commit's burst of changelog records does not queue ahead of the sinks' output. @default collector
   */
  changelogCollector?: RecordCollector
  errorPolicies: ErrorPolicies
  logger: Logger
  stateDir: string
  /** Bytes of the task's record cache, shared by its stores. */
  cacheMaxBytes: number
  /** The instance's global stores by name, readable by the processors that list them. */
  globalStores?: ReadonlyMap<string, StateStore>
  /** The wall clock. */
  now: () => number
  /** Who owns the task (member id and epoch when it was assigned). */
  ownership?: Omit<OwnershipToken, 'taskId'>
  /** A processor call that has not settled after this long is a processing error; 0: never. @default 0 */
  processingTimeoutMs?: number
  /** Bytes of buffered input in the process. @default unbounded */
  budget?: BufferBudget
  /** Records in flight in the process. @default unbounded */
  inFlight?: InFlightLimit
  /** Called when the task can run again (a record finished), so the runtime schedules it. */
  onRunnable?: () => void
  /** Called with an error the `fail` policy stops on, when it surfaced asynchronously. */
  onFailure?: (error: unknown) => void
  /**
   * Per input topic, offsets the committed completed-offset map says are done (above the
   * committed offset): they are skipped, not processed again.
   */
  skipOffsets?: ReadonlyMap<string, readonly bigint[]>
  /** The broker's `offset.metadata.max.bytes` (the completed-offset map's limit). @default 4096 */
  metadataMaxCharacters?: number
}

/** A store with a changelog, as the restorer sees it. */
export interface LoggedStore {
  store: StateStore
  topic: string
  /** The changelog offset the local state matches (from the checkpoint); undefined: from the start. */
  checkpoint: bigint | undefined
  /**
   * `topic` is a source topic of the task (`StoreBuilder.sourceChangelog`): restored from the start
   * up to the committed input, never checkpointed (the input's commits say how far it is).
   */
  fromSource?: boolean
}

/** A task's side of a commit: the commit point and whether its backends were written after the flush. */
export interface TaskFlush {
  point: CommitPoint
  /** Backend writes counted when the flush ended (see `checkpoint`). */
  writes: number
}

const encoder = new TextEncoder()

/** Changelog header names: the input record whose processing caused the change. */
export const ChangelogHeaders = {
  inputTopic: 'kstreams.input.topic',
  inputOffset: 'kstreams.input.offset',
} as const

/** The changelog topic of a store: `<applicationId>-<store>-changelog`. */
export function changelogTopic(applicationId: string, store: string): string {
  return `${applicationId}-${store}-changelog`
}

const unbounded = new InFlightLimit(Number.POSITIVE_INFINITY)

export class StreamTask {
  readonly id: string
  readonly partition: number
  readonly subtopology: Subtopology
  readonly ownership: OwnershipToken
  readonly #options: TaskOptions
  readonly #scheduler: InputScheduler
  readonly #executor: Executor
  readonly #inFlight: InFlightLimit
  readonly #collector: RecordCollector
  readonly #changelogCollector: RecordCollector
  readonly #stores = new Map<string, StateStore>()
  /** The task's own stores and the global ones its processors may read. */
  readonly #visibleStores = new Map<string, StateStore>()
  readonly #logged: LoggedStore[] = []
  readonly #encodedTopics = new Map<string, Uint8Array>()
  #directory: TaskDirectory | undefined
  readonly #cache: RecordCache
  /** Backend writes so far: a checkpoint is written only when none happened since the commit's flush. */
  #writes = 0
  /**
   * Asynchronous records and punctuations running now (a count, not a set of their promises: a Set
   * reallocates its table on a delete that leaves it nearly empty, per record here), and who waits
   * for them all to settle.
   */
  #asyncInFlight = 0
  #idleWaiters: Array<() => void> = []
  /** A record finished since stream-time punctuations were last looked at. */
  #recordFinished = false
  #failed = false
  #lost = false
  #closed = false

  constructor(options: TaskOptions) {
    this.#options = options
    this.subtopology = options.subtopology
    this.partition = options.partition
    this.id = `${options.subtopology.id}_${options.partition}`
    this.ownership = { taskId: this.id, memberId: '', memberEpoch: 0, ...options.ownership }
    this.#cache = new RecordCache(options.cacheMaxBytes)
    this.#inFlight = options.inFlight ?? unbounded
    // Every record this task produces is tagged with it, so the records of a lost task can be dropped.
    const owner = this.id
    const owned = (collector: RecordCollector): RecordCollector => ({
      send: (record, partitioner, source) => collector.send(record, partitioner, source, owner),
    })
    this.#collector = owned(options.collector)
    this.#changelogCollector = options.changelogCollector
      ? owned(options.changelogCollector)
      : this.#collector
    this.#scheduler = new InputScheduler({
      taskId: this.id,
      partition: options.partition,
      topics: options.subtopology.sourceTopics,
      budget: options.budget ?? new BufferBudget(Number.POSITIVE_INFINITY),
      onLaneFree: options.onRunnable,
      concurrency: options.subtopology.concurrency,
      prepare: (fetched) => this.#executor.prepare(fetched),
      skip: options.skipOffsets,
      onSuperseded: (superseded, newer) => this.#executor.superseded(superseded, newer),
      ...(options.metadataMaxCharacters ? { metadataMaxCharacters: options.metadataMaxCharacters } : {}),
    })
    this.#executor = new Executor({
      taskId: this.id,
      applicationId: options.applicationId,
      topology: options.topology,
      subtopology: options.subtopology,
      scheduler: this.#scheduler,
      stores: this.#visibleStores,
      collector: this.#collector,
      errorPolicies: options.errorPolicies,
      logger: options.logger,
      now: options.now,
      processingTimeoutMs: options.processingTimeoutMs ?? 0,
      onRecordSettled: (scheduled, failed, error) => this.#recordSettled(scheduled, failed, error),
    })
  }

  /** The task's stream time: the largest record timestamp it has started, or -1. */
  get streamTime(): number {
    return this.#scheduler.streamTime
  }

  /** Resumes stream time from the last commit (it never moves backwards). */
  resumeStreamTime(streamTime: number): void {
    this.#scheduler.observe(streamTime)
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
        const fromSource = builder.sourceChangelog !== undefined
        const topic = fromSource
          ? builder.sourceChangelog
          : builder.logging === false
            ? undefined
            : changelogTopic(applicationId, storeName)
        let directory = join(stateDir, applicationId, this.id, storeName)
        if (builder.persistent) {
          if (!this.#directory) {
            this.#directory = await TaskDirectory.lock(stateDir, applicationId, this.id, storeName)
            for (const [store, offset] of this.#directory.readCheckpoint()) checkpoint.set(store, offset)
          }
          if (topic && (fromSource || !checkpoint.has(storeName))) this.#directory.wipeStore(storeName)
          directory = this.#directory.storeDirectory(storeName)
          await mkdir(directory, { recursive: true })
        }
        const store = builder.build()
        await store.init(this.#storeContext(directory, fromSource ? undefined : topic))
        this.#stores.set(storeName, store)
        if (topic && fromSource) this.#logged.push({ store, topic, checkpoint: undefined, fromSource })
        else if (topic) {
          // A backend that keeps its data off this host knows itself what it covers (undefined:
          // nothing, so the changelog is restored from the start, whatever a local file says).
          const local = builder.persistent ? checkpoint.get(storeName) : undefined
          const remote = await store.changelogCheckpoint?.()
          this.#logged.push({ store, topic, checkpoint: remote ? remote.offset : local })
        }
      }
    } catch (error) {
      await this.#closeStores()
      throw error
    }
    for (const [name, store] of this.#options.globalStores ?? []) this.#visibleStores.set(name, store)
    for (const [name, store] of this.#stores) this.#visibleStores.set(name, store)
    await this.#executor.init()
  }

  /** Adds fetched records of one input partition; they are processed in timestamp order across inputs. */
  enqueue(topic: string, records: FetchedRecord[]): void {
    this.#scheduler.enqueue(topic, records)
  }

  /** Records waiting in the queue of `topic` (or all queues). */
  buffered(topic?: string): number {
    return this.#scheduler.buffered(topic)
  }

  /** True when the task could start a record now. */
  get runnable(): boolean {
    return !this.#closed && !this.#failed && this.#scheduler.runnable
  }

  /** Records begun and not completed (running, or waiting in a lane). */
  get inFlight(): number {
    return this.#scheduler.inFlight
  }

  /** Records running now. */
  get running(): number {
    return this.#scheduler.running
  }

  /** Where each input partition of the task stands (see `PartitionProgress`). */
  progress(): PartitionProgress[] {
    return this.#scheduler.progress()
  }

  /**
   * Starts queued records (and due punctuations), up to `maxRecords`, as long as their lanes are
   * free (in `partition` mode: one at a time; in `key` mode: one per key) and the task's and the
   * process's in-flight limits allow. Records that finish synchronously are completed here; an
   * asynchronous one keeps its lane until it settles, then `onRunnable` is called. A punctuation
   * takes the whole task: records running then finish first, and none starts meanwhile. Returns
   * the number of records started. Throws the error a synchronous record failed with under the
   * `fail` policy.
   */
  pump(maxRecords: number, now: number): number {
    const scheduler = this.#scheduler
    const executor = this.#executor
    const limit = this.#inFlight
    let started = 0
    scheduler.unhold()
    while (!this.#closed && !this.#failed && !scheduler.held) {
      if (executor.punctuationDue('wall-clock', now)) {
        const outcome = executor.punctuate('wall-clock', now)
        if (outcome === false || this.#track(outcome, undefined, scheduler.exclusive)) break
        continue
      }
      // Stream-time punctuation follows records: it fires once a record finished and moved time.
      if (this.#recordFinished) {
        const watermark = scheduler.watermark(undefined)
        if (executor.punctuationDue('stream-time', watermark)) {
          const outcome = executor.punctuate('stream-time', watermark)
          if (outcome === false) break
          this.#recordFinished = false
          if (this.#track(outcome, undefined, scheduler.exclusive)) break
          continue
        }
        this.#recordFinished = false
      }
      if (started >= maxRecords || limit.count >= limit.max) break
      const next = scheduler.next()
      if (!next) break
      started += 1
      limit.count += 1
      let asynchronous: boolean
      try {
        asynchronous = executor.run(next)
      } catch (error) {
        limit.count -= 1
        this.#failed = true
        throw error
      }
      if (asynchronous) {
        // Counted until the executor calls #recordSettled.
        this.#asyncInFlight += 1
        continue
      }
      limit.count -= 1
      this.#recordFinished = true
    }
    return started
  }

  /**
   * Runs everything queued to the end, with the punctuations records make due, awaiting each
   * asynchronous record (the test driver's way of running a task). Throws what `fail` stops on.
   */
  async runUntilIdle(now: number): Promise<void> {
    do {
      this.pump(Number.POSITIVE_INFINITY, now)
      await this.idle()
    } while (
      !this.#closed &&
      !this.#failed &&
      (this.#scheduler.buffered() > 0 || this.#scheduler.pending > 0 || this.#recordFinished)
    )
  }

  /** Fires due wall-clock punctuations when nothing runs (the test driver's clock moves). */
  async punctuateWallClock(now: number): Promise<void> {
    await this.idle()
    if (this.#executor.punctuationDue('wall-clock', now)) await this.#executor.punctuate('wall-clock', now)
  }

  /** Resolves when nothing runs in the task (its in-flight records and punctuation settled). */
  async idle(): Promise<void> {
    while (this.#asyncInFlight > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * The task was lost (fenced, or its partitions taken away without a revocation): nothing of it
   * may be committed any more, even by a commit already under way, whose records may have been
   * dropped. Gives up the record running now.
   */
  markLost(): void {
    this.#lost = true
    this.#executor.abandonRunning()
  }

  /** True once the task was lost or closed: a commit leaves it out. */
  get retired(): boolean {
    return this.#lost || this.#closed
  }

  /** Gives up the records running now (see `Executor.abandonRunning`); they are not completed. */
  abandonRunning(): void {
    this.#executor.abandonRunning()
  }

  /**
   * What a commit of this task covers now: input partitions with progress, its changelog
   * partitions (with `endOffset`: the offset after the last acknowledged record of one), and the owner.
   */
  commitPoint(endOffset?: (topic: string, partition: number) => bigint | undefined): CommitPoint {
    const changelogs: ChangelogCommitPoint[] = []
    for (const logged of this.#logged) {
      if (logged.fromSource) continue
      const offset = endOffset?.(logged.topic, this.partition) ?? logged.checkpoint
      if (offset !== undefined) changelogs.push({ topic: logged.topic, partition: this.partition, offset })
    }
    return { taskId: this.id, inputs: this.#scheduler.commitPoint(), changelogs, ownership: this.ownership }
  }

  /** True when the task has stores, so that its commit flushes them holding the task. */
  get hasStores(): boolean {
    return this.#stores.size > 0
  }

  /**
   * The task's part of a commit: takes the whole task (the records running now finish first, none
   * starts meanwhile, so no flushed change carries part of a record still running), snapshots the
   * commit point (with the offsets completed above the lowest incomplete one: records waiting in
   * lanes are incomplete), and flushes every store with it (in parallel): cached changes go to
   * the changelog, flush listeners and backends. Flush listeners that forward run their records
   * through the processors here, and are awaited. Then records start again.
   *
   * A task without stores has nothing to flush: it snapshots the commit point without taking the
   * task, so records keep running (a slow record in `key` mode holds no commit back); what a
   * completed record sent is awaited by the coordinator's acknowledgement step.
   */
  async prepareCommit(
    endOffset?: (topic: string, partition: number) => bigint | undefined,
  ): Promise<TaskFlush> {
    if (this.#stores.size === 0) return { point: this.commitPoint(endOffset), writes: this.#writes }
    let point: CommitPoint | undefined
    await this.#executor.flush(async () => {
      point = this.commitPoint(endOffset)
      // Lost and closed while the commit waited for the task: its stores are closed, and nothing
      // of it is committed (the coordinator leaves retired tasks out).
      if (this.#closed) return
      const flushPoint = point
      await Promise.all([...this.#stores.values()].map((store) => store.flush(flushPoint)))
    })
    return { point: point!, writes: this.#writes }
  }

  /** When the task's longest-dirty cached change was made (`performance.now()`); undefined when none is dirty. */
  get oldestChangeAt(): number | undefined {
    return this.#cache.oldestDirtyAt
  }

  /**
   * Writes up to `maxEntries` cached changes made at `changedBefore` or earlier down ahead of the
   * next commit (changelog, flush listeners, backends; the longest-dirty first), holding the task
   * as a commit's flush does, so a record that arrives meanwhile waits for one batch at most. The
   * runtime calls it while the task has nothing to run: the commit then finds little left to
   * write, and its flush stops holding the records that arrive during it for the whole write-down.
   * Returns how many it wrote. It leaves no gap: what it did not write (or failed to write) stays
   * dirty for the commit.
   */
  async writeDownIdle(maxEntries: number, changedBefore: number): Promise<number> {
    if (this.retired || this.#failed || this.#cache.dirtyCount === 0) return 0
    let written = 0
    await this.#executor.flush(async () => {
      if (this.retired) return
      written = await this.#cache.writeDown(maxEntries, changedBefore)
    })
    return written
  }

  /** Records that the coordinator committed exactly these offsets. */
  markCommitted(inputs: readonly InputCommitPoint[]): void {
    this.#scheduler.markCommitted(inputs)
  }

  /**
   * Records, after a commit, the changelog offsets the persistent stores now match.
   * `endOffset(topic, partition)` is the offset after the last acknowledged changelog record. Skipped
   * when a backend was written after the commit's flush (`flushed.writes`): the local state may be
   * ahead of the changelog then, and must not be vouched for.
   */
  checkpoint(endOffset: (topic: string, partition: number) => bigint | undefined, writes?: number): void {
    if (!this.#directory) return
    if (writes !== undefined && writes !== this.#writes) return
    const offsets = new Map<string, bigint>()
    for (const logged of this.#logged) {
      if (!logged.store.persistent || logged.fromSource) continue
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

  /** Drops queued records of `topic` (after a seek or revocation). */
  clearQueue(topic: string): void {
    this.#scheduler.clear(topic)
  }

  /**
   * Closes processors and stores. Work still running is given up (its later output is dropped);
   * call `idle()` first to let it finish.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#scheduler.clearAll()
    const failures = await this.#executor.close()
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

  /** Follows an asynchronous record or punctuation (run in `scope`). Returns true when one is now running. */
  #track(
    outcome: Promise<void> | undefined,
    onDone: (() => void) | undefined,
    scope: RecordScope | undefined,
  ): boolean {
    if (outcome === undefined) return false
    outcome.then(
      () => {
        this.#settledAsync()
        onDone?.()
      },
      (error: unknown) => {
        this.#settledAsync()
        if (scope?.incomplete) {
          onDone?.()
          return
        }
        this.#failed = true
        this.#options.onFailure?.(error)
      },
    )
    this.#asyncInFlight += 1
    return true
  }

  /** An asynchronous record of `pump` is done (the executor's `onRecordSettled`). */
  #recordSettled(scheduled: ScheduledRecord, failed: boolean, error: unknown): void {
    this.#settledAsync()
    if (failed && !scheduled.scope?.incomplete) {
      this.#failed = true
      this.#options.onFailure?.(error)
      return
    }
    this.#inFlight.count -= 1
    this.#recordFinished = true
  }

  #settledAsync(): void {
    this.#asyncInFlight -= 1
    if (this.#asyncInFlight > 0 || this.#idleWaiters.length === 0) return
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const resolve of waiters) resolve()
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
    this.#visibleStores.clear()
    this.#directory?.release()
    return failures
  }

  #storeContext(directory: string, topic: string | undefined): StateStoreContext {
    const collector = this.#changelogCollector
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
                    [ChangelogHeaders.inputOffset, Buffer.from(String(input.offset), 'latin1')],
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
      ownership: this.ownership,
      currentInput: () => currentScope()?.input,
      currentTimestamp: () => {
        const scope = currentScope()
        return scope && scope.kind !== 'flush' ? scope.timestamp : this.#scheduler.streamTime
      },
      abandoned: () => currentScope()?.abandoned === true,
      beforeWrite: () => {
        this.#writes += 1
        this.#directory?.invalidateCheckpoint()
      },
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
}
