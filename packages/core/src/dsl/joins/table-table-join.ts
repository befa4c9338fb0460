// Table–table joins (inner, left, outer) on the primary key, as Kafka Streams': an update of
// either table joins the other table's current row of its key and forwards the result's new and
// old value (so downstream aggregations retract the old result). A result whose new value is
// undefined deletes the row (a tombstone downstream). Its timestamp is the larger of the two rows'
// timestamps; they are kept in the join's own store, since the tables' stores hold values only.
import { TopologyError } from '../../errors.js'
import type { Processor, ProcessorContext, ProcessorSupplier } from '../../processor.js'
import type { Record } from '../../record.js'
import type { Serde, SerdeContext } from '../../serde.js'
import { bytes, float64 } from '../../serdes.js'
import { type KeyValueStore, keyValueStore } from '../../state/key-value-store.js'
import type { StoreBackendFactory } from '../../state/store-backend.js'
import type { StoreBuilder, StoreLogging } from '../../state-store.js'
import type { Change } from '../changes.js'
import { serializeNonNull } from './list-serde.js'

/** The joiner of each kind of join: the side with no row gets `null`. */
export type TableTableJoin<K, VL, VR, VOut> =
  | { type: 'inner'; joiner: (left: VL, right: VR, key: K) => VOut }
  | { type: 'left'; joiner: (left: VL, right: VR | null, key: K) => VOut }
  | { type: 'outer'; joiner: (left: VL | null, right: VR | null, key: K) => VOut }

export type TableTableJoinOptions<K, VL, VR, VOut> = TableTableJoin<K, VL, VR, VOut> & {
  /** Names the join's timestamp store, `<name>-timestamps`. */
  name: string
  /** The left table's store (its rows after each update). */
  leftStore: string
  /** The right table's store. */
  rightStore: string
  keySerde: Serde<K>
  backend?: StoreBackendFactory
  logging?: boolean | StoreLogging
}

export interface TableTableJoinParts<K, VL, VR, VOut> {
  stores: StoreBuilder[]
  /** The stores both processors list: the two tables' and the join's own. */
  storeNames: string[]
  /** A child of the left table's changes. */
  left: ProcessorSupplier<K, Change<VL>, K, Change<VOut>>
  /** A child of the right table's changes. */
  right: ProcessorSupplier<K, Change<VR>, K, Change<VOut>>
}

type Side = 'left' | 'right'

/**
 * The processors of a table–table join. Each side's processor must come after the processor that
 * writes its table's store (it reads the other table's store as it is then).
 *
 * @example
 * const join = tableTableJoin({ name: 'user-profile', type: 'left', leftStore: 'users', rightStore: 'profiles', keySerde,
 *   joiner: (user, profile) => ({ ...user, profile }) })
 */
export function tableTableJoin<K, VL, VR, VOut>(
  options: TableTableJoinOptions<K, VL, VR, VOut>,
): TableTableJoinParts<K, VL, VR, VOut> {
  const { name, leftStore, rightStore } = options
  if (typeof name !== 'string' || name === '') throw new TopologyError('a table–table join needs a "name"')
  if (!['inner', 'left', 'outer'].includes(options.type)) {
    throw new TopologyError(
      `join "${name}": "type" must be 'inner', 'left' or 'outer', got ${String(options.type)}`,
      {
        context: { processor: name, option: 'type' },
      },
    )
  }
  if (typeof options.joiner !== 'function') {
    throw new TopologyError(`join "${name}" needs a "joiner" function`, {
      context: { processor: name, option: 'joiner' },
    })
  }
  for (const [option, store] of [
    ['leftStore', leftStore],
    ['rightStore', rightStore],
  ] as const) {
    if (typeof store !== 'string' || store === '') {
      throw new TopologyError(`join "${name}" needs "${option}", the table's store`, {
        context: { processor: name, option },
      })
    }
  }
  const timestamps = keyValueStore(`${name}-timestamps`, {
    keySerde: bytes(),
    valueSerde: float64(),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.logging === undefined ? {} : { logging: options.logging }),
  })
  const definition: Definition<K, VL, VR, VOut> = {
    joiner: options.joiner as (left: VL | null, right: VR | null, key: K) => VOut,
    keySerde: options.keySerde,
    leftStore,
    rightStore,
    timestamps: timestamps.name,
    // Whether a row of this side with no row on the other side still has a result.
    alone: { left: options.type !== 'inner', right: options.type === 'outer' },
  }
  return {
    stores: [timestamps],
    storeNames: [leftStore, rightStore, timestamps.name],
    left: () => new TableJoinSide<K, VL, VR, VOut, VL>('left', definition),
    right: () => new TableJoinSide<K, VL, VR, VOut, VR>('right', definition),
  }
}

