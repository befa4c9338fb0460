// The commit cycle, in one place, shared by the runtime and the test driver:
//   0. confirms the group membership when the last heartbeat is old, so that a member fenced
//      while its event loop was blocked writes nothing;
//   1. each task takes its lane and snapshots its commit point (per input partition: the offset
//      every record below is done, the offsets done above it, the stream time);
//   2. flushes every store with that commit point (cache → changelog, flush listeners,
//      backends): the stores of a task in parallel, `flushConcurrency` tasks at a time, with a
//      turn of the event loop before each next task, so that the other tasks' records keep
//      running while one task is held (holding them all at once stalled every record for the
//      whole write-down);
//   3. awaits the acknowledgement of every record produced so far (sinks, changelogs, DLQ);
//   4. commits exactly the snapshotted offsets, with versioned metadata;
//   5. writes the checkpoints of persistent stores.
// A task whose store cannot flush for a retriable reason (its service is unreachable) commits
// nothing this time and is flushed again by the next commit; the other tasks commit.
// An offset is never committed before everything its record caused is durable. Commits run one
// at a time; a store that reports its owner fenced loses its task, not the application.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { InputCommitPoint } from '../commit-point.js'
import { channels } from '../diagnostics.js'
import { isFencedError, KStreamsError } from '../errors.js'
import type { CommitRequest } from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import { encodeCommitMetadata } from './commit-metadata.js'
import type { StreamTask, TaskFlush } from './task.js'

export interface CommitCoordinatorOptions {
  /** Waits for the acknowledgement of everything produced so far; throws the production failure. */
  flushProduced(): Promise<void>
  /** The offset after the last acknowledged record of a changelog partition, for checkpoints. */
  endOffset(topic: string, partition: number): bigint | undefined
  /**
   * Confirms the group membership before the stores are flushed (`GroupConsumer.confirmMembership`):
   * a member fenced while its event loop was blocked must not write its older state into a
   * changelog a newer owner has advanced. Rejects with a `FencedError` when fenced; false (no
   * answer in time) lets the commit go on as without it. The test driver has no group.
   */
  confirmMembership?(): Promise<boolean>
  /** Commits input offsets (the group consumer's commit; the test driver keeps them). */
  commitOffsets(offsets: CommitRequest[]): Promise<void>
  logger: Logger
  /** The broker's `offset.metadata.max.bytes`. @default 4096 */
  metadataMaxCharacters?: number
  /** Tasks with stores flushed at once (the config's `commitFlushConcurrency`). @default 1 */
  flushConcurrency?: number
}

export interface CommitOutcome {
  /** Input partitions whose offsets were committed. */
  committed: number
  /** Tasks whose store said another instance owns them now (the group does not know). */
  fenced: StreamTask[]
  /**
   * Tasks whose offsets the group refused: this member's epoch is over. The group consumer reports
   * their partitions lost and rejoins by itself.
   */
  groupFenced: StreamTask[]
  /** The offsets could not be committed for a retriable reason; they stay due for the next commit. */
  deferred: boolean
  /**
   * Tasks whose stores could not flush for a retriable reason (their service is unreachable):
   * none of their offsets were committed; the next commit flushes them again.
   */
  unflushed: Array<{ task: StreamTask; error: KStreamsError }>
}

export class CommitCoordinator {
  readonly #options: CommitCoordinatorOptions
  #running: Promise<unknown> = Promise.resolve()
  /** Commits asked for and not yet settled. */
  #unsettled = 0

  constructor(options: CommitCoordinatorOptions) {
    this.#options = options
  }

  /** True from a commit's request until it settled (a checkpoint must see no write after its flush). */
  get committing(): boolean {
    return this.#unsettled > 0
  }

  /** Commits `tasks` (after any commit still running). Throws what the application must stop on. */
  commit(tasks: Iterable<StreamTask>): Promise<CommitOutcome> {
    const selected = [...tasks]
    this.#unsettled += 1
    const result = this.#running.then(() => this.#commit(selected))
    const settled = () => {
      this.#unsettled -= 1
    }
    this.#running = result.then(settled, settled)
    return result
  }

