// Restores the logged stores of newly assigned tasks from their changelogs, in the background: the
// runtime keeps processing its other tasks meanwhile and starts a task only when its restore ended.
// An entry caused by input beyond the committed input offset is skipped when the key has an older
// entry, which is kept (its input will be processed again); a key with no older entry, because
// compaction removed it, keeps its newest entry: state may run ahead of the committed input
// (at-least-once), but it is never lost.
import { channels } from '../diagnostics.js'
import { StoreError } from '../errors.js'
import {
  type GroupConsumer,
  type KafkaPort,
  type PartitionReader,
  topicPartitionKey,
} from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import { headerValue } from '../record.js'
import { toKey } from '../state/sorted-key-map.js'
import type { BackendWrite } from '../state/store-backend.js'
import type { StateStore } from '../state-store.js'
import { decodeCommitMetadata } from './commit-metadata.js'
import { ChangelogHeaders, type LoggedStore, type StreamTask } from './task.js'

export interface StateRestorerOptions {
  kafka: KafkaPort
  clientId: string
  consumer: GroupConsumer
  logger: Logger
  batchSize: number
  fetchMaxBytes: number
}

/** How far the restore of a task is (see `StateRestorer.progress`). */
export interface RestoreProgress {
  /** False while the task waits for restores of other tasks to end. */
  started: boolean
  /** The store being restored, once started. */
  store?: string
  topic?: string
  partition?: number
  startOffset?: bigint
  /** The changelog offset reached. */
  position?: bigint
  /** The changelog offset the restore ends at. */
  endOffset?: bigint
  /** Stores of the task restored so far, of `storesTotal`. */
  storesDone: number
  storesTotal: number
}

interface RestoreJob {
  cancelled: boolean
  progress: RestoreProgress
  /** Its turn in the queue came (it is restoring or has finished). */
  started: boolean
  done: Promise<void>
}

const decoder = new TextDecoder()

export class StateRestorer {
  readonly #options: StateRestorerOptions
  readonly #jobs = new Map<StreamTask, RestoreJob>()
  #reader: PartitionReader | undefined
  /** Restores run one after another: one reader, and the restore write path is the bottleneck. */
  #queue: Promise<void> = Promise.resolve()

  constructor(options: StateRestorerOptions) {
    this.#options = options
  }

  isRestoring(task: StreamTask): boolean {
    return this.#jobs.has(task)
  }

  /** How far the restore of `task` is; undefined when it is not restoring. */
  progress(task: StreamTask): RestoreProgress | undefined {
    const job = this.#jobs.get(task)
    return job ? { ...job.progress, started: job.started } : undefined
  }

