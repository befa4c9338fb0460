// KGroupedTable: a table re-grouped by a new key, aggregated with an adder and a subtractor so that
// a row that changes or disappears is retracted from the group that counted it. The aggregation
// always reads a repartition topic, as in Kafka Streams.
import type { Serde } from '../serde.js'
import { float64 } from '../serdes.js'
import { type Change, changeSerde, tableAggregate } from './changes.js'
import type { KStream } from './kstream.js'
import { KTable } from './ktable.js'
import { materializedStore } from './materialize.js'
import type { Grouped, Materialized, Named } from './options.js'

export class KGroupedTable<K, V> {
  /** @internal the re-keyed changes, not yet repartitioned */
  readonly changes: KStream<K, Change<V>>
  /** @internal */
  readonly grouped: Grouped<K, V> & { key: Serde<K>; value: Serde<V> }
  /** The repartitioned changes; several aggregations of one grouping share one repartition topic. */
  #input: KStream<K, Change<V>> | undefined

  /** @internal use `KTable.groupBy` */
  constructor(changes: KStream<K, Change<V>>, grouped: Grouped<K, V> & { key: Serde<K>; value: Serde<V> }) {
    this.changes = changes
    this.grouped = grouped
  }

  /** Counts the rows of each group. */
  count(materialized: Materialized<K, number> & Named = {}): KTable<K, number> {
    return this.#aggregate(
      'KTABLE-COUNT',
      materialized,
      float64(),
      (_key, _value, count) => (count ?? 0) + 1,
      (_key, _value, count) => (count ?? 0) - 1,
    )
  }

  /** Combines each group's rows: `adder` for a new row, `subtractor` to retract an old one. */
  reduce(
    adder: (aggregate: V, value: V) => V,
    subtractor: (aggregate: V, value: V) => V,
    materialized: Materialized<K, V> & Named = {},
  ): KTable<K, V> {
    return this.#aggregate(
      'KTABLE-REDUCE',
      materialized,
      materialized.value ?? this.grouped.value,
      (_key, value, current) => (current === undefined ? value : adder(current, value)),
      (_key, value, current) => (current === undefined ? undefined : subtractor(current, value)),
    )
  }

  /** Aggregates each group from `initializer()`: `adder` for a new row, `subtractor` to retract an old one. */
  aggregate<A>(
    initializer: () => A,
    adder: (key: K, value: V, aggregate: A) => A,
    subtractor: (key: K, value: V, aggregate: A) => A,
    materialized: Materialized<K, A> & Named & { value: Serde<A> },
  ): KTable<K, A> {
    return this.#aggregate(
      'KTABLE-AGGREGATE',
      materialized,
      materialized.value,
      (key, value, current) => adder(key, value, current ?? initializer()),
      (key, value, current) => subtractor(key, value, current ?? initializer()),
    )
  }

  #aggregate<A>(
    prefix: string,
    materialized: Materialized<K, A> & Named,
    valueSerde: Serde<A>,
    adder: (key: K, value: V, current: A | undefined) => A,
    subtractor: (key: K, value: V, current: A | undefined) => A | undefined,
  ): KTable<K, A> {
    const graph = this.changes.graph
    const name = graph.nodeName(prefix, materialized.named)
    const keySerde = materialized.key ?? this.grouped.key
    const store = materializedStore(graph, materialized, name, keySerde, valueSerde)
    this.#input ??= this.changes.repartitionIfRequired(
      this.grouped.named ?? store,
      this.grouped.key,
      changeSerde(this.grouped.value),
    )
    const input = this.#input
    graph.addProcessor(name, [input.node], tableAggregate(store, adder, subtractor) as never, {
      stores: [store],
    })
    return new KTable<K, A>(graph, name, {
      keySerde,
      valueSerde,
      sourceTopics: input.sourceTopics,
      store,
      oldValues: true,
    })
  }
}
