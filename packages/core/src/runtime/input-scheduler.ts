// The input side of a task: one queue per co-partitioned source topic, merged by timestamp; an
// offset tracker per input partition (out-of-order completion allowed); the task's stream time;
// and lanes, the units of ordering. A lane runs one record at a time, in order. In `partition`
// mode a task has one lane, so records run one at a time as in Kafka Streams; in `key` mode there
// is a lane per ordering key (made when needed, dropped when idle), in `unordered` mode one per
// record. A record whose lane is busy waits in that lane's pending queue, so a busy key never
// holds other keys back; how far the scheduler reads ahead is bounded by `maxInFlight`.
// A barrier (`acquire`) gives a commit's flush, or a punctuation, the whole task: it stops
// starting records, waits until the running ones finished, and holds the task until released.
// The scheduler decides what may run next; the executor runs it.
import type { InputCommitPoint } from '../commit-point.js'
import { TopologyError } from '../errors.js'
import type { FetchedRecord } from '../kafka/kafka-port.js'
import type { Record } from '../record.js'
import { toKey } from '../state/sorted-key-map.js'
import { type SubtopologyConcurrency, UNORDERED } from '../topology.js'
import {
  backpressureCharacters,
  encodeCommitMetadata,
  MAX_METADATA_CHARACTERS,
  METADATA_OVERHEAD_CHARACTERS,
} from './commit-metadata.js'
import { OffsetTracker } from './offset-tracker.js'
import type { RecordScope } from './record-scope.js'
import { SlotSet } from './slot-set.js'

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

interface LaneOwner {
  entered(lane: Lane, scope: RecordScope): void
  left(lane: Lane, scope: RecordScope): void
}

/** A unit of ordering: the records that run in it run one at a time, in the order they came. */
export class Lane {
  /** The record running in this lane, if any. */
  running: RecordScope | undefined
  /** Records of this lane that came while it was busy, in order. They began their offsets. */
  readonly pending: ScheduledRecord[] = []
  /** The ordering key (`key` mode), or undefined. */
  readonly key: string | undefined
  /** Waits in the scheduler's list of free lanes with pending records. */
  ready = false
  readonly #owner: LaneOwner

  constructor(owner: LaneOwner, key: string | undefined) {
    this.#owner = owner
    this.key = key
  }

  get busy(): boolean {
    return this.running !== undefined
  }

  enter(scope: RecordScope): void {
    this.running = scope
    this.#owner.entered(this, scope)
  }

  /** Ends the record running now; the lane's next pending record may start. */
  leave(): void {
    const scope = this.running
    if (!scope) return
    this.running = undefined
    this.#owner.left(this, scope)
  }
}

/** What the scheduler learnt of a record when it chose its lane (`key` mode with an ordering function). */
export interface PreparedRecord {
  /** The deserialized record (timestamp extracted); undefined when that failed. */
  record: Record<unknown, unknown> | undefined
  /** Why the record cannot run: its deserialization or its ordering key failed; the policy applies. */
  failure: { stage: 'deserialization' | 'processing'; error: unknown } | undefined
}

interface InputQueue {
  topic: string
  /** Fetched batches in order; a record taken from one is cleared from it (it may be collected). */
  batches: Array<Array<FetchedRecord | undefined>>
  /** Bytes of each batch (`fetchedBytes`), released from the budget when the batch is used up. */
  batchBytes: number[]
  /** Index of the next record in batches[0]. */
  index: number
  size: number
  bytes: number
  offsets: OffsetTracker
  /** Offsets done before a restart (the committed completed-offset map): skipped, not processed. */
  skip: Set<bigint>
  /** `offsets.version` when the map's size was last measured, and whether it held the queue back. */
  measuredVersion: number
  heldBack: boolean
  /** `offsets.version` when the last commit point was taken. */
  snapshotVersion: number
}

/**
 * Where one input partition of a task stands (diagnostics): why it does not move, when it does
 * not. Offsets are the partition's; `headOfLine` is the record a commit waits for.
 */
