// KStream<K, V>: a record stream in the DSL. Each operator adds one Processor API node (a
// processor from src/processors.ts where one fits) to the builder's graph and returns a new
// KStream that points at that node.
//
// How a new operator adds itself: take a node name with `this.graph.nodeName(PREFIX, options.named)`,
// add the node with `this.graph.addProcessor(name, [this.node], supplier, options)` (or addSink /
// addStore / addInternalTopic), and return `this.derive(name, { … })` with the serdes that are
// still known and `repartitionRequired: true` when the key may have changed. A stateful operator
// calls `this.repartitionIfRequired(name, …)` first and reads from the stream it returns.
import { TopologyError } from '../errors.js'
import type { ProcessorSupplier } from '../processor.js'
import { filter, flatMap, map, mapValues } from '../processors.js'
import type { Record } from '../record.js'
import type { Serde } from '../serde.js'
import type { StoreBuilder } from '../state-store.js'
import { BranchedKStream } from './branched-kstream.js'
import { materialize } from './changes.js'
import type { DslGraph } from './graph.js'
import { type GlobalKTable, type Joined, joinStream, type StreamJoined } from './joins/dsl-joins.js'
import type { JoinWindows } from './joins/join-windows.js'
import { KGroupedStream } from './kgrouped-stream.js'
import { KTable } from './ktable.js'
import { materializedStore } from './materialize.js'
import type {
  Grouped,
  Materialized,
  Named,
  OperatorOptions,
  ProcessOptions,
  Produced,
  Repartitioned,
} from './options.js'

type MaybePromise<T> = T | Promise<T>

/** `next(value)`, at once for a plain value or when a Promise settles (no microtask for a plain value). */
function then<T, R>(value: MaybePromise<T>, next: (resolved: T) => R): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value)
}

/** What a stream knows besides its node: serdes (when still known) and where its records come from. */
export interface StreamState<K, V> {
  keySerde: Serde<K> | undefined
  valueSerde: Serde<V> | undefined
  /** The key may have changed since the last partitioning: a stateful step repartitions first. */
  repartitionRequired: boolean
  /** Topics (user topics or internal topics' names) its records were read from. */
  sourceTopics: readonly string[]
}

export class KStream<K, V> {
  /** @internal */
  readonly graph: DslGraph
  /** @internal the Processor API node whose output this stream is */
  readonly node: string
  /** @internal */
  readonly keySerde: Serde<K> | undefined
  /** @internal */
  readonly valueSerde: Serde<V> | undefined
  /** @internal */
  readonly repartitionRequired: boolean
  /** @internal */
  readonly sourceTopics: readonly string[]

  /** @internal streams come from `StreamsBuilder.stream` and from operators */
  constructor(graph: DslGraph, node: string, state: StreamState<K, V>) {
    this.graph = graph
    this.node = node
    this.keySerde = state.keySerde
    this.valueSerde = state.valueSerde
    this.repartitionRequired = state.repartitionRequired
    this.sourceTopics = state.sourceTopics
  }

  /** @internal a stream of `node`, with this stream's state except what `changes` says */
  derive<K2 = K, V2 = V>(node: string, changes: Partial<StreamState<K2, V2>> = {}): KStream<K2, V2> {
    return new KStream<K2, V2>(this.graph, node, {
      keySerde: this.keySerde as unknown as Serde<K2> | undefined,
      valueSerde: this.valueSerde as unknown as Serde<V2> | undefined,
      repartitionRequired: this.repartitionRequired,
      sourceTopics: this.sourceTopics,
      ...changes,
    })
  }

