// The idle write-down: a task with nothing to run writes its older cached changes down ahead of its
// commit, on spare capacity only, so that the commit's flush has little left to write and does not
// hold the task for long. Deferrable work: it never changes what a commit makes durable, only when
// the bytes are written. The app calls `run` when a dispatch pass started no record and `committed`
// after each commit; it decides which tasks may write at all (running, restored, not committing).
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { Logger } from '../logger.js'
import { EventLoopLoad } from './event-loop-load.js'
import type { StreamTask } from './task.js'

/**
 * A cached change is written down early once it is this old (ms)... Short, because the changes
 * left when a load drops are mostly recent ones (a second of 100,000 updates over 100,000 keys
 * touches 63% of them): at 1,000 ms they waited a second for the write-down, and a commit that
 * came in that second wrote them all at once. Measured on a 1M-record count whose commit came a
 * second after the input stopped: p99 latency 356–632 ms at 1,000, 103–116 ms at 250.
 */
const AGE_MS = 250
/** ...together with the changes that come due in the next this many ms (a trickle goes in rounds). */
const ROUND_MS = 100

export interface IdleWriteDownOptions {
  /** Entries per batch (`cacheIdleWriteDownBatch`); 0 turns the write-down off. */
  batch: number
  logger: Logger
  /**
   * Whether the group still knows this member (`GroupConsumer.confirmMembership`): a member fenced
   * while its event loop was blocked must not write older state into a changelog its task's new
   * owner advanced. Absent: assumed current.
   */
  confirmMembership?: () => Promise<boolean>
  /** Wakes the dispatcher: after a batch, and when a change comes due with no record arriving. */
  wake: () => void
}

export class IdleWriteDown {
  readonly #options: IdleWriteDownOptions
  /** A batch is being written (one at a time in the app). */
  #writing = false
  /** Tasks left to their next commit (a batch failed or wrote nothing). */
  readonly #skipped = new Set<StreamTask>()
  /** Whether the event loop has spare capacity. */
  readonly #load = new EventLoopLoad()
  #recheck: NodeJS.Timeout | undefined

  constructor(options: IdleWriteDownOptions) {
    this.#options = options
  }

  /**
   * When the event loop has spare capacity (busy with records less than half of the last 250 ms,
   * `EventLoopLoad`): one task of `tasks` with nothing to run writes a batch of its cached changes
   * that are `AGE_MS` old or older (and those that come due in the next `ROUND_MS`), the
   * longest-dirty first. After a turn of the event loop the dispatcher runs what arrived meanwhile,
   * then the next batch, so a record that arrives waits for one batch at most. Under load nothing
   * is written early, and a key updated again and again is written once every 150 ms at most
   * (`AGE_MS` less `ROUND_MS`), so repeated updates keep merging in the cache. A failed batch is
   * logged and left to the next commit, whose flush writes the same entries and applies the store
   * error rules to the failure.
   * `tasks` are those allowed to write now; the caller leaves out restoring tasks and calls this
   * only in the steady running state with no commit under way (a checkpoint must see no backend
   * write after its flush).
   */
  run(tasks: Iterable<StreamTask>): void {
    const batch = this.#options.batch
    if (this.#writing || batch === 0) return
    const changedBefore = performance.now() - AGE_MS
    let idle: StreamTask | undefined
    let nextDue = Number.POSITIVE_INFINITY
    for (const task of tasks) {
      if (this.#skipped.has(task) || task.inFlight > 0 || task.buffered() > 0) continue
      const oldest = task.oldestChangeAt
      if (oldest === undefined) continue
      if (oldest > changedBefore) nextDue = Math.min(nextDue, oldest - changedBefore)
      else {
        idle = task
        break
      }
    }
    if (!idle) {
      // Look again when the oldest change is due, even if no record arrives meanwhile.
      if (nextDue !== Number.POSITIVE_INFINITY) this.#recheckIn(nextDue)
      return
    }
    if (!this.#load.spare) {
      this.#recheckIn(this.#load.untilNextSampleMs)
      return
    }
    this.#write(idle, batch, changedBefore + ROUND_MS)
  }

  /** After a commit: every task may write down again. */
  committed(): void {
    this.#skipped.clear()
  }

  close(): void {
    clearTimeout(this.#recheck)
    this.#recheck = undefined
  }

  #write(task: StreamTask, batch: number, changedBefore: number): void {
    const { confirmMembership, logger, wake } = this.#options
    const started = performance.now()
    this.#writing = true
    ;(confirmMembership?.() ?? Promise.resolve(true))
      .then((current) => (current ? task.writeDownIdle(batch, changedBefore) : 0))
      .then((written) => {
        // A task that could not write (failed or retired meanwhile) is not picked again and again.
        if (written === 0) this.#skipped.add(task)
      })
      .catch((error: unknown) => {
        this.#skipped.add(task)
        logger.debug(
          `task ${task.id} could not write cached changes down while idle; its next commit flushes them: ${error instanceof Error ? error.message : String(error)}`,
        )
      })
      .then(() => {
        this.#load.spent(performance.now() - started)
        return yieldToEventLoop()
      })
      .then(() => {
        this.#writing = false
        wake()
      })
  }

  /** Wakes the dispatcher in `milliseconds` to look again. */
  #recheckIn(milliseconds: number): void {
    this.#recheck ??= setTimeout(() => {
      this.#recheck = undefined
      this.#options.wake()
    }, Math.ceil(milliseconds) + 1).unref()
  }
}
