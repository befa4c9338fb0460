// Windowed count, reduce and aggregate processors over time windows (tumbling, hopping, calendar)
// and session windows. Results are keyed by `WindowedKey<K>`. Records whose every window closed
// (window end + grace <= stream time) are late: dropped and counted, or forwarded to a named child.
// Emit modes: every update, or the final result once per window when it closes (by stream time,
// and optionally by the wall clock so results come out when input stops).
import { channels } from '../diagnostics.js'
import { ConfigError, TopologyError } from '../errors.js'
import type { ProcessorContext, ProcessorSupplier } from '../processor.js'
import type { Record } from '../record.js'
import { continueInScope, synchronousScoped } from '../runtime/record-scope.js'
import type { Serde } from '../serde.js'
import { readInt64, writeInt64 } from '../state/key-bytes.js'
import { NOT_CACHED, SETTLED } from '../state/key-value-store.js'
import {
  peekWindow,
  putPeekedWindow,
  type WindowedEntry,
  type WindowPeeking,
  type WindowStore,
} from './window-store.js'
import { integerOption, type TimeWindows, type Window } from './windows.js'

/** The key of a windowed result. */
export interface WindowedKey<K> {
  key: K
  window: Window
}

/**
 * Serde of `WindowedKey<K>`: the inner key's bytes, then start and end as 8-byte big-endian
 * integers (so keys of one window sort together).
 */
export function windowedKeySerde<K>(keySerde: Serde<K>): Serde<WindowedKey<K>> {
  return {
    serialize(value, context) {
      const key = keySerde.serialize(value.key, context) ?? new Uint8Array(0)
      const out = new Uint8Array(key.byteLength + 16)
      out.set(key)
      writeInt64(out, key.byteLength, value.window.start)
      writeInt64(out, key.byteLength + 8, value.window.end)
      return out
    },
    deserialize(bytes, context) {
      if (bytes.byteLength < 16) {
        throw new Error(`a windowed key needs at least 16 bytes, got ${bytes.byteLength}`)
      }
      const split = bytes.byteLength - 16
      return {
        key: keySerde.deserialize(bytes.subarray(0, split), context),
        window: { start: readInt64(bytes, split), end: readInt64(bytes, split + 8) },
      }
    },
  }
}

export type EmitMode = 'update' | 'final'

export interface CommonOptions {
  /** Name of the window store (added with `stores.window`) that holds the aggregates. */
  store: string
  /** `update`: forward every change; `final`: forward each window once, when it closes. @default 'update' */
  emit?: EmitMode
  /** What happens to a late record: `drop` (counted) or forwarded to the named child. @default 'drop' */
  late?: 'drop' | { forwardTo: string }
  /**
   * With `emit: 'final'`, also close windows by the wall clock every this many ms, so final results
   * come out when input stops (a window closes when `max(stream time, wall clock)` passes its end
   * plus grace). @default off
   */
  closeOnWallClockMs?: number
}

export interface WindowedAggregateOptions<K, V, A> extends CommonOptions {
  windows: TimeWindows
  initializer: () => A
  aggregator: (key: K, value: V, aggregate: A) => A
}

/** Stream time ms between two retention clean-ups of the window store. */
const EXPIRE_EVERY_MS = 60_000

/**
 * Aggregates records per key and time window into the window store `options.store`.
 *
 * @example
 * builder
 *   .addStore(stores.window('revenue', { keySerde: serdes.string(), valueSerde: serdes.float64() }))
 *   .addProcessor('daily-revenue', { parents: ['orders'], stores: ['revenue'] }, windowedAggregate({
 *     windows: calendarWindows({ unit: 'day', zone: 'Europe/Berlin' }),
 *     store: 'revenue',
 *     initializer: () => 0,
 *     aggregator: (_key, order: Order, total) => total + order.amount,
 *   }))
 */
