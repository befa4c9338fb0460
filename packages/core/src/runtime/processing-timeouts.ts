// `processingTimeoutMs` for every asynchronous record and punctuation of a task with one timer:
// the timer is due when the oldest tracked work is, and each firing expires what is overdue and
// sets itself for the next. Work that settles only leaves the set, so a record that settles in
// time costs a SlotSet entry, not a timer, a Promise and a race.
import type { RecordScope } from './record-scope.js'
import { SlotSet, type Slotted } from './slot-set.js'

/** One record's or punctuation's asynchronous work, watched until it settles or expires. */
export interface TimedWork extends Slotted {
  readonly scope: RecordScope
  /** When the work started (wall clock), unless the scope started a later attempt. */
  readonly started: number
  /** Ends the work after it expired and its policy let the task go on. */
  resolve(): void
  /** Ends the work after it expired and its policy (`fail`) stops the task with `error`. */
  reject(error: unknown): void
}

export class ProcessingTimeouts {
  readonly #timeoutMs: number
  readonly #onExpired: (work: TimedWork) => void
  readonly #watched = new SlotSet<TimedWork>()
  #timer: NodeJS.Timeout | undefined
  /** When the timer fires; +Infinity without a timer. */
  #timerDue = Number.POSITIVE_INFINITY
  #timerReferenced = false
  #closed = false

  constructor(timeoutMs: number, onExpired: (work: TimedWork) => void) {
    this.#timeoutMs = timeoutMs
    this.#onExpired = onExpired
  }

  /** Watches `work`; `onExpired` gets it once it outlived the timeout. */
  track(work: TimedWork): void {
    this.#watched.add(work)
    if (this.#closed) return
    const due = work.started + this.#timeoutMs
    if (this.#timer === undefined || due < this.#timerDue) this.#arm(due, work.started)
    else if (!this.#timerReferenced) {
      // A pending record keeps the process alive until its deadline, as a timer of its own did.
      this.#timer.ref()
      this.#timerReferenced = true
    }
  }

  /** Stops watching `work`. False when it had expired already (its outcome no longer counts). */
  untrack(work: TimedWork): boolean {
    if (!this.#watched.delete(work)) return false
    if (this.#watched.size === 0 && this.#timer !== undefined && this.#timerReferenced) {
      // Left armed (re-arming per record would cost a timer per record again), but idle.
      this.#timer.unref()
      this.#timerReferenced = false
    }
    return true
  }

  /** Stops the timer; work still watched never expires (its task is closing). */
  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerDue = Number.POSITIVE_INFINITY
  }

  #arm(due: number, now: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerDue = due
    this.#timer = setTimeout(() => this.#sweep(), Math.max(1, due - now))
    this.#timerReferenced = true
  }

  #sweep(): void {
    this.#timer = undefined
    this.#timerDue = Number.POSITIVE_INFINITY
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    const expired: TimedWork[] = []
    for (const work of this.#watched.values()) {
      // A retry started a new attempt (or the record waits to retry: +Infinity): time counts from it.
      const attemptStarted = work.scope.attemptStartedAt ?? work.started
      const due = Number.isFinite(attemptStarted) ? attemptStarted + this.#timeoutMs : now + this.#timeoutMs
      if (due <= now) expired.push(work)
      else if (due < next) next = due
    }
    for (const work of expired) {
      this.#watched.delete(work)
      this.#onExpired(work)
    }
    if (this.#closed || this.#watched.size === 0) return
    this.#arm(next, now)
  }
}
