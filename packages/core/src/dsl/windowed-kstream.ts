// Windowed aggregations of a grouped stream, on the core's windowed processors: tumbling, hopping
// and calendar windows (windowedAggregate), sliding windows (slidingAggregate) and sessions
// (sessionAggregate). Results form a table keyed by `WindowedKey<K>`. `emitFinal()` is Kafka
// Streams' `suppress(untilWindowCloses(...))` / `emitStrategy(onWindowClose())`: each window's
// result comes once, when stream time passes its end plus grace. Records later than that are
// dropped (and reported on the late-record channel).
import type { Processor, ProcessorSupplier } from '../processor.js'
import type { Serde } from '../serde.js'
import { float64 } from '../serdes.js'
import { type SlidingWindows, slidingAggregate } from '../windows/sliding-windows.js'
import {
  type EmitMode,
  type SessionWindows,
  sessionAggregate,
  type WindowedKey,
  windowedAggregate,
  windowedKeySerde,
} from '../windows/windowed-aggregate.js'
import type { TimeWindows } from '../windows/windows.js'
import { asChanges } from './changes.js'
import type { KGroupedStream } from './kgrouped-stream.js'
import { KTable } from './ktable.js'
import { windowedStore } from './materialize.js'
import type { Materialized, Named } from './options.js'

export interface EmitOptions {
  emit: EmitMode
  /** With final emission, also close windows by the wall clock this often (results come when input stops). */
  closeOnWallClockMs?: number
}

type Aggregation<K, V, A> = {
  prefix: string
  materialized: Materialized<K, A> & Named
  valueSerde: Serde<A>
  initializer: () => A
  aggregator: (key: K, value: V, aggregate: A) => A
  /** Sessions only. */
  merger?: (key: K, left: A, right: A) => A
}

/** Records with a null key or value are dropped before a windowed aggregation, as in Kafka Streams. */
function dropNulls<K, V, KOut, VOut>(
  supplier: ProcessorSupplier<K, V, KOut, VOut>,
): ProcessorSupplier<K, V, KOut, VOut> {
  return () => {
    const inner: Processor<K, V, KOut, VOut> = supplier()
    return {
      ...inner,
      process: (record) => {
        if (
          record.key === null ||
          record.key === undefined ||
          record.value === null ||
          record.value === undefined
        )
          return
        return inner.process(record)
      },
    }
  }
}

abstract class WindowedStream<K, V, W extends TimeWindows | SlidingWindows | SessionWindows> {
  /** @internal */
  readonly grouped: KGroupedStream<K, V>
  /** @internal */
  readonly windows: W
  /** @internal */
  readonly emit: EmitOptions | Record<string, never>

  /** @internal use `KGroupedStream.windowedBy` */
  constructor(grouped: KGroupedStream<K, V>, windows: W, emit: EmitOptions | Record<string, never>) {
    this.grouped = grouped
    this.windows = windows
    this.emit = emit
  }

  /** Counts each key's records per window. */
  count(materialized: Materialized<K, number> & Named = {}): KTable<WindowedKey<K>, number> {
    return this.build({
      prefix: 'KSTREAM-COUNT',
      materialized,
      valueSerde: float64(),
      initializer: () => 0,
      aggregator: (_key, _value, count) => count + 1,
      merger: (_key, left, right) => left + right,
    })
  }

  /** Combines each key's values per window with `reducer`. Sessions merge with it too. */
  reduce(
    reducer: (aggregate: V, value: V) => V,
    materialized: Materialized<K, V> & Named = {},
  ): KTable<WindowedKey<K>, V> {
    const empty = Symbol('empty') as unknown as V
    const combine = (aggregate: V, value: V) =>
      aggregate === empty ? value : value === empty ? aggregate : reducer(aggregate, value)
    return this.build({
      prefix: 'KSTREAM-REDUCE',
      materialized,
      valueSerde: this.grouped.stream.requireSerde(
        'value',
        materialized.value ?? this.grouped.grouped.value,
        'reduce',
      ),
      initializer: () => empty,
      aggregator: (_key, value, aggregate) => combine(aggregate, value),
      merger: (_key, left, right) => combine(left, right),
    })
  }