  #add<K2, V2>(
    prefix: string,
    options: OperatorOptions | undefined,
    supplier: ProcessorSupplier<K, V, K2, V2>,
  ): string {
    const { named, ...nodeOptions } = options ?? {}
    const name = this.graph.nodeName(prefix, named)
    this.graph.addProcessor(
      name,
      [this.node],
      supplier as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      nodeOptions,
    )
    return name
  }

  /** Keeps the records for which `predicate(key, value)` is true. */
  filter(predicate: (key: K, value: V) => MaybePromise<boolean>, options?: OperatorOptions): KStream<K, V> {
    return this.derive(
      this.#add('KSTREAM-FILTER', options, () =>
        filter((record: Record<K, V>) => predicate(record.key, record.value)),
      ),
    )
  }

  /** Drops the records for which `predicate(key, value)` is true. */
  filterNot(
    predicate: (key: K, value: V) => MaybePromise<boolean>,
    options?: OperatorOptions,
  ): KStream<K, V> {
    const drop = (record: Record<K, V>) => then(predicate(record.key, record.value), (matches) => !matches)
    return this.derive(this.#add('KSTREAM-FILTER', options, () => filter(drop)))
  }

  /** A new key and value for each record; a later stateful step repartitions. */
  map<K2, V2>(
    mapper: (key: K, value: V) => MaybePromise<{ key: K2; value: V2 }>,
    options?: OperatorOptions,
  ): KStream<K2, V2> {
    const name = this.#add('KSTREAM-MAP', options, () =>
      map((record: Record<K, V>) => mapper(record.key, record.value)),
    )
    return this.derive<K2, V2>(name, {
      keySerde: undefined,
      valueSerde: undefined,
      repartitionRequired: true,
    })
  }

  /** A new value for each record; the key stays, so no repartition follows. */
  mapValues<V2>(mapper: (value: V, key: K) => MaybePromise<V2>, options?: OperatorOptions): KStream<K, V2> {
    const name = this.#add('KSTREAM-MAPVALUES', options, () =>
      mapValues((value: V, record: Record<K, V>) => mapper(value, record.key)),
    )
    return this.derive<K, V2>(name, { valueSerde: undefined })
  }

  /** A new key for each record (the value stays); a later stateful step repartitions. */
  selectKey<K2>(selector: (key: K, value: V) => MaybePromise<K2>, options?: OperatorOptions): KStream<K2, V> {
    const name = this.#add('KSTREAM-KEY-SELECT', options, () =>
      map((record: Record<K, V>) =>
        then(selector(record.key, record.value), (key) => ({ key, value: record.value })),
      ),
    )
    return this.derive<K2, V>(name, { keySerde: undefined, repartitionRequired: true })
  }

  /** Zero or more records for each record; a later stateful step repartitions. */
  flatMap<K2, V2>(
    mapper: (key: K, value: V) => MaybePromise<Iterable<{ key: K2; value: V2 }>>,
    options?: OperatorOptions,
  ): KStream<K2, V2> {
    const name = this.#add('KSTREAM-FLATMAP', options, () =>
      flatMap((record: Record<K, V>) => mapper(record.key, record.value)),
    )
    return this.derive<K2, V2>(name, {
      keySerde: undefined,
      valueSerde: undefined,
      repartitionRequired: true,
    })
  }

  /** Zero or more values for each record, each with the record's key. */
  flatMapValues<V2>(
    mapper: (value: V, key: K) => MaybePromise<Iterable<V2>>,
    options?: OperatorOptions,
  ): KStream<K, V2> {
    const name = this.#add('KSTREAM-FLATMAPVALUES', options, () =>
      flatMap((record: Record<K, V>) =>
        then(mapper(record.value, record.key), (values) =>
          Array.from(values, (value) => ({ key: record.key, value })),
        ),
      ),
    )
    return this.derive<K, V2>(name, { valueSerde: undefined })
  }

  /** Calls `action` with each record and passes it on unchanged. */
  peek(action: (key: K, value: V) => void, options?: OperatorOptions): KStream<K, V> {
    return this.derive(
      this.#add('KSTREAM-PEEK', options, () =>
        filter((record: Record<K, V>) => {
          action(record.key, record.value)
          return true
        }),
      ),
    )
  }

  /** Calls `action` with each record; a terminal step. */
  foreach(action: (key: K, value: V) => MaybePromise<void>, options?: OperatorOptions): void {
    this.#add<never, never>('KSTREAM-FOREACH', options, () => ({
      process: (record) => action(record.key, record.value),
    }))
  }

  /** Splits the stream by predicates into named branches (see `BranchedKStream`). */
  split(options?: Named): BranchedKStream<K, V> {
    const name = this.graph.nodeName('KSTREAM-BRANCH', options?.named)
    return new BranchedKStream<K, V>(this, name)
  }

  /** One stream of the records of both (in the order they arrive). */
  merge(other: KStream<K, V>, options?: Named): KStream<K, V> {
    if (other.graph !== this.graph) {
      throw new TopologyError('merge: both streams must come from the same StreamsBuilder')
    }
    const name = this.graph.nodeName('KSTREAM-MERGE', options?.named)
    const passThrough: ProcessorSupplier<unknown, unknown, unknown, unknown> = () => filter(() => true)
    this.graph.addProcessor(name, [this.node, other.node], passThrough)
    return this.derive(name, {
      keySerde: this.keySerde === other.keySerde ? this.keySerde : (this.keySerde ?? other.keySerde),
      valueSerde:
        this.valueSerde === other.valueSerde ? this.valueSerde : (this.valueSerde ?? other.valueSerde),
      repartitionRequired: this.repartitionRequired || other.repartitionRequired,
      sourceTopics: [...new Set([...this.sourceTopics, ...other.sourceTopics])],
    })
  }

  /**
   * Runs a Processor API processor (with stores and the concurrency options). It may change the
   * key, so a later stateful step repartitions, as in Kafka Streams.
   */
  process<K2, V2>(supplier: ProcessorSupplier<K, V, K2, V2>, options: ProcessOptions = {}): KStream<K2, V2> {
    const { named, stores = [], ...nodeOptions } = options
    const storeNames = stores.map((store) =>
      typeof store === 'string' ? store : this.graph.addStore(store as StoreBuilder),
    )
    const name = this.graph.nodeName('KSTREAM-PROCESSOR', named)
    this.graph.addProcessor(
      name,
      [this.node],
      supplier as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      {
        ...nodeOptions,
        stores: storeNames,
      },
    )
    return this.derive<K2, V2>(name, {
      keySerde: undefined,
      valueSerde: undefined,
      repartitionRequired: true,
    })
  }

  /**
   * Writes the stream to an internal topic `<applicationId>-<named>-repartition` and reads it
   * back, partitioned by the key (a user's `partitioner` may choose otherwise).
   */
  repartition(options: Repartitioned<K, V> = {}): KStream<K, V> {
    const base = this.graph.internalName('repartition topic', options.named, () =>
      this.graph.nodeName('KSTREAM-REPARTITION', undefined),
    )
    return this.#repartition(base, options.key, options.value, options.partitions, options.partitioner)
  }

  /** Writes the stream to a topic (fixed, or chosen per record). */
  to(topic: string | ((record: Record<K, V>) => string), options: Produced<K, V> = {}): void {
    const name = this.graph.nodeName('KSTREAM-SINK', options.named)
    const where = typeof topic === 'string' ? `to("${topic}")` : 'to(<topic function>)'
    this.graph.addSink(name, [this.node], {
      topic: topic as string,
      keySerde: this.requireSerde('key', options.key, where) as Serde<unknown>,
      valueSerde: this.requireSerde('value', options.value, where) as Serde<unknown>,
      partitioner: options.partitioner as
        | ((record: Record<unknown, unknown>, partitions: number) => number)
        | undefined,
    })
  }

  /** The stream as a table: each record is its key's new row (a null value deletes it). */
  toTable(materialized: Materialized<K, V> & Named = {}): KTable<K, V> {
    const name = this.graph.nodeName('KSTREAM-TOTABLE', materialized.named)
    const keySerde = this.requireSerde('key', materialized.key, 'toTable')
    const valueSerde = this.requireSerde('value', materialized.value, 'toTable')
    const store = materializedStore(this.graph, materialized, name, keySerde, valueSerde)
    const input = this.repartitionIfRequired(store, keySerde, valueSerde)
    this.graph.addProcessor(name, [input.node], materialize<K, V>(store) as never, { stores: [store] })
    return new KTable<K, V>(this.graph, name, {
      keySerde,
      valueSerde,
      sourceTopics: input.sourceTopics,
      store,
      oldValues: true,
    })
  }

  /**
   * Joins another stream (records of one key within `windows`; results carry the later
   * timestamp), a table (the row of the record's key when the record comes) or a global table (the
   * row of the key `keyMapper` picks). A stream or table join needs co-partitioned topics (checked
   * at start); a stream whose key may have changed is repartitioned first.
   */
  join<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO, key: K) => VR,
    windows: JoinWindows,
    options?: StreamJoined<K, V, VO>,
  ): KStream<K, VR>
  join<VT, VR>(
    table: KTable<K, VT>,
    joiner: (value: V, tableValue: VT, key: K) => VR,
    options?: Joined<K, V>,
  ): KStream<K, VR>
  join<KG, VG, VR>(
    table: GlobalKTable<KG, VG>,
    keyMapper: (key: K, value: V) => KG | null | undefined,
    joiner: (value: V, tableValue: VG, key: K) => VR,
    options?: Named,
  ): KStream<K, VR>
  join(...args: unknown[]): KStream<K, unknown> {
    return joinStream(this, 'inner', args)
  }

  /** As `join`, but a record with no match joins `null` (with another stream: once its window closed). */
  leftJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V, otherValue: VO | null, key: K) => VR,
    windows: JoinWindows,
    options?: StreamJoined<K, V, VO>,
  ): KStream<K, VR>
  leftJoin<VT, VR>(
    table: KTable<K, VT>,
    joiner: (value: V, tableValue: VT | null, key: K) => VR,
    options?: Joined<K, V>,
  ): KStream<K, VR>
  leftJoin<KG, VG, VR>(
    table: GlobalKTable<KG, VG>,
    keyMapper: (key: K, value: V) => KG | null | undefined,
    joiner: (value: V, tableValue: VG | null, key: K) => VR,
    options?: Named,
  ): KStream<K, VR>
  leftJoin(...args: unknown[]): KStream<K, unknown> {
    return joinStream(this, 'left', args)
  }

  /** A windowed join in which unmatched records of either stream join `null` once their window closed. */
  outerJoin<VO, VR>(
    other: KStream<K, VO>,
    joiner: (value: V | null, otherValue: VO | null, key: K) => VR,
    windows: JoinWindows,
    options?: StreamJoined<K, V, VO>,
  ): KStream<K, VR> {
    return joinStream(this, 'outer', [other, joiner, windows, options]) as KStream<K, VR>
  }

  /** Groups by the current key; repartitions first only when the key may have changed. */
  groupByKey(grouped: Grouped<K, V> = {}): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this, grouped)
  }

  /** Groups by a new key; the aggregation that follows reads a repartition topic. */
  groupBy<K2>(selector: (key: K, value: V) => K2, grouped: Grouped<K2, V> = {}): KGroupedStream<K2, V> {
    const rekeyed = this.selectKey(
      selector,
      grouped.named === undefined ? {} : { named: `${grouped.named}-key-select` },
    )
    return new KGroupedStream<K2, V>(rekeyed.derive(rekeyed.node, { valueSerde: this.valueSerde }), grouped)
  }

  /** @internal the stream's serde, or the one given; a TopologyError naming the operation when neither is known */
  requireSerde<T extends 'key' | 'value'>(
    target: T,
    given: Serde<T extends 'key' ? K : V> | undefined,
    operation: string,
  ): Serde<T extends 'key' ? K : V> {
    const serde = given ?? (target === 'key' ? this.keySerde : this.valueSerde)
    if (!serde) {
      throw new TopologyError(
        `${operation} after "${this.node}" needs a ${target} serde: the stream's ${target} type may have changed (map, selectKey, flatMap, mapValues, flatMapValues, process or groupBy), so pass { ${target}: <serde> } to it (or to groupBy/groupByKey)`,
        { context: { processor: this.node, option: target } },
      )
    }
    return serde as Serde<T extends 'key' ? K : V>
  }

  /**
   * @internal the stream a stateful step named `base` reads: this one, or, when the key may have
   * changed, the same records through `<applicationId>-<base>-repartition`
   */
  repartitionIfRequired(base: string, keySerde: Serde<K>, valueSerde: Serde<V>): KStream<K, V> {
    if (!this.repartitionRequired) return this
    return this.#repartition(base, keySerde, valueSerde, undefined, undefined)
  }

  #repartition(
    base: string,
    keySerde: Serde<K> | undefined,
    valueSerde: Serde<V> | undefined,
    partitions: number | undefined,
    partitioner: Repartitioned<K, V>['partitioner'],
  ): KStream<K, V> {
    const key = this.requireSerde('key', keySerde, 'repartition')
    const value = this.requireSerde('value', valueSerde, 'repartition')
    const topic = `${base}-repartition`
    this.graph.addInternalTopic(topic, { partitions: partitions ?? { sameAs: this.sourceTopics } })
    this.graph.addSink(`${topic}-sink`, [this.node], {
      topic,
      keySerde: key as Serde<unknown>,
      valueSerde: value as Serde<unknown>,
      partitioner: partitioner as
        | ((record: Record<unknown, unknown>, partitions: number) => number)
        | undefined,
    })
    const source = `${topic}-source`
    this.graph.addSource(source, {
      topics: [topic],
      keySerde: key as Serde<unknown>,
      valueSerde: value as Serde<unknown>,
    })
    return this.derive(source, {
      keySerde: key,
      valueSerde: value,
      repartitionRequired: false,
      sourceTopics: [topic],
    })
  }
}