export interface PartitionProgress {
  taskId: string
  topic: string
  partition: number
  /** Records begun and not done: running, waiting to retry, or waiting behind their key. */
  inFlight: number
  running: number
  /** Records waiting to retry (a processor's `retry` option): each parks its key. */
  retrying: number
  /** Records waiting in their key's lane behind a record of the same key. */
  waiting: number
  /** Records fetched and not begun. */
  buffered: number
  /** The offset a commit would cover (the lowest incomplete one, or one past the last done). */
  position: bigint | undefined
  /** Offsets done above `position`: the completed-offset map. */
  completed: number
  /** Characters of the completed-offset map in the commit metadata. */
  mapCharacters: number
  /** True while the map nears the broker's metadata limit and the partition starts no record. */
  heldBack: boolean
  /** The lowest incomplete record, if any. */
  headOfLine:
    | {
        offset: bigint
        key: Uint8Array | null
        state: 'running' | 'retrying' | 'waiting' | 'given-up'
        /** Its attempt (from 1). */
        attempt: number
        /** Since it began (running) or waits (behind its key), in ms; undefined when not known. */
        ageMs: number | undefined
      }
    | undefined
}

/** Scopes with their lanes (kept on the scope), in a SlotSet: no allocation per record. */
class ScopeLanes {
  readonly #scopes = new SlotSet<RecordScope>()

  get size(): number {
    return this.#scopes.size
  }

  has(scope: RecordScope): boolean {
    return this.#scopes.has(scope)
  }

  get(scope: RecordScope): Lane | undefined {
    return this.#scopes.has(scope) ? (scope.lane as Lane) : undefined
  }

  set(scope: RecordScope, lane: Lane): void {
    scope.lane = lane
    this.#scopes.add(scope)
  }

  delete(scope: RecordScope): void {
    this.#scopes.delete(scope)
  }

  /** The scopes, in no particular order (not to be changed while walked). */
  keys(): readonly RecordScope[] {
    return this.#scopes.live()
  }
}

/** A record handed out by the scheduler: run it in `lane`, then `complete` it. */
export interface ScheduledRecord {
  fetched: FetchedRecord
  lane: Lane
  /** Deserialized when the lane was chosen, so the executor need not deserialize it again. */
  prepared?: PreparedRecord
  /** The scope the executor runs it in, once started. */
  scope?: RecordScope
  /** When it began waiting behind its key (wall clock), for diagnostics. */
  waitingSince?: number
}

const PARTITION_MODE: SubtopologyConcurrency = { mode: 'partition', orderingKey: undefined, maxInFlight: 1 }

/** Rough heap cost of a fetched record: its bytes plus the objects around them. */
export function fetchedBytes(record: FetchedRecord): number {
  let bytes = 200 + (record.payloadBytes ?? (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0))
  const headers = record.headers
  for (let index = 0; index < headers.length; index++) {
    const [name, value] = headers[index]!
    bytes += name.length + (value?.byteLength ?? 0) + 40
  }
  return bytes
}

export class InputScheduler {
  readonly partition: number
  readonly concurrency: SubtopologyConcurrency
  readonly #taskId: string
  readonly #queues = new Map<string, InputQueue>()
  readonly #budget: BufferBudget
  readonly #onFree: () => void
  readonly #prepare: ((fetched: FetchedRecord) => PreparedRecord) | undefined
  readonly #onSuperseded: ((superseded: ScheduledRecord, newer: ScheduledRecord) => void) | undefined
  /** Map characters past which a partition is held back. */
  readonly #backpressureCharacters: number
  readonly #owner: LaneOwner
  /** The one lane of `partition` mode. */
  readonly #taskLane: Lane
  /** `key` mode: the lanes with a running or pending record, by ordering key. */
  readonly #lanes = new Map<string, Lane>()
  /** Free lanes with pending records, oldest first. */
  readonly #ready: Lane[] = []
  /** Records running, with their lanes. */
  readonly #running = new ScopeLanes()
  /**
   * Records waiting to retry (`park`): they keep their lanes, so later records of the lane wait,
   * but they do not hold a barrier back.
   */
  readonly #parked = new ScopeLanes()
  /** Parked records whose wait is over, waiting for the task to be free of a barrier. */
  readonly #unparking: Array<{ scope: RecordScope; resolve: () => void }> = []
  #pending = 0
  /** What holds the whole task (a flush or a punctuation), if anything. */
  #exclusive: RecordScope | undefined
  readonly #waiters: Array<{ scope: RecordScope; resolve: () => void }> = []
  /** A punctuation is due: start no record until the running ones finished. */
  #held = false
  #streamTime = -1