  /** Starts restoring `task`; `onEnd` runs when it ended (with the error, if it failed). */
  start(task: StreamTask, onEnd: (error?: Error) => void): void {
    const job: RestoreJob = {
      cancelled: false,
      started: false,
      done: Promise.resolve(),
      progress: { started: false, storesDone: 0, storesTotal: task.loggedStores.length },
    }
    job.done = this.#queue.then(async () => {
      job.started = true
      try {
        if (!job.cancelled) await this.#restore(task, job)
        this.#jobs.delete(task)
        if (!job.cancelled) onEnd()
      } catch (error) {
        this.#jobs.delete(task)
        if (!job.cancelled) onEnd(error instanceof Error ? error : new Error(String(error)))
      }
    })
    this.#queue = job.done
    this.#jobs.set(task, job)
  }

  /** Stops restoring `task` (it was revoked) and waits until its restore no longer runs. */
  async cancel(task: StreamTask): Promise<void> {
    const job = this.#jobs.get(task)
    if (!job) return
    job.cancelled = true
    // A job still waiting for its turn will skip itself; no need to wait for the restores before it.
    if (!job.started) {
      this.#jobs.delete(task)
      return
    }
    await job.done
  }

  async close(): Promise<void> {
    for (const job of this.#jobs.values()) job.cancelled = true
    await this.#queue
    await this.#reader?.close()
    this.#reader = undefined
  }

  async #restore(task: StreamTask, job: RestoreJob): Promise<void> {
    const { consumer } = this.#options
    const inputs = task.subtopology.sourceTopics.map((topic) => ({ topic, partition: task.partition }))
    const committed = await consumer.committed(inputs)
    const committedByTopic = new Map<string, CommittedInput>()
    for (const { topic, partition } of inputs) {
      const entry = committed.get(topicPartitionKey(topic, partition))
      const metadata = decodeCommitMetadata(entry?.metadata, entry?.offset)
      if (entry?.offset !== undefined) {
        committedByTopic.set(topic, { offset: entry.offset, completed: new Set(metadata?.completed) })
      }
      if (metadata?.streamTime !== undefined) task.resumeStreamTime(metadata.streamTime)
    }
    const ends = new Map<string, bigint>()
    for (const logged of task.loggedStores) {
      if (job.cancelled) return
      ends.set(logged.topic, await this.#restoreStore(task, logged, committedByTopic, job))
      job.progress.storesDone += 1
    }
    if (!job.cancelled) task.checkpoint((topic) => ends.get(topic))
  }

  async #restoreStore(
    task: StreamTask,
    logged: LoggedStore,
    committed: ReadonlyMap<string, CommittedInput>,
    job: RestoreJob,
  ): Promise<bigint> {
    this.#reader ??= this.#options.kafka.createReader({
      clientId: `${this.#options.clientId}-restore`,
      fetchMaxBytes: this.#options.fetchMaxBytes,
    })
    const reader = this.#reader
    const partition = { topic: logged.topic, partition: task.partition }
    const started = Date.now()
    let records = 0
    let skipped = 0
    const publishEnd = (error?: unknown) => {
      if (!channels.restore.hasSubscribers) return
      channels.restore.publish({
        phase: 'end',
        taskId: task.id,
        store: logged.store.name,
        records,
        skipped,
        durationMs: Date.now() - started,
        ...(error === undefined ? {} : { error }),
      })
    }
    try {
      const topicEnd =
        (await reader.endOffsets([partition])).get(topicPartitionKey(logged.topic, task.partition)) ?? 0n
      // A store restored from its source topic takes the input that was committed (or completed
      // above the committed offset); what comes after is processed again, as input.
      const input = logged.fromSource ? committed.get(logged.topic) : undefined
      const end = logged.fromSource ? minimum(topicEnd, committedEnd(input)) : topicEnd
      const applies = (offset: bigint) =>
        !logged.fromSource || (input !== undefined && (offset < input.offset || input.completed.has(offset)))
      if (logged.checkpoint !== undefined && logged.checkpoint > end) {
        throw new StoreError(
          `store "${logged.store.name}" of task ${task.id}: its checkpoint (offset ${logged.checkpoint}) is beyond the end of ${logged.topic}[${task.partition}] (${end}); the changelog was recreated or truncated. Delete the task's state directory to rebuild it`,
          { context: { store: logged.store.name, taskId: task.id, topic: logged.topic } },
        )
      }
      await reader.assign([{ ...partition, offset: logged.checkpoint }])
      const start = reader.position(partition)
      if (start === undefined) {
        throw new StoreError(
          `store "${logged.store.name}" of task ${task.id}: cannot find where ${logged.topic}[${task.partition}] starts`,
          { context: { store: logged.store.name, taskId: task.id, topic: logged.topic }, retriable: true },
        )
      }
      Object.assign(job.progress, {
        store: logged.store.name,
        topic: logged.topic,
        partition: task.partition,
        startOffset: start,
        position: start,
        endOffset: end,
      })
      if (channels.restore.hasSubscribers) {
        channels.restore.publish({
          phase: 'start',
          taskId: task.id,
          store: logged.store.name,
          topic: logged.topic,
          partition: task.partition,
          startOffset: start,
          endOffset: end,
        })
      }
      let batch: BackendWrite[] = []
      const tail = new UncommittedTail()
      while (!job.cancelled && (reader.position(partition) ?? end) < end) {
        job.progress.position = reader.position(partition) ?? end
        for (const fetched of await reader.poll(100)) {
          for (const record of fetched.records) {
            if (record.offset >= end || record.key === null || !applies(record.offset)) continue
            if (causedByUncommittedInput(record.headers, committed)) {
              if (!tail.hold(record.key, record.value)) skipped += 1
              continue
            }
            if (tail.committed(record.key)) skipped += 1
            batch.push({ key: record.key, value: record.value })
            if (batch.length >= this.#options.batchSize) {
              records += batch.length
              await this.#apply(task, logged, batch, records, skipped, record.offset)
              batch = []
            }
          }
        }
      }
      if (batch.length > 0 && !job.cancelled) {
        records += batch.length
        await this.#apply(task, logged, batch, records, skipped, end - 1n)
      }
      let ahead = 0
      if (!job.cancelled) {
        // Every committed entry is in the store now, so it tells which held keys had an older one.
        const resolved = await tail.resolve(logged.store)
        ahead = resolved.length
        skipped += tail.held - ahead
        if (resolved.length > 0) {
          records += resolved.length
          await this.#apply(task, logged, resolved, records, skipped, end - 1n)
        }
      }
      publishEnd()
      this.#options.logger.info(
        `task ${task.id}: restored store "${logged.store.name}" from ${logged.topic}: ${records} record(s) applied (${ahead} of them caused by uncommitted input, for keys with no older entry), ${skipped} skipped (caused by uncommitted input, for keys whose older entry was kept) in ${Date.now() - started} ms`,
      )
      return end
    } catch (error) {
      publishEnd(error)
      throw error
    } finally {
      reader.unassign([partition])
    }
  }

  async #apply(
    task: StreamTask,
    logged: LoggedStore,
    batch: BackendWrite[],
    records: number,
    skipped: number,
    offset: bigint,
  ): Promise<void> {
    if (!logged.store.restore) {
      throw new StoreError(
        `store "${logged.store.name}" of task ${task.id} has a changelog but no restore() method`,
        { context: { store: logged.store.name, taskId: task.id } },
      )
    }
    await logged.store.restore(batch)
    if (channels.restore.hasSubscribers) {
      channels.restore.publish({
        phase: 'batch',
        taskId: task.id,
        store: logged.store.name,
        records,
        skipped,
        offset,
      })
    }
  }
}