  async #commit(tasks: StreamTask[]): Promise<CommitOutcome> {
    const started = Date.now()
    const outcome: CommitOutcome = {
      committed: 0,
      fenced: [],
      groupFenced: [],
      deferred: false,
      unflushed: [],
    }
    if (this.#options.confirmMembership) {
      try {
        await this.#options.confirmMembership()
      } catch (error) {
        if (!isFencedError(error)) throw error
        outcome.groupFenced.push(...tasks)
        return outcome
      }
    }
    const flushes = await this.#prepare(tasks)
    const prepared: Array<{ task: StreamTask; flush: TaskFlush }> = []
    let failure: unknown
    flushes.forEach((settled, index) => {
      const task = tasks[index]!
      if (settled.status === 'fulfilled') prepared.push({ task, flush: settled.value })
      else if (isFencedError(settled.reason)) outcome.fenced.push(task)
      else if (KStreamsError.isInstance(settled.reason) && settled.reason.retriable) {
        outcome.unflushed.push({ task, error: settled.reason })
      } else failure ??= settled.reason
    })
    if (failure !== undefined) throw failure
    await this.#options.flushProduced()
    // A task lost meanwhile may have had records dropped before they were sent: none of its offsets go.
    const committable = prepared.filter(({ task }) => !task.retired)
    const offsets: CommitRequest[] = []
    for (const { flush } of committable) {
      for (const input of flush.point.inputs) offsets.push(this.#request(input))
    }
    if (offsets.length > 0) {
      try {
        await this.#options.commitOffsets(offsets)
      } catch (error) {
        if (isFencedError(error)) {
          outcome.groupFenced.push(...committable.map(({ task }) => task))
          return outcome
        }
        if (KStreamsError.isInstance(error) && error.retriable) {
          this.#options.logger.warn(
            `committing ${offsets.length} offset(s) failed for a retriable reason; they are committed with the next commit: ${error.message}`,
          )
          outcome.deferred = true
          return outcome
        }
        throw error
      }
    }
    for (const { task, flush } of committable) {
      task.markCommitted(flush.point.inputs)
      task.checkpoint((topic, partition) => this.#options.endOffset(topic, partition), flush.writes)
    }
    outcome.committed = offsets.length
    if (channels.commit.hasSubscribers) {
      channels.commit.publish({ durationMs: Date.now() - started, partitions: offsets.length })
    }
    return outcome
  }

  /**
   * Every task's `prepareCommit`, settled in task order. Tasks without stores take no lane and go
   * at once; the others `flushConcurrency` at a time, each next one after a turn of the event loop
   * (a flush in memory or on local disk is mostly synchronous work: without the turn, the queue
   * would run through in one go and hold the thread as long as flushing all of them at once).
   */
  async #prepare(tasks: StreamTask[]): Promise<Array<PromiseSettledResult<TaskFlush>>> {
    const endOffset = this.#options.endOffset
    const results: Array<Promise<TaskFlush>> = new Array(tasks.length)
    const queued: number[] = []
    tasks.forEach((task, index) => {
      if (task.hasStores) queued.push(index)
      else results[index] = task.prepareCommit(endOffset)
    })
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < queued.length) {
        const index = queued[next]!
        next += 1
        results[index] = tasks[index]!.prepareCommit(endOffset)
        await results[index]!.catch(() => {})
        if (next < queued.length) await yieldToEventLoop()
      }
    }
    const workers = Math.min(this.#options.flushConcurrency ?? 1, queued.length)
    await Promise.all(Array.from({ length: workers }, worker))
    return Promise.allSettled(results)
  }

  #request(input: InputCommitPoint): CommitRequest {
    const metadata = encodeCommitMetadata(
      input,
      (offsets) => {
        this.#options.logger.warn(
          `the completed-offset map of ${input.topic}[${input.partition}] does not fit the commit metadata; ${offsets} completed record(s) above offset ${input.offset} are left out of it and will be processed again after a restart`,
          { topic: input.topic, partition: input.partition, offset: input.offset },
        )
      },
      this.#options.metadataMaxCharacters,
    )
    return { topic: input.topic, partition: input.partition, offset: input.offset, metadata }
  }
}