interface Definition<K, VL, VR, VOut> {
  joiner: (left: VL | null, right: VR | null, key: K) => VOut
  keySerde: Serde<K>
  leftStore: string
  rightStore: string
  timestamps: string
  alone: { left: boolean; right: boolean }
}

class TableJoinSide<K, VL, VR, VOut, VThis> implements Processor<K, Change<VThis>, K, Change<VOut>> {
  readonly #side: Side
  readonly #definition: Definition<K, VL, VR, VOut>
  #context!: ProcessorContext<K, Change<VOut>>
  #other!: KeyValueStore<K, unknown>
  #timestamps!: KeyValueStore<Uint8Array, number>
  readonly #serdeContext: SerdeContext

  constructor(side: Side, definition: Definition<K, VL, VR, VOut>) {
    this.#side = side
    this.#definition = definition
    this.#serdeContext = { topic: definition.timestamps, target: 'key', headers: [] }
  }

  init = (context: ProcessorContext<K, Change<VOut>>) => {
    this.#context = context
    const { leftStore, rightStore, timestamps } = this.#definition
    this.#other = context.getStore(this.#side === 'left' ? rightStore : leftStore)
    this.#timestamps = context.getStore(timestamps)
  }

  process = async (record: Record<K, Change<VThis>>): Promise<void> => {
    if (record.key === null || record.key === undefined || !record.value) return
    const { newValue, oldValue } = record.value
    const keyBytes = serializeNonNull(
      this.#definition.keySerde,
      record.key,
      this.#serdeContext,
      'a table key',
    )
    const thisKey = timestampKey(this.#side, keyBytes)
    if (newValue === undefined) await this.#timestamps.delete(thisKey)
    else await this.#timestamps.put(thisKey, record.timestamp)
    const other = await this.#other.get(record.key)
    const result = {
      newValue: this.#result(record.key, newValue, other),
      oldValue: this.#result(record.key, oldValue, other),
    }
    if (result.newValue === undefined && result.oldValue === undefined) return
    let timestamp = record.timestamp
    if (other !== undefined) {
      const otherTime = await this.#timestamps.get(
        timestampKey(this.#side === 'left' ? 'right' : 'left', keyBytes),
      )
      if (otherTime !== undefined) timestamp = Math.max(timestamp, otherTime)
    }
    this.#context.forward({ ...record, value: result, timestamp })
  }

  /** The join of this side's row (`undefined`: none) with the other side's, or undefined for no result. */
  #result(key: K, row: VThis | undefined, other: unknown): VOut | undefined {
    const { alone, joiner } = this.#definition
    const otherSide: Side = this.#side === 'left' ? 'right' : 'left'
    if (row === undefined && other === undefined) return undefined
    if (row === undefined && !alone[otherSide]) return undefined
    if (other === undefined && !alone[this.#side]) return undefined
    const mine = row === undefined ? null : row
    const theirs = other === undefined ? null : other
    return this.#side === 'left'
      ? joiner(mine as VL | null, theirs as VR | null, key)
      : joiner(theirs as VL | null, mine as VR | null, key)
  }
}

function timestampKey(side: Side, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + key.byteLength)
  out[0] = side === 'left' ? 0 : 1
  out.set(key, 1)
  return out
}
