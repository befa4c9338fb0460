// Restores the logged stores of newly assigned tasks from their changelogs, in the background: the
// runtime keeps processing its other tasks meanwhile and starts a task only when its restore ended.
// Entries caused by input beyond the committed input offset are skipped, so restored state matches
// the committed input exactly (their input will be processed again).
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
import type { BackendWrite } from '../state/store-backend.js'
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

interface RestoreJob {
  cancelled: boolean
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

  /** Starts restoring `task`; `onEnd` runs when it ended (with the error, if it failed). */
  start(task: StreamTask, onEnd: (error?: Error) => void): void {
    const job: RestoreJob = { cancelled: false, started: false, done: Promise.resolve() }
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
    const committedByTopic = new Map<string, bigint>()
    for (const { topic, partition } of inputs) {
      const entry = committed.get(topicPartitionKey(topic, partition))
      if (entry?.offset !== undefined) committedByTopic.set(topic, entry.offset)
      const streamTime = decodeCommitMetadata(entry?.metadata)?.streamTime
      if (streamTime !== undefined) task.resumeStreamTime(streamTime)
    }
    const ends = new Map<string, bigint>()
    for (const logged of task.loggedStores) {
      if (job.cancelled) return
      ends.set(logged.topic, await this.#restoreStore(task, logged, committedByTopic, job))
    }
    if (!job.cancelled) task.checkpoint((topic) => ends.get(topic))
  }

  async #restoreStore(
    task: StreamTask,
    logged: LoggedStore,
    committed: ReadonlyMap<string, bigint>,
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
      const end =
        (await reader.endOffsets([partition])).get(topicPartitionKey(logged.topic, task.partition)) ?? 0n
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
      while (!job.cancelled && (reader.position(partition) ?? end) < end) {
        for (const fetched of await reader.poll(100)) {
          for (const record of fetched.records) {
            if (record.offset >= end || record.key === null) continue
            if (beyondCommitted(record.headers, committed)) {
              skipped += 1
              continue
            }
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
      publishEnd()
      this.#options.logger.info(
        `task ${task.id}: restored store "${logged.store.name}" from ${logged.topic}: ${records} record(s) applied, ${skipped} skipped (beyond the committed input) in ${Date.now() - started} ms`,
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

/** True when the change was caused by an input record that is not committed yet. */
function beyondCommitted(
  headers: ReadonlyArray<readonly [string, Uint8Array | null]>,
  committed: ReadonlyMap<string, bigint>,
): boolean {
  const offset = headerValue(headers, ChangelogHeaders.inputOffset)
  const topic = headerValue(headers, ChangelogHeaders.inputTopic)
  if (!offset || !topic) return false
  const committedOffset = committed.get(decoder.decode(topic))
  return committedOffset === undefined || BigInt(decoder.decode(offset)) >= committedOffset
}
