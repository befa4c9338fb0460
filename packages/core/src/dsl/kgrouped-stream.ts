// KGroupedStream: a stream grouped by key, waiting for its aggregation. The aggregation reads the
// stream directly when the key is unchanged since the source (`groupByKey` after filter, mapValues,
// …), or through a repartition topic `<applicationId>-<name>-repartition` when an operator may have
// changed it (map, selectKey, flatMap, process, groupBy), as Kafka Streams does. The topic is named
// after `Grouped.named`, else after the store.
import { TopologyError } from '../errors.js'
import type { Serde } from '../serde.js'
import { float64 } from '../serdes.js'
import type { SlidingWindows } from '../windows/sliding-windows.js'
import type { SessionWindows } from '../windows/windowed-aggregate.js'
import type { TimeWindows } from '../windows/windows.js'
import { streamAggregate } from './changes.js'
import type { KStream } from './kstream.js'
import { KTable } from './ktable.js'
import { materializedStore } from './materialize.js'
import type { Grouped, Materialized, Named } from './options.js'
import { SessionWindowedKStream, TimeWindowedKStream } from './windowed-kstream.js'

export class KGroupedStream<K, V> {
  /** @internal */
  readonly stream: KStream<K, V>
  /** @internal */
  readonly grouped: Grouped<K, V>
  /** The stream the aggregations read; several aggregations of one grouping share one repartition topic. */
  #input: KStream<K, V> | undefined

  /** @internal use `groupByKey` or `groupBy` */
  constructor(stream: KStream<K, V>, grouped: Grouped<K, V>) {
    this.stream = stream
    this.grouped = grouped
  }

  /** Counts the records of each key (records with a null key or value are dropped). */
  count(materialized: Materialized<K, number> & Named = {}): KTable<K, number> {
    return this.#aggregate(
      'KSTREAM-COUNT',
      materialized,
      float64(),
      (_key, _value, count) => (count ?? 0) + 1,
    )
  }

  /** Combines each key's values with `reducer(aggregate, value)`; the first value is the start. */
  reduce(
    reducer: (aggregate: V, value: V) => V,
    materialized: Materialized<K, V> & Named = {},
  ): KTable<K, V> {
    const valueSerde = this.stream.requireSerde('value', materialized.value ?? this.grouped.value, 'reduce')
    return this.#aggregate('KSTREAM-REDUCE', materialized, valueSerde, (_key, value, current) =>
      current === undefined ? value : reducer(current, value),
    )
  }

  /** Aggregates each key's values, starting from `initializer()`. The aggregate's serde is required. */
  aggregate<A>(
    initializer: () => A,
    aggregator: (key: K, value: V, aggregate: A) => A,
    materialized: Materialized<K, A> & Named & { value: NonNullable<Materialized<K, A>['value']> },
  ): KTable<K, A> {
    if (!materialized?.value) {
      throw new TopologyError(
        "aggregate needs the aggregate's serde: aggregate(initializer, aggregator, { value: <serde> })",
      )
    }
    return this.#aggregate('KSTREAM-AGGREGATE', materialized, materialized.value, (key, value, current) =>
      aggregator(key, value, current ?? initializer()),
    )
  }

  /** Windows each key's records: tumbling, hopping or calendar windows, sliding windows, or sessions. */
  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>
  windowedBy(
    windows: TimeWindows | SlidingWindows | SessionWindows,
  ): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    if (windows && 'inactivityGapMs' in windows) return new SessionWindowedKStream(this, windows, {})
    if (
      windows &&
      ('timeDifferenceMs' in windows || typeof (windows as TimeWindows).windowsFor === 'function')
    ) {
      return new TimeWindowedKStream(this, windows, {})
    }
    throw new TopologyError(
      'windowedBy needs windows from tumblingWindows, hoppingWindows, calendarWindows, slidingWindows or sessionWindows',
    )
  }

  /**
   * @internal the input of an aggregation whose store is `store`: the stream, repartitioned when
   * required, with its key and value serdes
   */
  input(store: string, operation: string): KStream<K, V> {
    const keySerde = this.stream.requireSerde('key', this.grouped.key, operation)
    const valueSerde = this.stream.requireSerde('value', this.grouped.value, operation)
    const base = this.grouped.named ?? store
    this.#input ??= this.stream.repartitionIfRequired(base, keySerde, valueSerde)
    return this.#input
  }

  #aggregate<A>(
    prefix: string,
    materialized: Materialized<K, A> & Named,
    valueSerde: Serde<A>,
    aggregate: (key: K, value: V, current: A | undefined) => A,
  ): KTable<K, A> {
    const graph = this.stream.graph
    const name = graph.nodeName(prefix, materialized.named)
    const operation = prefix.slice('KSTREAM-'.length).toLowerCase()
    const keySerde = this.stream.requireSerde('key', materialized.key ?? this.grouped.key, operation)
    const store = materializedStore(graph, materialized, name, keySerde, valueSerde)
    const input = this.input(store, operation)
    graph.addProcessor(name, [input.node], streamAggregate(store, aggregate) as never, { stores: [store] })
    return new KTable<K, A>(graph, name, {
      keySerde,
      valueSerde,
      sourceTopics: input.sourceTopics,
      store,
      oldValues: true,
    })
  }
}
