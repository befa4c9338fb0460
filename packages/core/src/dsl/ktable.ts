// KTable<K, V>: a changelog stream read as a table. Its node forwards `Change<V>` records (new and
// old row, see changes.ts); `toStream()` turns them back into records whose value is the new row,
// or null for a deleted one (a tombstone, end to end).
import { TopologyError } from '../errors.js'
import type { Serde } from '../serde.js'
import { type Change, changeSerde, onChange } from './changes.js'
import type { DslGraph } from './graph.js'
import { joinTables, type TableJoined } from './joins/dsl-joins.js'
import { KGroupedTable } from './kgrouped-table.js'
import { KStream } from './kstream.js'
import type { Grouped, Named } from './options.js'

export interface TableState<K, V> {
  keySerde: Serde<K> | undefined
  valueSerde: Serde<V> | undefined
  sourceTopics: readonly string[]
  /** The store that holds the rows, when the table is materialized. */
  store: string | undefined
  /** Whether changes carry the old row (windowed tables do not, so they cannot be grouped). */
  oldValues: boolean
}

export class KTable<K, V> {
  /** @internal */
  readonly graph: DslGraph
  /** @internal the node that forwards this table's `Change<V>` records */
  readonly node: string
  /** @internal */
  readonly keySerde: Serde<K> | undefined
  /** @internal */
  readonly valueSerde: Serde<V> | undefined
  /** @internal */
  readonly sourceTopics: readonly string[]
  /** The name of the store that holds the rows (for `TopologyTestDriver.getStore`), if materialized. */
  readonly storeName: string | undefined
  /** @internal */
  readonly oldValues: boolean

  /** @internal tables come from `StreamsBuilder.table`, `toTable` and aggregations */
  constructor(graph: DslGraph, node: string, state: TableState<K, V>) {
    this.graph = graph
    this.node = node
    this.keySerde = state.keySerde
    this.valueSerde = state.valueSerde
    this.sourceTopics = state.sourceTopics
    this.storeName = state.store
    this.oldValues = state.oldValues
  }

