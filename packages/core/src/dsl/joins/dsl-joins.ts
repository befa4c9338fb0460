// The DSL's joins: KStream.join/leftJoin/outerJoin and KTable.join/leftJoin/outerJoin build on the
// join processors of this folder. A stream whose key may have changed is repartitioned first (as
// before any stateful step); the two sides of a co-partitioned join share stores, so they run in
// one sub-topology and the runtime checks at start that their topics have the same partition
// count. A table without a store of its own (after filter or mapValues) is materialized for the
// join. GlobalKTable lives here too: a global store read by stream joins, co-partitioned with
// nothing.
import { TopologyError } from '../../errors.js'
import type { ProcessorSupplier } from '../../processor.js'
import type { Serde } from '../../serde.js'
import type { KeyValueStore } from '../../state/key-value-store.js'
import { keyValueStore } from '../../state/key-value-store.js'
import type { StoreBackendFactory } from '../../state/store-backend.js'
import type { Change } from '../changes.js'
import type { DslGraph } from '../graph.js'
import { KStream } from '../kstream.js'
import { KTable } from '../ktable.js'
import type { Named } from '../options.js'
import { addForeignKeyJoin } from './foreign-key-join.js'
import type { JoinWindows } from './join-windows.js'
import { passThrough } from './pass-through.js'
import { streamStreamJoin } from './stream-stream-join.js'
import { streamGlobalTableJoin, streamTableJoin } from './stream-table-join.js'
import { tableTableJoin } from './table-table-join.js'

export type JoinType = 'inner' | 'left' | 'outer'

/** Options of a stream–stream join (Kafka Streams' `StreamJoined`). */
export interface StreamJoined<K, V, VO> extends Named {
  /** Names the join's stores (`<storeName>-left-store`, …). @default `named`, else a generated name (with a warning) */
  storeName?: string
  key?: Serde<K>
  value?: Serde<V>
  otherValue?: Serde<VO>
  /** @default memory */
  backend?: StoreBackendFactory
  /** @default true */
  logging?: boolean
}

/** Options of a stream–table join (Kafka Streams' `Joined`): serdes for a repartition, if one is needed. */
export interface Joined<K, V> extends Named {
  key?: Serde<K>
  value?: Serde<V>
}

/** Options of a table–table join: a name, and a store for the result (`as`), if it should have one. */
export interface TableJoined<K, V> extends Named {
  materialized?: {
    as: string
    key?: Serde<K>
    value: Serde<V>
    backend?: StoreBackendFactory
    logging?: boolean
  }
}

/** A topic read in full into a store on every instance, for stream lookups (`StreamsBuilder.globalTable`). */
export class GlobalKTable<K, V> {
  /** @internal */
  readonly graph: DslGraph
  readonly storeName: string
  /** @internal */
  readonly keySerde: Serde<K>
  /** @internal */
  readonly valueSerde: Serde<V>

  /** @internal use StreamsBuilder.globalTable */
  constructor(graph: DslGraph, storeName: string, keySerde: Serde<K>, valueSerde: Serde<V>) {
    this.graph = graph
    this.storeName = storeName
    this.keySerde = keySerde
    this.valueSerde = valueSerde
  }
}

/** Adds the global store of `topic` and returns its table (used by `StreamsBuilder.globalTable`). */
export function globalTable<K, V>(
  graph: DslGraph,
  topic: string,
  options: { key: Serde<K>; value: Serde<V>; materialized?: { as?: string; backend?: StoreBackendFactory } },
): GlobalKTable<K, V> {
  if (!options?.key || !options.value) {
    throw new TopologyError(`globalTable("${topic}") needs { key: <serde>, value: <serde> }`, {
      context: { topic },
    })
  }
  const store = graph.internalName('global store', options.materialized?.as, () => `${topic}-STATE-STORE`)
  graph.topology.addGlobalStore(
    keyValueStore(store, {
      keySerde: options.key,
      valueSerde: options.value,
      logging: false,
      ...(options.materialized?.backend ? { backend: options.materialized.backend } : {}),
    }),
    { topic },
  )
  return new GlobalKTable(graph, store, options.key, options.value)
}