export function windowedAggregate<K, V, A>(
  options: WindowedAggregateOptions<K, V, A>,
): ProcessorSupplier<K, V, WindowedKey<K>, A> {
  validate(options)
  return () => {
    let context: ProcessorContext<WindowedKey<K>, A>
    let store: WindowStore<K, A>
    const emit = options.emit ?? 'update'
    const grace = options.windows.graceMs
    const lateChild = lateChildOf(options)
    const closer = new WindowCloser<K, A>(grace, lateChild)

    let peeking: (WindowStore<K, A> & WindowPeeking<K, A>) | undefined

    /** The record's update through the store's promises (a cache miss, or final emission). */
    const update = async (record: Record<K, V>): Promise<void> => {
      const streamTime = context.streamTime
      const observed = Math.max(streamTime, closer.closedAt)
      const open = options.windows
        .windowsFor(record.timestamp)
        .filter((window) => window.end + grace > observed)
      if (open.length === 0) {
        handleLateRecord(context, options, record)
      } else {
        for (const window of open) {
          const current = (await store.get(record.key, window)) ?? options.initializer()
          const next = options.aggregator(record.key, record.value, current)
          await store.put(record.key, window, next)
          if (emit === 'update') forwardResult(context, { key: record.key, window }, next, record, lateChild)
        }
      }
      await closer.afterRecord(streamTime)
    }

    // Runs in its record's synchronous scope (no async context frame): when every window the record
    // updates is in the record cache, the update is synchronous; otherwise, before anything changed,
    // it goes the promise way in an async frame of the record's scope.
    return synchronousScoped({
      init: (processorContext: ProcessorContext<WindowedKey<K>, A>) => {
        context = processorContext
        store = context.getStore<WindowStore<K, A>>(options.store)
        peeking = emit === 'update' && peekWindow in store ? (store as typeof peeking) : undefined
        closer.start(context, store, options)
      },
      process: (record: Record<K, V>) => {
        if (peeking === undefined) return continueInScope(update, record)
        const streamTime = context.streamTime
        const observed = Math.max(streamTime, closer.closedAt)
        const windows = options.windows.windowsFor(record.timestamp)
        const current: Array<A | undefined> = new Array(windows.length)
        let open = 0
        for (let index = 0; index < windows.length; index += 1) {
          const window = windows[index]!
          if (!(window.end + grace > observed)) continue
          const value = peeking[peekWindow](record.key, window)
          if (value === NOT_CACHED) return continueInScope(update, record)
          current[index] = value
          open += 1
        }
        let pending: Promise<void> | undefined
        if (open === 0) handleLateRecord(context, options, record)
        else {
          for (let index = 0; index < windows.length; index += 1) {
            const window = windows[index]!
            if (!(window.end + grace > observed)) continue
            const existing = current[index]
            const next = options.aggregator(record.key, record.value, existing ?? options.initializer())
            const written = peeking[putPeekedWindow](record.key, window, next, existing !== undefined)
            // Settled at once unless the cache had to make room (its write-down reads no scope).
            if (written !== SETTLED) pending = pending ? pending.then(() => written) : written
            forwardResult(context, { key: record.key, window }, next, record, lateChild)
          }
        }
        if (closer.due(streamTime)) {
          const after = continueInScope(() => closer.afterRecord(streamTime))
          return pending ? Promise.all([pending, after]).then(() => {}) : after
        }
        return pending
      },
    })
  }
}

/** Counts records per key and time window. */
export function windowedCount<K, V>(
  options: CommonOptions & { windows: TimeWindows },
): ProcessorSupplier<K, V, WindowedKey<K>, number> {
  return windowedAggregate<K, V, number>({
    ...options,
    initializer: () => 0,
    aggregator: (_key, _value, count) => count + 1,
  })
}

/** Combines the values of each key and time window with `reducer`. */
export function windowedReduce<K, V>(
  options: CommonOptions & { windows: TimeWindows; reducer: (aggregate: V, value: V) => V },
): ProcessorSupplier<K, V, WindowedKey<K>, V> {
  const empty = Symbol('empty')
  return windowedAggregate<K, V, V>({
    ...options,
    initializer: () => empty as unknown as V,
    aggregator: (_key, value, aggregate) =>
      (aggregate as unknown) === empty ? value : options.reducer(aggregate, value),
  })
}

// ---- session windows ---------------------------------------------------------------------------

/** Sessions: activity separated by gaps of at least `inactivityGapMs`. */
export interface SessionWindows {
  readonly inactivityGapMs: number
  readonly graceMs: number
}

export function sessionWindows(options: { inactivityGapMs: number; graceMs?: number }): SessionWindows {
  const gap = integerOption(options?.inactivityGapMs, 'inactivityGapMs', 1)
  const grace = integerOption(options.graceMs ?? 0, 'graceMs', 0)
  return { inactivityGapMs: gap, graceMs: grace }
}

