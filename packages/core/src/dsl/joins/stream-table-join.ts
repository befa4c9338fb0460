// Stream–table and stream–global-table joins (inner, left), as Kafka Streams': each stream record
// looks its key (or, for a global table, the key its mapper picks) up in the table's store as it is
// when the record is processed; table updates trigger nothing. A result keeps the stream record's
// key and timestamp. Records with a null value are dropped. A null key cannot be looked up in a
// table: an inner join drops the record, a left join joins it with null (KIP-962); a global
// table's mapper may pick a key from the value, so there a null stream key is fine, and a mapper
// that returns null or undefined means no match.
import { TopologyError } from '../../errors.js'
import type { Processor, ProcessorContext, ProcessorSupplier } from '../../processor.js'
import type { Record } from '../../record.js'
import type { KeyValueStore } from '../../state/key-value-store.js'

/** The joiner of each kind of join; in a left join the table side is `null` when it has no row. */
export type StreamTableJoin<K, V, VT, VOut> =
  | { type: 'inner'; joiner: (value: V, tableValue: VT, key: K) => VOut }
  | { type: 'left'; joiner: (value: V, tableValue: VT | null, key: K) => VOut }

export type StreamTableJoinOptions<K, V, VT, VOut> = StreamTableJoin<K, V, VT, VOut> & {
  /**
   * The table's key-value store, which the processor must list in its `stores`. Its sub-topology
   * then also holds the table's source, so the stream and the table must be co-partitioned.
   */
  store: string
}

export type StreamGlobalTableJoinOptions<K, V, KT, VT, VOut> = StreamTableJoin<K, V, VT, VOut> & {
  /** The global store (see `TopologyBuilder.addGlobalStore`), listed in the processor's `stores`. */
  store: string
  /** Picks the table key for a stream record; null or undefined: no row. */
  keyMapper: (key: K, value: V) => KT | null | undefined
}

/**
 * A stream–table join processor: each stream record is joined with the table's row of its key.
 *
 * @example
 * .addProcessor('enrich', { parents: ['orders'], stores: ['customers'] },
 *   streamTableJoin({ store: 'customers', type: 'left', joiner: (order, customer) => ({ ...order, customer }) }))
 */
export function streamTableJoin<K, V, VT, VOut>(
  options: StreamTableJoinOptions<K, V, VT, VOut>,
): ProcessorSupplier<K, V, K, VOut> {
  checkJoin('stream–table join', options)
  const joiner = options.joiner as (value: V, tableValue: VT | null, key: K) => VOut
  const left = options.type === 'left'
  return () =>
    lookupProcessor<K, V, K, VT, VOut>(
      options.store,
      (record) => {
        if (!isAbsent(record.key)) return { lookup: true, tableKey: record.key }
        return { lookup: false, join: left }
      },
      joiner,
      left,
    )
}

/**
 * A stream–global-table join processor: each stream record is joined with the global table's row
 * of the key `keyMapper` picks. The global table holds every partition, so no co-partitioning is
 * needed.
 *
 * @example
 * .addProcessor('with-product', { parents: ['orders'], stores: ['products'] },
 *   streamGlobalTableJoin({ store: 'products', type: 'inner', keyMapper: (_, order) => order.productId,
 *     joiner: (order, product) => ({ ...order, product }) }))
 */
export function streamGlobalTableJoin<K, V, KT, VT, VOut>(
  options: StreamGlobalTableJoinOptions<K, V, KT, VT, VOut>,
): ProcessorSupplier<K, V, K, VOut> {
  checkJoin('stream–global table join', options)
  if (typeof options.keyMapper !== 'function') {
    throw new TopologyError(`stream–global table join with "${options.store}" needs a "keyMapper" function`, {
      context: { store: options.store, option: 'keyMapper' },
    })
  }
  const joiner = options.joiner as (value: V, tableValue: VT | null, key: K) => VOut
  const left = options.type === 'left'
  const { keyMapper } = options
  return () =>
    lookupProcessor<K, V, KT, VT, VOut>(
      options.store,
      (record) => {
        const tableKey = keyMapper(record.key, record.value)
        return isAbsent(tableKey) ? { lookup: false, join: left } : { lookup: true, tableKey }
      },
      joiner,
      left,
    )
}

type Lookup<KT> = { lookup: true; tableKey: KT } | { lookup: false; join: boolean }

function lookupProcessor<K, V, KT, VT, VOut>(
  store: string,
  lookup: (record: Record<K, V>) => Lookup<KT>,
  joiner: (value: V, tableValue: VT | null, key: K) => VOut,
  left: boolean,
): Processor<K, V, K, VOut> {
  let context: ProcessorContext<K, VOut>
  let table: KeyValueStore<KT, VT>
  return {
    init: (processorContext) => {
      context = processorContext
      table = context.getStore<KeyValueStore<KT, VT>>(store)
    },
    process: async (record) => {
      if (isAbsent(record.value)) return
      const found = lookup(record)
      if (!found.lookup) {
        if (found.join) context.forward({ ...record, value: joiner(record.value, null, record.key) })
        return
      }
      const row = await table.get(found.tableKey)
      if (row === undefined && !left) return
      context.forward({ ...record, value: joiner(record.value, row ?? null, record.key) })
    },
  }
}

function checkJoin(kind: string, options: { type: unknown; joiner: unknown; store: unknown }): void {
  if (typeof options.store !== 'string' || options.store === '') {
    throw new TopologyError(`a ${kind} needs the "store" of the table`, { context: { option: 'store' } })
  }
  if (options.type !== 'inner' && options.type !== 'left') {
    throw new TopologyError(
      `${kind} with "${options.store}": "type" must be 'inner' or 'left', got ${String(options.type)}`,
      { context: { store: options.store, option: 'type' } },
    )
  }
  if (typeof options.joiner !== 'function') {
    throw new TopologyError(`${kind} with "${options.store}" needs a "joiner" function`, {
      context: { store: options.store, option: 'joiner' },
    })
  }
}

export function isAbsent(value: unknown): value is null | undefined {
  return value === null || value === undefined
}