type AnyJoiner = (left: unknown, right: unknown, key: unknown) => unknown

/** KStream.join / leftJoin / outerJoin: dispatches on the other side (stream, table or global table). */
export function joinStream<K, V>(
  stream: KStream<K, V>,
  type: JoinType,
  args: unknown[],
): KStream<K, unknown> {
  const [other] = args
  if (other instanceof KStream) {
    const [, joiner, windows, options] = args as [
      KStream<K, unknown>,
      AnyJoiner,
      JoinWindows,
      StreamJoined<K, V, unknown>?,
    ]
    return joinStreams(stream, other, type, joiner, windows, options ?? {})
  }
  if (type === 'outer') {
    throw new TopologyError(
      `outerJoin of stream "${stream.node}" needs another KStream (tables join inner or left)`,
      {
        context: { processor: stream.node },
      },
    )
  }
  if (other instanceof KTable) {
    const [, joiner, options] = args as [KTable<K, unknown>, AnyJoiner, Joined<K, V>?]
    return joinTable(stream, other, type, joiner, options ?? {})
  }
  if (other instanceof GlobalKTable) {
    const [, keyMapper, joiner, options] = args as [
      GlobalKTable<unknown, unknown>,
      (key: K, value: V) => unknown,
      AnyJoiner,
      Named?,
    ]
    return joinGlobal(stream, other, type, keyMapper, joiner, options ?? {})
  }
  throw new TopologyError(
    `join of stream "${stream.node}" needs a KStream, KTable or GlobalKTable to join with`,
    {
      context: { processor: stream.node },
    },
  )
}

function joinStreams<K, V>(
  left: KStream<K, V>,
  right: KStream<K, unknown>,
  type: JoinType,
  joiner: AnyJoiner,
  windows: JoinWindows,
  options: StreamJoined<K, V, unknown>,
): KStream<K, unknown> {
  const { graph } = left
  const name = graph.nodeName('KSTREAM-JOIN', options.named)
  const base = graph.internalName('join store', options.storeName ?? options.named, () => name)
  const keySerde = left.requireSerde('key', options.key ?? right.keySerde, `join "${name}"`)
  const leftValue = left.requireSerde('value', options.value, `join "${name}"`)
  const rightValue = right.requireSerde('value', options.otherValue, `join "${name}"`)
  const leftInput = left.repartitionIfRequired(`${base}-left`, keySerde, leftValue)
  const rightInput = right.repartitionIfRequired(`${base}-right`, keySerde, rightValue)
  const parts = streamStreamJoin({
    name: base,
    type,
    windows,
    keySerde,
    leftValueSerde: leftValue as Serde<unknown>,
    rightValueSerde: rightValue,
    joiner,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.logging === undefined ? {} : { logging: options.logging }),
  } as Parameters<typeof streamStreamJoin<K, unknown, unknown, unknown>>[0])
  for (const store of parts.stores) graph.addStore(store)
  graph.addProcessor(`${name}-left`, [leftInput.node], parts.left as never, { stores: parts.storeNames })
  graph.addProcessor(`${name}-right`, [rightInput.node], parts.right as never, { stores: parts.storeNames })
  graph.addProcessor(name, [`${name}-left`, `${name}-right`], passThrough as never)
  return leftInput.derive<K, unknown>(name, {
    keySerde,
    valueSerde: undefined,
    repartitionRequired: false,
    sourceTopics: [...leftInput.sourceTopics, ...rightInput.sourceTopics],
  })
}