export interface SessionAggregateOptions<K, V, A> extends CommonOptions {
  windows: SessionWindows
  initializer: () => A
  aggregator: (key: K, value: V, aggregate: A) => A
  /** Combines the aggregates of two sessions that a record joins into one. */
  merger: (key: K, left: A, right: A) => A
}

/**
 * Aggregates records per key and session. A session's window is `[first timestamp, last
 * timestamp + 1)`; a record within the inactivity gap of one or more sessions merges them. In
 * `update` mode, the sessions merged away are forwarded with an `undefined` value (a tombstone)
 * before the merged session. A session closes when stream time passes its last record plus the
 * gap plus grace.
 */
export function sessionAggregate<K, V, A>(
  options: SessionAggregateOptions<K, V, A>,
): ProcessorSupplier<K, V, WindowedKey<K>, A | undefined> {
  validate(options)
  return () => {
    let context: ProcessorContext<WindowedKey<K>, A | undefined>
    let store: WindowStore<K, A>
    const emit = options.emit ?? 'update'
    const { inactivityGapMs: gap, graceMs: grace } = options.windows
    const lateChild = lateChildOf(options)
    // A session may still grow until stream time passes its last record plus the gap.
    const closer = new WindowCloser<K, A>(gap + grace, lateChild)
    return {
      init: (processorContext) => {
        context = processorContext
        store = context.getStore<WindowStore<K, A>>(options.store)
        closer.start(context, store, options)
      },
      process: async (record) => {
        const streamTime = context.streamTime
        const timestamp = record.timestamp
        // Sessions that end within the gap before the record or start within the gap after it.
        const touching: Array<WindowedEntry<K, A>> = []
        for await (const entry of store.fetch(record.key, Number.MIN_SAFE_INTEGER, timestamp + gap, {
          reverse: true,
        })) {
          if (entry.window.end - 1 + gap < timestamp) break
          touching.push(entry)
        }
        let window: Window = { start: timestamp, end: timestamp + 1 }
        for (const entry of touching) {
          window = {
            start: Math.min(window.start, entry.window.start),
            end: Math.max(window.end, entry.window.end),
          }
        }
        // Late when the session the record would join (or start) has already closed.
        if (window.end - 1 + gap + grace <= Math.max(streamTime, closer.closedAt)) {
          handleLateRecord(context, options, record)
        } else {
          let aggregate = options.initializer()
          for (const entry of touching.reverse()) {
            aggregate = options.merger(record.key, aggregate, entry.value)
            if (entry.window.start === window.start && entry.window.end === window.end) continue
            await store.delete(entry.key, entry.window)
            if (emit === 'update') forwardResult(context, entry, undefined, record, lateChild)
          }
          aggregate = options.aggregator(record.key, record.value, aggregate)
          await store.put(record.key, window, aggregate)
          if (emit === 'update')
            forwardResult(context, { key: record.key, window }, aggregate, record, lateChild)
        }
        await closer.afterRecord(streamTime)
      },
    }
  }
}

/** Counts records per key and session. */
export function sessionCount<K, V>(
  options: CommonOptions & { windows: SessionWindows },
): ProcessorSupplier<K, V, WindowedKey<K>, number | undefined> {
  return sessionAggregate<K, V, number>({
    ...options,
    initializer: () => 0,
    aggregator: (_key, _value, count) => count + 1,
    merger: (_key, left, right) => left + right,
  })
}

// ---- shared ---------------------------------------------------------------------------------------

function validate(options: CommonOptions & { windows?: unknown }): void {
  if (!options?.windows)
    throw new ConfigError('a windowed aggregation needs "windows"', { context: { option: 'windows' } })
  if (typeof options.store !== 'string' || options.store === '') {
    throw new ConfigError('a windowed aggregation needs "store", the name of its window store', {
      context: { option: 'store' },
    })
  }
  const emit = options.emit ?? 'update'
  if (emit !== 'update' && emit !== 'final') {
    throw new ConfigError(`option "emit" must be 'update' or 'final', got ${JSON.stringify(options.emit)}`, {
      context: { option: 'emit' },
    })
  }
  if (options.closeOnWallClockMs !== undefined && !(options.closeOnWallClockMs > 0)) {
    throw new ConfigError(
      `option "closeOnWallClockMs" must be > 0, got ${JSON.stringify(options.closeOnWallClockMs)}`,
      {
        context: { option: 'closeOnWallClockMs' },
      },
    )
  }
}