  /** @internal */
  build<A>(aggregation: Aggregation<K, V, A>): KTable<WindowedKey<K>, A> {
    const graph = this.grouped.stream.graph
    const { prefix, materialized, valueSerde } = aggregation
    const name = graph.nodeName(prefix, materialized.named)
    const keySerde = this.grouped.stream.requireSerde(
      'key',
      materialized.key ?? this.grouped.grouped.key,
      'a windowed aggregation',
    )
    const store = graph.internalName('store', materialized.as, () => `${name}-STATE-STORE`)
    const input = this.grouped.input(store, 'windowed aggregation')
    const windows = this.windows as TimeWindows | SlidingWindows | SessionWindows
    const graceMs = windows.graceMs
    windowedStore(graph, store, materialized, keySerde, valueSerde, graceMs)
    const emit = this.emit.emit ?? 'update'
    const closeOnWallClockMs = this.emit.closeOnWallClockMs
    const common = { store, emit, ...(closeOnWallClockMs === undefined ? {} : { closeOnWallClockMs }) }
    let supplier: ProcessorSupplier<K, V, WindowedKey<K>, A | undefined>
    const stores = [store]
    if ('inactivityGapMs' in windows) {
      supplier = sessionAggregate<K, V, A>({
        ...common,
        windows,
        initializer: aggregation.initializer,
        aggregator: aggregation.aggregator,
        merger: aggregation.merger!,
      })
    } else if ('timeDifferenceMs' in windows) {
      const recordStore = `${store}-records`
      const recordSerde = this.grouped.stream.requireSerde(
        'value',
        this.grouped.grouped.value,
        'a sliding-window aggregation',
      )
      windowedStore(
        graph,
        recordStore,
        { ...materialized, retentionMs: undefined } as Materialized<K, V>,
        keySerde,
        recordSerde,
        graceMs + windows.timeDifferenceMs,
      )
      stores.push(recordStore)
      supplier = slidingAggregate<K, V, A>({
        store,
        recordStore,
        emit,
        windows,
        initializer: aggregation.initializer,
        aggregator: aggregation.aggregator,
      })
    } else {
      supplier = windowedAggregate<K, V, A>({
        ...common,
        windows,
        initializer: aggregation.initializer,
        aggregator: aggregation.aggregator,
      })
    }
    graph.addProcessor(name, [input.node], dropNulls(supplier) as never, { stores })
    const changes = `${name}-CHANGES`
    graph.addProcessor(changes, [name], asChanges() as never)
    return new KTable<WindowedKey<K>, A>(graph, changes, {
      keySerde: windowedKeySerde(keySerde),
      valueSerde,
      sourceTopics: input.sourceTopics,
      store: undefined,
      oldValues: false,
    })
  }
}

/** A grouped stream in time windows (tumbling, hopping, calendar) or sliding windows. */
export class TimeWindowedKStream<K, V> extends WindowedStream<K, V, TimeWindows | SlidingWindows> {
  /** Each window's result once, when it closes (stream time past its end plus grace). */
  emitFinal(options: { closeOnWallClockMs?: number } = {}): TimeWindowedKStream<K, V> {
    return new TimeWindowedKStream(this.grouped, this.windows, { emit: 'final', ...options })
  }

  /** Aggregates each key's values per window, starting from `initializer()`. */
  aggregate<A>(
    initializer: () => A,
    aggregator: (key: K, value: V, aggregate: A) => A,
    materialized: Materialized<K, A> & Named & { value: Serde<A> },
  ): KTable<WindowedKey<K>, A> {
    return this.build({
      prefix: 'KSTREAM-AGGREGATE',
      materialized,
      valueSerde: materialized.value,
      initializer,
      aggregator,
    })
  }
}

/** A grouped stream in session windows. */
export class SessionWindowedKStream<K, V> extends WindowedStream<K, V, SessionWindows> {
  /** Each session's result once, when it closes (stream time past its end plus gap plus grace). */
  emitFinal(options: { closeOnWallClockMs?: number } = {}): SessionWindowedKStream<K, V> {
    return new SessionWindowedKStream(this.grouped, this.windows, { emit: 'final', ...options })
  }

  /**
   * Aggregates each key's values per session; `merger` combines two sessions that a record joins.
   * A session merged away is forwarded with no value (a tombstone), as in Kafka Streams.
   */
  aggregate<A>(
    initializer: () => A,
    aggregator: (key: K, value: V, aggregate: A) => A,
    merger: (key: K, left: A, right: A) => A,
    materialized: Materialized<K, A> & Named & { value: Serde<A> },
  ): KTable<WindowedKey<K>, A> {
    return this.build({
      prefix: 'KSTREAM-AGGREGATE',
      materialized,
      valueSerde: materialized.value,
      initializer,
      aggregator,
      merger,
    })
  }
}