function joinTable<K, V>(
  stream: KStream<K, V>,
  table: KTable<K, unknown>,
  type: 'inner' | 'left',
  joiner: AnyJoiner,
  options: Joined<K, V>,
): KStream<K, unknown> {
  const { graph } = stream
  const name = graph.nodeName('KSTREAM-JOIN', options.named)
  const { store } = tableStore(table, name)
  let input: KStream<K, V> = stream
  if (stream.repartitionRequired) {
    const keySerde = stream.requireSerde('key', options.key ?? table.keySerde, `join "${name}"`)
    const valueSerde = stream.requireSerde('value', options.value, `join "${name}"`)
    input = stream.repartitionIfRequired(
      graph.internalName('repartition topic', options.named, () => name),
      keySerde,
      valueSerde,
    )
  }
  graph.addProcessor(name, [input.node], streamTableJoin({ store, type, joiner } as never) as never, {
    stores: [store],
  })
  return input.derive<K, unknown>(name, {
    valueSerde: undefined,
    sourceTopics: [...input.sourceTopics, ...table.sourceTopics],
  })
}

function joinGlobal<K, V>(
  stream: KStream<K, V>,
  table: GlobalKTable<unknown, unknown>,
  type: 'inner' | 'left',
  keyMapper: (key: K, value: V) => unknown,
  joiner: AnyJoiner,
  options: Named,
): KStream<K, unknown> {
  const name = stream.graph.nodeName('KSTREAM-GLOBAL-JOIN', options.named)
  const supplier = streamGlobalTableJoin({ store: table.storeName, type, keyMapper, joiner } as never)
  stream.graph.addProcessor(name, [stream.node], supplier as never, { stores: [table.storeName] })
  return stream.derive<K, unknown>(name, { valueSerde: undefined })
}

/** KTable.join / leftJoin / outerJoin: on the primary key, or (with a foreign-key extractor) KIP-213. */
export function joinTables<K, V>(table: KTable<K, V>, type: JoinType, args: unknown[]): KTable<K, unknown> {
  const [other, second, third, fourth] = args
  if (!(other instanceof KTable)) {
    throw new TopologyError(`join of table "${table.node}" needs a KTable to join with`, {
      context: { processor: table.node },
    })
  }
  if (typeof third === 'function') {
    if (type === 'outer') {
      throw new TopologyError(`a foreign-key join of table "${table.node}" is inner or left, not outer`, {
        context: { processor: table.node },
      })
    }
    return foreignKeyJoin(
      table,
      other,
      type,
      second as (value: V, key: K) => unknown,
      third as AnyJoiner,
      (fourth ?? {}) as TableJoined<K, unknown>,
    )
  }
  const options = (third ?? {}) as TableJoined<K, unknown>
  const { graph } = table
  const name = graph.nodeName('KTABLE-JOIN', options.named)
  const leftTable = tableStore(table, `${name}-left`)
  const rightTable = tableStore(other as KTable<K, unknown>, `${name}-right`)
  const keySerde = table.keySerde ?? other.keySerde
  if (!keySerde) {
    throw new TopologyError(`join "${name}": the tables' key serde is unknown`, {
      context: { processor: name },
    })
  }
  const parts = tableTableJoin({
    name: graph.internalName('join store', options.named, () => name),
    type,
    leftStore: leftTable.store,
    rightStore: rightTable.store,
    keySerde,
    joiner: second as AnyJoiner,
  } as Parameters<typeof tableTableJoin<K, unknown, unknown, unknown>>[0])
  for (const store of parts.stores) graph.addStore(store)
  graph.addProcessor(`${name}-left`, [leftTable.node], parts.left as never, { stores: parts.storeNames })
  graph.addProcessor(`${name}-right`, [rightTable.node], parts.right as never, { stores: parts.storeNames })
  graph.addProcessor(name, [`${name}-left`, `${name}-right`], passThrough as never)
  return result(table, name, keySerde, options, [...table.sourceTopics, ...other.sourceTopics], true)
}