/** Sends a result to every child except the one that receives late records. */
export function forwardResult<K, A>(
  context: ProcessorContext<WindowedKey<K>, A>,
  entry: { key: K; window: Window },
  value: A,
  source: Record<K, unknown> | undefined,
  lateChild: string | undefined,
): void {
  const result = {
    key: { key: entry.key, window: entry.window },
    value,
    // A closing window's result carries the window's last instant; an update, its record's time.
    timestamp: source?.timestamp ?? entry.window.end - 1,
    headers: source?.headers ?? [],
  }
  if (lateChild === undefined) context.forward(result)
  else for (const child of context.children) if (child !== lateChild) context.forwardTo(child, result)
}

/** The child that receives late records, if any; checks the option's shape. */
export function lateChildOf(options: CommonOptions): string | undefined {
  if (options.late === undefined || options.late === 'drop') return undefined
  if (typeof options.late === 'object' && typeof options.late.forwardTo === 'string')
    return options.late.forwardTo
  throw new TopologyError('option "late" must be "drop" or { forwardTo: "<child name>" }', {
    context: { option: 'late' },
  })
}

/**
 * Final emission: when time passes a window's end plus `closesAfterMs`, forwards its result once
 * and deletes it. Remembers how far it closed, so a window closed by the wall clock stays closed
 * for records that arrive later, even while stream time lags behind.
 * @internal
 */
export class WindowCloser<K, A> {
  closedAt = Number.NEGATIVE_INFINITY
  readonly #closesAfterMs: number
  readonly #lateChild: string | undefined
  #context!: ProcessorContext<WindowedKey<K>, A>
  #store!: WindowStore<K, A>
  #final = false
  #lastExpiry = Number.NEGATIVE_INFINITY

  constructor(closesAfterMs: number, lateChild: string | undefined) {
    this.#closesAfterMs = closesAfterMs
    this.#lateChild = lateChild
  }

  /** Binds to a task; with `emit: 'final'` and `closeOnWallClockMs`, closes by the wall clock too. */
  start(
    context: ProcessorContext<WindowedKey<K>, A>,
    store: WindowStore<K, A>,
    options: CommonOptions,
  ): void {
    this.#context = context
    this.#store = store
    this.#final = (options.emit ?? 'update') === 'final'
    if (this.#final && options.closeOnWallClockMs !== undefined) {
      context.schedule(options.closeOnWallClockMs, 'wall-clock', (now) =>
        this.close(Math.max(context.streamTime, now)),
      )
    }
  }

  /** True when `afterRecord(streamTime)` has work to do. */
  due(streamTime: number): boolean {
    return this.#final || streamTime - this.#lastExpiry >= EXPIRE_EVERY_MS
  }

  /** After each record: closes due windows (`emit: 'final'`) and, now and then, expires old ones. */
  async afterRecord(streamTime: number): Promise<void> {
    if (this.#final) await this.close(streamTime)
    if (streamTime - this.#lastExpiry >= EXPIRE_EVERY_MS) {
      this.#lastExpiry = streamTime
      await this.#store.expire(streamTime)
    }
  }

  async close(time: number): Promise<void> {
    if (time > this.closedAt) this.closedAt = time
    for await (const entry of this.#store.endingBy(time - this.#closesAfterMs)) {
      forwardResult(this.#context, entry, entry.value, undefined, this.#lateChild)
      await this.#store.delete(entry.key, entry.window)
    }
  }
}

export function handleLateRecord<K, V>(
  context: ProcessorContext<WindowedKey<K>, unknown>,
  options: CommonOptions,
  record: Record<K, V>,
): void {
  const action = typeof options.late === 'object' ? 'forwarded' : 'dropped'
  if (channels.lateRecord.hasSubscribers) {
    const metadata = context.recordMetadata
    channels.lateRecord.publish({
      taskId: context.taskId,
      store: options.store,
      topic: metadata?.topic,
      partition: metadata?.partition,
      offset: metadata?.offset,
      action,
    })
  }
  // The late child receives the record as it came in, not a windowed result.
  if (typeof options.late === 'object') {
    context.forwardTo(options.late.forwardTo, record as unknown as Record<WindowedKey<K>, unknown>)
  }
}
