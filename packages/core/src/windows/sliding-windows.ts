// Sliding windows with Kafka Streams' semantics: windows of `timeDifferenceMs` defined by the
// records themselves. For a record at t, the window [t - D, t] ends at it (its "left" window), and
// the window [t + 1, t + 1 + D] starts right after it (its "right" window) once a record falls in
// it. Both ends are inclusive in Kafka's terms; here a window is [start, end) = [t - D, t + 1).
//
// Aggregates are recomputed from the records in a window, kept in a second window store (one
// entry per record), instead of Kafka Streams' incremental combination of neighbouring windows:
// simpler to get right, at a cost that grows with the records per key inside one window.
import { ConfigError } from '../errors.js'
import type { ProcessorContext, ProcessorSupplier } from '../processor.js'
import type { WindowStore } from './window-store.js'
import {
  type EmitMode,
  forwardResult,
  handleLateRecord,
  lateChildOf,
  WindowCloser,
  type WindowedKey,
} from './windowed-aggregate.js'
import { integerOption, type Window } from './windows.js'

export interface SlidingWindows {
  readonly timeDifferenceMs: number
  readonly graceMs: number
}

/**
 * @example slidingWindows({ timeDifferenceMs: 60_000, graceMs: 5_000 })
 */
export function slidingWindows(options: { timeDifferenceMs: number; graceMs?: number }): SlidingWindows {
  const difference = integerOption(options?.timeDifferenceMs, 'timeDifferenceMs', 1)
  const grace = integerOption(options.graceMs ?? 0, 'graceMs', 0)
  return { timeDifferenceMs: difference, graceMs: grace }
}

export interface SlidingAggregateOptions<K, V, A> {
  windows: SlidingWindows
  /** Window store of the aggregates. */
  store: string
  /** Window store of the records themselves (value serde of the input values), one entry per record. */
  recordStore: string
  initializer: () => A
  aggregator: (key: K, value: V, aggregate: A) => A
  /** @default 'update' */
  emit?: EmitMode
  /** @default 'drop' */
  late?: 'drop' | { forwardTo: string }
}

/**
 * Aggregates records per key in sliding windows.
 *
 * @example
 * builder
 *   .addStore(stores.window('amounts', { keySerde: serdes.string(), valueSerde: serdes.float64() }))
 *   .addStore(stores.window('amount-records', { keySerde: serdes.string(), valueSerde: serdes.float64() }))
 *   .addProcessor('last-minute', { parents: ['payments'], stores: ['amounts', 'amount-records'] },
 *     slidingAggregate({ windows: slidingWindows({ timeDifferenceMs: 60_000 }), store: 'amounts',
 *       recordStore: 'amount-records', initializer: () => 0, aggregator: (_k, amount: number, sum) => sum + amount }))
 */
export function slidingAggregate<K, V, A>(
  options: SlidingAggregateOptions<K, V, A>,
): ProcessorSupplier<K, V, WindowedKey<K>, A> {
  if (!options?.windows || !options.store || !options.recordStore) {
    throw new ConfigError('a sliding aggregation needs "windows", "store" and "recordStore"', {
      context: { option: 'windows' },
    })
  }
  const { timeDifferenceMs: difference, graceMs: grace } = options.windows
  const emit = options.emit ?? 'update'
  const lateChild = lateChildOf(options)
  return () => {
    let context: ProcessorContext<WindowedKey<K>, A>
    let aggregates: WindowStore<K, A>
    let records: WindowStore<K, V>

    /** The aggregate of the records of `key` with timestamps in `window`. */
    const compute = async (key: K, window: Window): Promise<A> => {
      let aggregate = options.initializer()
      for await (const entry of records.fetch(key, window.start, window.end - 1)) {
        aggregate = options.aggregator(key, entry.value, aggregate)
      }
      return aggregate
    }

    // A window [s, e) takes records up to e - 1; it closes when stream time passes e - 1 + grace.
    const closer = new WindowCloser<K, A>(grace, lateChild)

    return {
      init: (processorContext) => {
        context = processorContext
        aggregates = context.getStore<WindowStore<K, A>>(options.store)
        records = context.getStore<WindowStore<K, V>>(options.recordStore)
        closer.start(context, aggregates, options)
      },
      process: async (record) => {
        const streamTime = context.streamTime
        const t = record.timestamp
        // The record's own (left) window ends at t; once that closed, the record is late.
        if (t + grace < streamTime) {
          handleLateRecord(context, options, record)
          return
        }
        // Each record is its own entry: [t, t + 1 + n) for the n-th record at the same time.
        let duplicates = 0
        for await (const entry of records.fetch(record.key, t, t))
          duplicates = Math.max(duplicates, entry.window.end - t)
        await records.put(record.key, { start: t, end: t + 1 + duplicates }, record.value)

        const affected = new Map<string, Window>()
        const add = (window: Window) => affected.set(`${window.start}:${window.end}`, window)
        // Existing windows that contain t.
        for await (const entry of aggregates.fetch(record.key, t - difference, t)) {
          if (entry.window.start <= t && t < entry.window.end) add(entry.window)
        }
        // The record's left window, and its right window when a later record falls in it.
        add({ start: t - difference, end: t + 1 })
        let hasLater = false
        for await (const _entry of records.fetch(record.key, t + 1, t + 1 + difference)) {
          hasLater = true
          break
        }
        if (hasLater) add({ start: t + 1, end: t + 2 + difference })
        // Right windows of earlier records that now hold this record.
        for await (const entry of records.fetch(record.key, t - difference - 1, t - 1)) {
          const previous = entry.window.start
          add({ start: previous + 1, end: previous + 2 + difference })
        }
        // Left windows of later records that contain t are existing windows, found above.
        for (const window of affected.values()) {
          if (window.end - 1 + grace < streamTime) continue
          const aggregate = await compute(record.key, window)
          await aggregates.put(record.key, window, aggregate)
          if (emit === 'update')
            forwardResult(context, { key: record.key, window }, aggregate, record, lateChild)
        }
        await closer.afterRecord(streamTime)
        // Records older than any window that can still change (or gain a right window) are not needed.
        for await (const entry of records.endingBy(streamTime - grace - difference - 1)) {
          await records.delete(entry.key, entry.window)
        }
      },
    }
  }
}