  #derive<V2>(node: string, valueSerde: Serde<V2> | undefined): KTable<K, V2> {
    return new KTable<K, V2>(this.graph, node, {
      keySerde: this.keySerde,
      valueSerde,
      sourceTopics: this.sourceTopics,
      store: undefined,
      oldValues: this.oldValues,
    })
  }

  /** Keeps the rows for which `predicate(key, value)` is true; a row that stops matching is deleted downstream. */
  filter(predicate: (key: K, value: V) => boolean, options?: Named): KTable<K, V> {
    return this.#filter('KTABLE-FILTER', (key, value) => predicate(key, value), options)
  }

  /** Drops the rows for which `predicate(key, value)` is true. */
  filterNot(predicate: (key: K, value: V) => boolean, options?: Named): KTable<K, V> {
    return this.#filter('KTABLE-FILTER', (key, value) => !predicate(key, value), options)
  }

  #filter(prefix: string, keep: (key: K, value: V) => boolean, options: Named | undefined): KTable<K, V> {
    const name = this.graph.nodeName(prefix, options?.named)
    const pass = (key: K, value: V | undefined) =>
      value !== undefined && keep(key, value) ? value : undefined
    this.graph.addProcessor(
      name,
      [this.node],
      onChange<K, V, K, Change<V>>((context, record) => {
        const newValue = pass(record.key, record.value.newValue)
        const oldValue = pass(record.key, record.value.oldValue)
        // Neither the old nor the new row passes: nothing changed downstream.
        if (newValue === undefined && oldValue === undefined) return
        context.forward({ ...record, value: { newValue, oldValue } })
      }) as never,
    )
    return this.#derive(name, this.valueSerde)
  }

  /** A new value for each row (the old row is mapped too, for retractions downstream). */
  mapValues<V2>(mapper: (value: V, key: K) => V2, options?: Named & { value?: Serde<V2> }): KTable<K, V2> {
    const name = this.graph.nodeName('KTABLE-MAPVALUES', options?.named)
    const apply = (key: K, value: V | undefined) => (value === undefined ? undefined : mapper(value, key))
    this.graph.addProcessor(
      name,
      [this.node],
      onChange<K, V, K, Change<V2>>((context, record) => {
        const value = {
          newValue: apply(record.key, record.value.newValue),
          oldValue: apply(record.key, record.value.oldValue),
        }
        context.forward({ ...record, value })
      }) as never,
    )
    return this.#derive(name, options?.value)
  }

  /** The table's updates as a stream: the new row, or null when the row was deleted. */
  toStream(options?: Named): KStream<K, V | null> {
    const name = this.graph.nodeName('KTABLE-TOSTREAM', options?.named)
    this.graph.addProcessor(
      name,
      [this.node],
      onChange<K, V, K, V | null>((context, record) => {
        context.forward({ ...record, value: record.value.newValue ?? null })
      }) as never,
    )
    return new KStream<K, V | null>(this.graph, name, {
      keySerde: this.keySerde,
      valueSerde: this.valueSerde as Serde<V | null> | undefined,
      repartitionRequired: false,
      sourceTopics: this.sourceTopics,
    })
  }

  /**
   * Re-groups the rows by `selector(key, value)`: each change sends the old row's retraction to
   * its old group and the new row to its new group, through a repartition topic
   * `<applicationId>-<named>-repartition` (named after the store when `named` is not given).
   */
  groupBy<K2, V2>(
    selector: (key: K, value: V) => { key: K2; value: V2 },
    grouped: Grouped<K2, V2> & { key: Serde<K2>; value: Serde<V2> },
  ): KGroupedTable<K2, V2> {
    if (!this.oldValues) {
      throw new TopologyError(
        `groupBy on table "${this.node}": its updates carry no old rows (a windowed table), so retractions are impossible`,
        { context: { processor: this.node } },
      )
    }
    if (!grouped?.key || !grouped.value) {
      throw new TopologyError(
        'KTable.groupBy needs { key: <serde>, value: <serde> } of the new key and value',
      )
    }
    const name = this.graph.nodeName(
      'KTABLE-SELECT',
      grouped.named === undefined ? undefined : `${grouped.named}-select`,
    )
    this.graph.addProcessor(
      name,
      [this.node],
      onChange<K, V, K2, Change<V2>>((context, record) => {
        const { newValue, oldValue } = record.value
        // The retraction first, so a row that stays in its group is subtracted before it is added.
        if (oldValue !== undefined) {
          const old = selector(record.key, oldValue)
          context.forward({ ...record, key: old.key, value: { newValue: undefined, oldValue: old.value } })
        }
        if (newValue !== undefined) {
          const next = selector(record.key, newValue)
          context.forward({ ...record, key: next.key, value: { newValue: next.value, oldValue: undefined } })
        }
      }) as never,
    )
    const selected = new KStream<K2, Change<V2>>(this.graph, name, {
      keySerde: grouped.key,
      valueSerde: changeSerde(grouped.value),
      repartitionRequired: true,
      sourceTopics: this.sourceTopics,
    })
    return new KGroupedTable<K2, V2>(selected, grouped)
  }

  /**
   * Joins another table on the key (both must be co-partitioned, checked at start), or, given a
   * `foreignKey` extractor, the row of `other` whose key this row's value names (KIP-213: no
   * co-partitioning needed, subscription and response topics are created). Each update of either
   * table updates the result; a result whose row is gone is deleted.
   */
  join<VO, VR>(
    other: KTable<K, VO>,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    options?: TableJoined<K, VR>,
  ): KTable<K, VR>
  join<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKey: (value: V, key: K) => KO | null | undefined,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    options?: TableJoined<K, VR>,
  ): KTable<K, VR>
  join(...args: unknown[]): KTable<K, unknown> {
    return joinTables(this, 'inner', args)
  }

  /** As `join`, but every row of this table has a result, joined with `null` when `other` has no row. */
  leftJoin<VO, VR>(
    other: KTable<K, VO>,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    options?: TableJoined<K, VR>,
  ): KTable<K, VR>
  leftJoin<KO, VO, VR>(
    other: KTable<KO, VO>,
    foreignKey: (value: V, key: K) => KO | null | undefined,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    options?: TableJoined<K, VR>,
  ): KTable<K, VR>
  leftJoin(...args: unknown[]): KTable<K, unknown> {
    return joinTables(this, 'left', args)
  }

  /** Every row of either table has a result; the side without a row joins `null`. */
  outerJoin<VO, VR>(
    other: KTable<K, VO>,
    joiner: (value: V | null, otherValue: VO | null, key: K) => VR,
    options?: TableJoined<K, VR>,
  ): KTable<K, VR> {
    return joinTables(this, 'outer', [other, joiner, options]) as KTable<K, VR>
  }
}