  constructor(options: {
    taskId: string
    partition: number
    topics: readonly string[]
    budget: BufferBudget
    /** Called when a record can start again (a lane or the task became free). */
    onLaneFree?: () => void
    /** How records may overlap. @default partition mode */
    concurrency?: SubtopologyConcurrency
    /** Deserializes a record (the executor's), when the ordering key is a function of the record. */
    prepare?: (fetched: FetchedRecord) => PreparedRecord
    /** Per topic, offsets completed before a restart (the committed completed-offset map). */
    skip?: ReadonlyMap<string, Iterable<bigint>>
    /** The broker's `offset.metadata.max.bytes`. @default 4096 */
    metadataMaxCharacters?: number
    /** Conflation: told of each record skipped for a newer one of its key (already marked done). */
    onSuperseded?: (superseded: ScheduledRecord, newer: ScheduledRecord) => void
  }) {
    this.#taskId = options.taskId
    this.partition = options.partition
    this.#budget = options.budget
    this.#onFree = options.onLaneFree ?? (() => {})
    this.concurrency = options.concurrency ?? PARTITION_MODE
    this.#prepare = this.concurrency.orderingKey ? options.prepare : undefined
    this.#onSuperseded = options.onSuperseded
    this.#backpressureCharacters = backpressureCharacters(
      options.metadataMaxCharacters ?? MAX_METADATA_CHARACTERS,
    )
    this.#owner = {
      entered: (lane, scope) => {
        this.#running.set(scope, lane)
      },
      left: (lane, scope) => this.#left(lane, scope),
    }
    this.#taskLane = new Lane(this.#owner, undefined)
    for (const topic of options.topics) {
      this.#queues.set(topic, {
        topic,
        batches: [],
        batchBytes: [],
        index: 0,
        size: 0,
        bytes: 0,
        offsets: new OffsetTracker(),
        skip: new Set(options.skip?.get(topic)),
        measuredVersion: -1,
        heldBack: false,
        snapshotVersion: -1,
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
   * still in flight in another lane (running, or pending in a lane), whose effects are not applied yet.
   */
  watermark(scope: RecordScope | undefined): number {
    let watermark = this.#streamTime
    const running = this.#running.keys()
    for (let index = 0; index < running.length; index++) {
      const other = running[index]!
      if (other !== scope && other.timestamp < watermark) watermark = other.timestamp
    }
    const parked = this.#parked.keys()
    for (let index = 0; index < parked.length; index++) {
      const other = parked[index]!
      if (other !== scope && other.timestamp < watermark) watermark = other.timestamp
    }
    if (this.#pending > 0) {
      const lanes = this.concurrency.mode === 'key' ? this.#lanes.values() : [this.#taskLane]
      for (const lane of lanes) {
        for (const pending of lane.pending) {
          const timestamp = pending.prepared?.record?.timestamp ?? pending.fetched.timestamp
          if (timestamp < watermark) watermark = timestamp
        }
      }
    }
    return watermark
  }

  enqueue(topic: string, records: FetchedRecord[]): void {
    if (records.length === 0) return
    const queue = this.#queue(topic)
    let bytes = 0
    for (const record of records) bytes += fetchedBytes(record)
    queue.batches.push(records)
    queue.batchBytes.push(bytes)
    queue.size += records.length
    queue.bytes += bytes
    this.#budget.bytes += bytes
  }

  /** Records waiting in the queue of `topic`, or in all queues (not counting records pending in lanes). */
  buffered(topic?: string): number {
    if (topic !== undefined) return this.#queues.get(topic)?.size ?? 0
    let total = 0
    for (const queue of this.#queues.values()) total += queue.size
    return total
  }

  /** Records waiting in lanes for their turn. */
  get pending(): number {
    return this.#pending
  }

  /** Records running now (not counting records waiting to retry). */
  get running(): number {
    return this.#running.size
  }

  /** Records waiting to retry. */
  get parked(): number {
    return this.#parked.size
  }

  /** Records begun and not completed (running, pending in lanes, or given up). */
  get inFlight(): number {
    let total = 0
    for (const queue of this.#queues.values()) total += queue.offsets.inFlight - queue.offsets.completedCount
    return total
  }

  /** True when a record could start now. */
  get runnable(): boolean {
    if (this.#exclusive || this.#waiters.length > 0 || this.#held) return false
    const begun = this.#running.size + this.#parked.size
    if (begun >= this.concurrency.maxInFlight) return false
    return (
      this.#ready.length > 0 || (this.buffered() > 0 && begun + this.#pending < this.concurrency.maxInFlight)
    )
  }

  /** The records running now or waiting to retry (to give them up) and what holds the task. */
  runningScopes(): RecordScope[] {
    const scopes = [...this.#running.keys(), ...this.#parked.keys()]
    if (this.#exclusive) scopes.push(this.#exclusive)
    return scopes
  }

  /** Ends what runs in `scope` (a record given up, or the exclusive holder), as if it finished. */
  leave(scope: RecordScope): void {
    if (this.#exclusive === scope) this.release(scope)
    else (this.#running.get(scope) ?? this.#parked.get(scope))?.leave()
  }

  /**
   * A running record waits to retry: it keeps its lane (later records of the lane wait behind it)
   * but no longer counts as running, so a commit's flush or a punctuation may take the task
   * meanwhile. `unpark` makes it run again.
   */
  park(scope: RecordScope): void {
    const lane = this.#running.get(scope)
    if (!lane) return
    this.#running.delete(scope)
    this.#parked.set(scope, lane)
    this.#handOver()
  }

  /** Resolves once the parked record may run again: at once, or when what holds the task releases it. */
  unpark(scope: RecordScope): Promise<void> {
    if (!this.#parked.has(scope)) return Promise.resolve()
    if (!this.#exclusive && this.#waiters.length === 0) {
      this.#resume(scope)
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#unparking.push({ scope, resolve }))
  }

  #resume(scope: RecordScope): void {
    const lane = this.#parked.get(scope)
    if (!lane) return
    this.#parked.delete(scope)
    this.#running.set(scope, lane)
  }

  /**
   * The next record to run: the head of a free lane's pending records, else the queued record with
   * the smallest timestamp across the inputs, if its lane is free (a record whose lane is busy goes
   * to the lane's pending records, and the next one is looked at). Nothing while the task is held
   * or `maxInFlight` records are begun. Its offset counts as in flight until `complete`.
   */
  next(): ScheduledRecord | undefined {
    if (this.#exclusive || this.#waiters.length > 0 || this.#held) return undefined
    const maxInFlight = this.concurrency.maxInFlight
    if (this.#running.size + this.#parked.size >= maxInFlight) return undefined
    while (this.#ready.length > 0) {
      const lane = this.#ready.shift()!
      lane.ready = false
      const head = lane.busy ? undefined : lane.pending.shift()
      if (!head) continue
      this.#pending -= 1
      return head
    }
    while (this.#running.size + this.#parked.size + this.#pending < maxInFlight) {
      const queue = this.#nextQueue()
      if (!queue) return undefined
      const fetched = this.#take(queue)
      queue.offsets.begin(fetched.offset)
      if (queue.skip.size > 0 && queue.skip.delete(fetched.offset)) {
        queue.offsets.complete(fetched.offset)
        continue
      }
      const scheduled = this.#schedule(fetched)
      const lane = scheduled.lane
      if (!lane.busy && lane.pending.length === 0) return scheduled
      if (this.concurrency.conflate && lane.key !== undefined) this.#supersede(lane, scheduled)
      scheduled.waitingSince = Date.now()
      lane.pending.push(scheduled)
      this.#pending += 1
    }
    return undefined
  }

  /** The record is done: processed, and everything it caused handed to the collector or stores. */
  complete(record: ScheduledRecord): void {
    this.#queues.get(record.fetched.topic)?.offsets.complete(record.fetched.offset)
  }

  /**
   * Waits until no record runs and takes the whole task for `scope` (a commit's flush): no record
   * starts meanwhile, and it is handed the task before any record not started yet. `release` ends it.
   */
  acquire(scope: RecordScope): Promise<void> {
    if (!this.#exclusive && this.#running.size === 0 && this.#waiters.length === 0) {
      this.#exclusive = scope
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiters.push({ scope, resolve }))
  }

  /** Takes the task for `scope` now if nothing runs (a punctuation); else holds new records back and returns false. */
  tryAcquire(scope: RecordScope): boolean {
    if (this.#exclusive || this.#running.size > 0 || this.#waiters.length > 0) {
      this.#held = true
      return false
    }
    this.#held = false
    this.#exclusive = scope
    return true
  }

  /** Lets records start again after `tryAcquire` held them back (the punctuation may no longer be due). */
  unhold(): void {
    this.#held = false
  }

  /** What holds the whole task now (a flush or a punctuation), if anything. */
  get exclusive(): RecordScope | undefined {
    return this.#exclusive
  }

  /** True while a flush or punctuation holds the task, or waits for it. */
  get held(): boolean {
    return this.#exclusive !== undefined || this.#waiters.length > 0
  }

  /** Ends what `acquire` or `tryAcquire` took. */
  release(scope: RecordScope): void {
    if (this.#exclusive !== scope) return
    this.#exclusive = undefined
    this.#handOver()
  }

  /** Per input partition with progress since the last commit: what a commit may cover now. */
  commitPoint(): InputCommitPoint[] {
    const points: InputCommitPoint[] = []
    for (const queue of this.#queues.values()) {
      const offset = queue.offsets.committable()
      if (offset === undefined) continue
      queue.snapshotVersion = queue.offsets.version
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

  /** Where each input partition stands now (diagnostics: `kstreams:partition:progress`). */
  progress(): PartitionProgress[] {
    const now = Date.now()
    const lanes = this.concurrency.mode === 'key' ? [...this.#lanes.values()] : [this.#taskLane]
    return [...this.#queues.values()].map((queue) => {
      const { topic } = queue
      const mine = (scope: RecordScope) => scope.fetched?.topic === topic
      const running = [...this.#running.keys()].filter(mine)
      const parked = [...this.#parked.keys()].filter(mine)
      const waiting = lanes.flatMap((lane) => lane.pending.filter((record) => record.fetched.topic === topic))
      const offsets = queue.offsets
      const lowest = offsets.lowestIncomplete
      let headOfLine: PartitionProgress['headOfLine']
      if (lowest !== undefined) {
        const at = (scope: RecordScope) => scope.fetched!.offset === lowest
        const scope = running.find(at) ?? parked.find(at)
        const pending = scope ? undefined : waiting.find((record) => record.fetched.offset === lowest)
        const record = scope?.fetched ?? pending?.fetched
        const since = scope?.startedAt ?? pending?.waitingSince
        headOfLine = {
          offset: lowest,
          key: record?.key ?? null,
          state: scope ? (parked.includes(scope) ? 'retrying' : 'running') : pending ? 'waiting' : 'given-up',
          attempt: scope?.attempt ?? 1,
          ageMs: since === undefined ? undefined : now - since,
        }
      }
      const completed = offsets.completedCount
      return {
        taskId: this.#taskId,
        topic,
        partition: this.partition,
        inFlight: offsets.inFlight - completed,
        running: running.length,
        retrying: parked.length,
        waiting: waiting.length,
        buffered: queue.size,
        position: offsets.position,
        completed,
        mapCharacters:
          completed === 0
            ? 0
            : encodeCommitMetadata({
                offset: offsets.position ?? 0n,
                completed: offsets.completedAbove(),
                streamTime: this.#streamTime,
              }).length,
        heldBack: completed > 0 && this.#heldBack(queue),
        headOfLine,
      }
    })
  }

  /** Records that exactly these offsets were committed. */
  markCommitted(points: readonly InputCommitPoint[]): void {
    for (const point of points) {
      const queue = this.#queues.get(point.topic)
      queue?.offsets.markCommitted(point.offset, queue.snapshotVersion)
    }
  }

  /**
   * Drops the queued records of `topic`, and those pending in lanes (after a revocation): they are
   * not processed here, and their offsets are not committed.
   */
  clear(topic: string): void {
    const queue = this.#queues.get(topic)
    if (!queue) return
    this.#budget.bytes -= queue.bytes
    queue.batches = []
    queue.batchBytes = []
    queue.index = 0
    queue.size = 0
    queue.bytes = 0
    if (this.#pending === 0) return
    for (const lane of [this.#taskLane, ...this.#lanes.values()]) {
      const kept = lane.pending.filter((record) => record.fetched.topic !== topic)
      this.#pending -= lane.pending.length - kept.length
      lane.pending.splice(0, lane.pending.length, ...kept)
      if (!lane.busy && lane.pending.length === 0 && lane.key !== undefined) this.#lanes.delete(lane.key)
    }
  }

  /** Drops every queued record. */
  clearAll(): void {
    for (const topic of this.#queues.keys()) this.clear(topic)
  }

  /** Conflation: the records waiting in `lane` are done, skipped for `newer`. */
  #supersede(lane: Lane, newer: ScheduledRecord): void {
    for (const superseded of lane.pending.splice(0)) {
      this.#pending -= 1
      this.complete(superseded)
      this.#onSuperseded?.(superseded, newer)
    }
  }

  #left(lane: Lane, scope: RecordScope): void {
    this.#running.delete(scope)
    this.#parked.delete(scope)
    if (lane.pending.length > 0) {
      if (!lane.ready) {
        lane.ready = true
        this.#ready.push(lane)
      }
    } else if (lane.key !== undefined && this.#lanes.get(lane.key) === lane) {
      this.#lanes.delete(lane.key)
    }
    this.#handOver()
  }

  /** The task is free of what held it, or a record finished: a waiting flush goes first, else records may start. */
  #handOver(): void {
    if (this.#exclusive) return
    if (this.#running.size === 0 && this.#waiters.length > 0) {
      const waiter = this.#waiters.shift()!
      this.#exclusive = waiter.scope
      waiter.resolve()
      return
    }
    if (this.#waiters.length > 0) return
    // Retries whose wait ended while the task was held go before new records.
    while (this.#unparking.length > 0) {
      const { scope, resolve } = this.#unparking.shift()!
      this.#resume(scope)
      resolve()
    }
    this.#onFree()
  }

  /** Chooses the lane of a record just taken from its queue. */
  #schedule(fetched: FetchedRecord): ScheduledRecord {
    const { mode, orderingKey } = this.concurrency
    if (mode === 'partition') return { fetched, lane: this.#taskLane }
    if (mode === 'unordered') return { fetched, lane: new Lane(this.#owner, undefined) }
    let key: string | typeof UNORDERED = UNORDERED
    let prepared: PreparedRecord | undefined
    if (orderingKey && this.#prepare) {
      prepared = this.#prepare(fetched)
      if (prepared.record) {
        try {
          key = orderingKey(prepared.record)
        } catch (error) {
          prepared.failure = { stage: 'processing', error }
        }
      }
    } else if (fetched.key !== null) {
      key = toKey(fetched.key)
    }
    if (key === UNORDERED || typeof key !== 'string') {
      return { fetched, lane: new Lane(this.#owner, undefined), prepared }
    }
    let lane = this.#lanes.get(key)
    if (!lane) {
      lane = new Lane(this.#owner, key)
      this.#lanes.set(key, lane)
    }
    return { fetched, lane, prepared }
  }

  #take(queue: InputQueue): FetchedRecord {
    const batch = queue.batches[0]!
    const fetched = batch[queue.index]!
    // Not kept until the batch is used up: a record done with dies young (a waiting batch of
    // thousands would otherwise keep its finished records, and their key and value views,
    // through the young-generation collections that promote them).
    batch[queue.index] = undefined
    queue.index += 1
    queue.size -= 1
    if (queue.index >= batch.length) {
      // The batch's bytes leave the budget when its last record is taken.
      queue.batches.shift()
      const bytes = queue.batchBytes.shift()!
      queue.bytes -= bytes
      this.#budget.bytes -= bytes
      queue.index = 0
    }
    return fetched
  }

  /**
   * True when the completed-offset map of the queue's partition nears the broker's metadata limit:
   * its records wait until the map shrinks (its lowest incomplete record finishes). The cheap
   * bound is looked at first; the exact size only when the bound is past the limit.
   */
  #heldBack(queue: InputQueue): boolean {
    const offsets = queue.offsets
    if (offsets.encodedBound() + METADATA_OVERHEAD_CHARACTERS <= this.#backpressureCharacters) return false
    // Past the bounds only the run-length form may still fit (the bitset's bound is exact). Its
    // exact size costs a sort, so it is measured again only after 64 changes: meanwhile the map
    // grows by a few hundred characters at most, well inside the quarter kept free.
    if (queue.measuredVersion < 0 || offsets.version - queue.measuredVersion >= 64) {
      queue.measuredVersion = offsets.version
      const text = encodeCommitMetadata({
        offset: offsets.position ?? 0n,
        completed: offsets.completedAbove(),
        streamTime: this.#streamTime,
      })
      queue.heldBack = text.length > this.#backpressureCharacters
    }
    return queue.heldBack
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
        if (this.#heldBack(queue)) continue
        best = queue
        bestTimestamp = timestamp
      }
    }
    return best
  }
}