/**
 * The entries caused by uncommitted input, held until the end of a restore, when it is known
 * whether their key had an older entry. Memory stays bounded by the uncommitted tail, not by the
 * store: input offsets grow with changelog offsets per input topic, so uncommitted entries are the
 * tail written since the last commit (plus, after a crash, the entries a new owner wrote while
 * reprocessing that input). Keys are remembered only from the first uncommitted entry on; for the
 * entries before it, every one committed and applied, the store itself tells (`restoredValue`)
 * whether the key has an older entry, and so does the local state from before a checkpoint.
 *
 * For a key held with no older entry, the newest held entry is applied (its own older uncommitted
 * entries are superseded by it). A committed entry of a held key that comes later (written by a
 * new owner reprocessing the input) is applied in order and drops what was held.
 *
 * One imprecision, on the side of keeping state: a committed tombstone before the tail leaves no
 * value, so an uncommitted put of that key after it is applied, as it would be once compaction
 * removed the tombstone.
 */
class UncommittedTail {
  /** Per key (bytes as latin1): its newest uncommitted entry, or COMMITTED once a committed entry came. */
  readonly #keys = new Map<string, BackendWrite | typeof COMMITTED>()
  /** Keys currently held (not superseded by a committed entry). */
  held = 0
  #started = false

  /** Holds an uncommitted entry; false when it is skipped at once (its key has a committed entry in the tail). */
  hold(key: Uint8Array, value: Uint8Array | null): boolean {
    this.#started = true
    const id = toKey(key)
    const current = this.#keys.get(id)
    if (current === COMMITTED) return false
    if (current) {
      // The entry held before is superseded: it is neither applied nor held any more.
      current.value = value
      return false
    }
    this.#keys.set(id, { key, value })
    this.held += 1
    return true
  }

  /** A committed entry of `key`, applied now; true when it superseded a held entry (now skipped). */
  committed(key: Uint8Array): boolean {
    if (!this.#started) return false
    const id = toKey(key)
    const current = this.#keys.get(id)
    this.#keys.set(id, COMMITTED)
    if (current === undefined || current === COMMITTED) return false
    this.held -= 1
    return true
  }

  /**
   * The held entries to apply: those whose key has no value in the store. A store that cannot
   * tell (no `restoredValue`) gets them all, since state ahead of the committed input is
   * at-least-once and lost state is not.
   */
  async resolve(store: StateStore): Promise<BackendWrite[]> {
    const apply: BackendWrite[] = []
    for (const entry of this.#keys.values()) {
      if (entry === COMMITTED) continue
      if (store.restoredValue && (await store.restoredValue(entry.key)) !== undefined) continue
      apply.push(entry)
    }
    return apply
  }
}

const COMMITTED = Symbol('committed')

function minimum(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}

/** The offset after the last committed or completed record of an input (0 when nothing was committed). */
function committedEnd(input: CommittedInput | undefined): bigint {
  if (input === undefined) return 0n
  let end = input.offset
  for (const offset of input.completed) if (offset >= end) end = offset + 1n
  return end
}

/** An input partition's committed offset and the offsets done above it (from the commit metadata). */
interface CommittedInput {
  offset: bigint
  completed: ReadonlySet<bigint>
}

/** True when the change was caused by an input record that is not committed yet. */
function causedByUncommittedInput(
  headers: ReadonlyArray<readonly [string, Uint8Array | null]>,
  committed: ReadonlyMap<string, CommittedInput>,
): boolean {
  const offset = headerValue(headers, ChangelogHeaders.inputOffset)
  const topic = headerValue(headers, ChangelogHeaders.inputTopic)
  if (!offset || !topic) return false
  const input = committed.get(decoder.decode(topic))
  if (input === undefined) return true
  const inputOffset = BigInt(decoder.decode(offset))
  return inputOffset >= input.offset && !input.completed.has(inputOffset)
}
