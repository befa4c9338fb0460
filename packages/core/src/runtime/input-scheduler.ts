// The input side of a task: one queue per co-partitioned source topic, merged by timestamp; an
// offset tracker per input partition (out-of-order completion allowed); the task's stream time;
// and lanes, the units of ordering. A lane runs one item at a time, in order. In `partition`
// mode a task has one lane, so records run one at a time as in Kafka Streams; per-key lanes fit
// the same shape. The scheduler decides what may run next; the executor runs it.
import type { InputCommitPoint } from '../commit-point.js'
import { TopologyError } from '../errors.js'
import type { FetchedRecord } from '../kafka/kafka-port.js'
import { OffsetTracker } from './offset-tracker.js'
import type { RecordScope } from './record-scope.js'

/** Bytes of fetched records buffered in the process, shared by every task's scheduler. */
export class BufferBudget {
  bytes = 0
  readonly maxBytes: number

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  get exhausted(): boolean {
    return this.bytes >= this.maxBytes
  }
}

/**
 * A unit of ordering: what runs in it runs one item at a time. Records enter and leave it; a
 * commit's store flush `acquire`s it, and is handed the lane before any record queued after it.
 */
export class Lane {
  /** The record, punctuation or flush running in this lane, if any. */
  running: RecordScope | undefined
  readonly #waiters: Array<{ scope: RecordScope; resolve: () => void }> = []
  readonly #onFree: () => void

  /** `onFree` runs whenever the lane becomes free, so its task can start the next record. */
  constructor(onFree: () => void = () => {}) {
    this.#onFree = onFree
  }

  get busy(): boolean {
    return this.running !== undefined
  }

  enter(scope: RecordScope): void {
    this.running = scope
  }

  /** Ends what runs now; a waiting `acquire` gets the lane next. */
  leave(): void {
    const waiter = this.#waiters.shift()
    if (waiter) {
      this.running = waiter.scope
      waiter.resolve()
      return
    }
    this.running = undefined
    this.#onFree()
  }

  /** Waits until the lane is free and takes it for `scope` (ahead of records not yet started). */
  acquire(scope: RecordScope): Promise<void> {
    if (!this.running) {
      this.running = scope
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiters.push({ scope, resolve }))
  }
}

interface InputQueue {
  topic: string
  batches: FetchedRecord[][]
  /** Index of the next record in batches[0]. */
  index: number
  size: number
  bytes: number
  offsets: OffsetTracker
}

/** A record handed out by the scheduler: run it in `lane`, then `complete` it. */
export interface ScheduledRecord {
  fetched: FetchedRecord
  lane: Lane
}

/** Rough heap cost of a fetched record: its bytes plus the objects around them. */
export function fetchedBytes(record: FetchedRecord): number {
  let bytes = 200 + (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0)
  for (const [name, value] of record.headers) bytes += name.length + (value?.byteLength ?? 0) + 40
  return bytes
}

export class InputScheduler {
  readonly partition: number
  readonly lane: Lane
  readonly #taskId: string
  readonly #queues = new Map<string, InputQueue>()
  readonly #budget: BufferBudget
  #streamTime = -1

  constructor(options: {
    taskId: string
    partition: number
    topics: readonly string[]
    budget: BufferBudget
    /** Called when the lane becomes free. */
    onLaneFree?: () => void
  }) {
    this.#taskId = options.taskId
    this.partition = options.partition
    this.#budget = options.budget
    this.lane = new Lane(options.onLaneFree)
    for (const topic of options.topics) {
      this.#queues.set(topic, {
        topic,
        batches: [],
        index: 0,
        size: 0,
        bytes: 0,
        offsets: new OffsetTracker(),
      })
    }
  }

  /** The largest record timestamp this task has started, or -1. */
  get streamTime(): number {
    return this.#streamTime
  }

  /** Moves stream time forward (never back): a record started, or the last commit's value on restart. */
  observe(timestamp: number): void {
    if (timestamp > this.#streamTime) this.#streamTime = timestamp
  }

  /**
   * Stream time as `scope` may use it to close windows and fire punctuations: never past a record
   * still in flight in another lane, whose effects are not applied yet.
   */
  watermark(scope: RecordScope | undefined): number {
    const running = this.lane.running
    if (running && running !== scope && running.kind === 'record' && running.timestamp < this.#streamTime) {
      return running.timestamp
    }
    return this.#streamTime
  }

  enqueue(topic: string, records: FetchedRecord[]): void {
    if (records.length === 0) return
    const queue = this.#queue(topic)
    let bytes = 0
    for (const record of records) bytes += fetchedBytes(record)
    queue.batches.push(records)
    queue.size += records.length
    queue.bytes += bytes
    this.#budget.bytes += bytes
  }

  /** Records waiting in the queue of `topic`, or in all queues. */
  buffered(topic?: string): number {
    if (topic !== undefined) return this.#queues.get(topic)?.size ?? 0
    let total = 0
    for (const queue of this.#queues.values()) total += queue.size
    return total
  }

  /** Records begun and not completed. */
  get inFlight(): number {
    let total = 0
    for (const queue of this.#queues.values()) total += queue.offsets.inFlight
    return total
  }

  /** True when a record is queued and its lane is free. */
  get runnable(): boolean {
    return !this.lane.busy && this.buffered() > 0
  }

  /**
   * The next record to run: the queued one with the smallest timestamp across the inputs, when its
   * lane is free. Its offset counts as in flight until `complete`.
   */
  next(): ScheduledRecord | undefined {
    if (this.lane.busy) return undefined
    const queue = this.#nextQueue()
    if (!queue) return undefined
    const batch = queue.batches[0]!
    const fetched = batch[queue.index]!
    queue.index += 1
    queue.size -= 1
    if (queue.index >= batch.length) {
      queue.batches.shift()
      queue.index = 0
    }
    const bytes = fetchedBytes(fetched)
    queue.bytes -= bytes
    this.#budget.bytes -= bytes
    queue.offsets.begin(fetched.offset)
    return { fetched, lane: this.lane }
  }

  /** The record is done: processed, and everything it caused handed to the collector or stores. */
  complete(record: ScheduledRecord): void {
    this.#queues.get(record.fetched.topic)?.offsets.complete(record.fetched.offset)
  }

  /** Per input partition with progress since the last commit: what a commit may cover now. */
  commitPoint(): InputCommitPoint[] {
    const points: InputCommitPoint[] = []
    for (const queue of this.#queues.values()) {
      const offset = queue.offsets.committable()
      if (offset === undefined) continue
      points.push({
        topic: queue.topic,
        partition: this.partition,
        offset,
        completed: queue.offsets.completedAbove(),
        streamTime: this.#streamTime,
      })
    }
    return points
  }

  /** Records that exactly these offsets were committed. */
  markCommitted(points: readonly InputCommitPoint[]): void {
    for (const point of points) this.#queues.get(point.topic)?.offsets.markCommitted(point.offset)
  }

  /** Drops the queued records of `topic` (after a revocation or seek). */
  clear(topic: string): void {
    const queue = this.#queues.get(topic)
    if (!queue) return
    this.#budget.bytes -= queue.bytes
    queue.batches = []
    queue.index = 0
    queue.size = 0
    queue.bytes = 0
  }

  /** Drops every queued record. */
  clearAll(): void {
    for (const topic of this.#queues.keys()) this.clear(topic)
  }

  #queue(topic: string): InputQueue {
    const queue = this.#queues.get(topic)
    if (!queue) {
      throw new TopologyError(`task ${this.#taskId} does not read topic "${topic}"`, { context: { topic } })
    }
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
}