function foreignKeyJoin<K, V>(
  table: KTable<K, V>,
  other: KTable<unknown, unknown>,
  type: 'inner' | 'left',
  foreignKey: (value: V, key: K) => unknown,
  joiner: AnyJoiner,
  options: TableJoined<K, unknown>,
): KTable<K, unknown> {
  const { graph } = table
  const name = graph.nodeName('KTABLE-FK-JOIN', options.named)
  const base = graph.internalName('foreign-key join topics and store', options.named, () => name)
  const side = <KX, VX>(source: KTable<KX, VX>, role: string) => {
    if (!source.keySerde || !source.valueSerde) {
      throw new TopologyError(
        `foreign-key join "${name}": the ${role} table's serdes are unknown (give mapValues a { value } serde)`,
        { context: { processor: name } },
      )
    }
    return {
      ...tableStore(source, `${name}-${role}`),
      keySerde: source.keySerde,
      valueSerde: source.valueSerde,
      sourceTopics: source.sourceTopics,
    }
  }
  const output = addForeignKeyJoin(graph.topology, {
    name: base,
    type,
    foreignKey: foreignKey as (value: unknown, key: unknown) => unknown,
    joiner,
    left: side(table, 'left'),
    right: side(other, 'right'),
  } as never)
  return result(table, output, table.keySerde!, options, table.sourceTopics, true)
}

/** The join's result table, with a store of its own when `materialized` names one. */
function result<K, V>(
  table: KTable<K, V>,
  node: string,
  keySerde: Serde<K>,
  options: TableJoined<K, unknown>,
  sourceTopics: readonly string[],
  oldValues: boolean,
): KTable<K, unknown> {
  const materialized = options.materialized
  let store: string | undefined
  let output = node
  if (materialized) {
    store = table.graph.internalName('store', materialized.as, () => `${node}-STATE-STORE`)
    table.graph.addStore(
      keyValueStore(store, {
        keySerde: materialized.key ?? keySerde,
        valueSerde: materialized.value,
        ...(materialized.backend ? { backend: materialized.backend } : {}),
        logging: materialized.logging ?? true,
      }),
    )
    output = `${node}-materialize`
    table.graph.addProcessor(output, [node], materializeChanges(store) as never, { stores: [store] })
  }
  return new KTable(table.graph, output, {
    keySerde,
    valueSerde: materialized?.value,
    sourceTopics,
    store,
    oldValues,
  })
}

/** Stores made for tables that had none, so a table joined twice is materialized once. */
const joinStores = new WeakMap<KTable<unknown, unknown>, { store: string; node: string }>()

/**
 * The table's store and the node after which it holds each change's row: its own, or a new store
 * fed by its changes (a filtered or mapped table has none).
 */
function tableStore<K, V>(table: KTable<K, V>, join: string): { store: string; node: string } {
  if (table.storeName) return { store: table.storeName, node: table.node }
  const made = joinStores.get(table as KTable<unknown, unknown>)
  if (made) return made
  if (!table.keySerde || !table.valueSerde) {
    throw new TopologyError(
      `join "${join}": table "${table.node}" has no store and its serdes are unknown, so it cannot be materialized for the join; give mapValues a { value } serde`,
      { context: { processor: join } },
    )
  }
  const store = table.graph.internalName('store', undefined, () => `${table.node}-JOIN-STATE-STORE`)
  table.graph.addStore(keyValueStore(store, { keySerde: table.keySerde, valueSerde: table.valueSerde }))
  const node = `${table.node}-join-materialize`
  table.graph.addProcessor(node, [table.node], materializeChanges(store) as never, { stores: [store] })
  const result = { store, node }
  joinStores.set(table as KTable<unknown, unknown>, result)
  return result
}

/** Writes each change's new row (or deletes it) and forwards the change. */
function materializeChanges<K, V>(store: string): ProcessorSupplier<K, Change<V>, K, Change<V>> {
  return () => {
    let rows: KeyValueStore<K, V>
    let forward: (record: import('../../record.js').Record<K, Change<V>>) => void
    return {
      init: (context) => {
        rows = context.getStore(store)
        forward = (record) => context.forward(record)
      },
      process: async (record) => {
        if (record.key === null || record.key === undefined || !record.value) return
        if (record.value.newValue === undefined) await rows.delete(record.key)
        else await rows.put(record.key, record.value.newValue)
        forward(record)
      },
    }
  }
}
