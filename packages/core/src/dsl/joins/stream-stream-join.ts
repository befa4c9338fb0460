// Windowed stream–stream joins (inner, left, outer) with Kafka Streams' semantics. Each side keeps
// its records in a window store; a record joins the other side's records of its key within the
// join window, and each result carries the larger of the two timestamps. A record with no match
// (left side of a left join, either side of an outer join) is held in the shared "outer join
// store" and its result with null is emitted only once its window closed (stream time passed
// its end plus grace), unless a match came first: not eagerly. Records with a null value are
// dropped; a null key cannot match, so such a record is dropped, except on a side whose unmatched
// records are emitted, where its result with null is emitted at once (KIP-962). A record that
// arrives after its window closed is late and dropped.
import { TopologyError } from '../../errors.js'
import type { Processor, ProcessorContext, ProcessorSupplier } from '../../processor.js'
import type { Record } from '../../record.js'
import type { Serde, SerdeContext } from '../../serde.js'
import { bytes } from '../../serdes.js'
import { readInt64, readUint32, writeInt64, writeUint32 } from '../../state/key-bytes.js'
import { type KeyValueStore, keyValueStore } from '../../state/key-value-store.js'
import type { StoreBackendFactory } from '../../state/store-backend.js'
import type { StoreBuilder, StoreLogging } from '../../state-store.js'
import { type WindowStore, windowStore } from '../../windows/window-store.js'
import { checkJoinWindows, type JoinWindows } from './join-windows.js'
import { listSerde, serializeNonNull } from './list-serde.js'

/** The joiner of each kind of join: the side with no match gets `null`. */
export type StreamStreamJoin<K, VL, VR, VOut> =
  | { type: 'inner'; joiner: (left: VL, right: VR, key: K) => VOut }
  | { type: 'left'; joiner: (left: VL, right: VR | null, key: K) => VOut }
  | { type: 'outer'; joiner: (left: VL | null, right: VR | null, key: K) => VOut }

export type StreamStreamJoinOptions<K, VL, VR, VOut> = StreamStreamJoin<K, VL, VR, VOut> & {
  /** Names the join's stores: `<name>-left-store`, `<name>-right-store`, `<name>-outer-store`. */
  name: string
  windows: JoinWindows
  keySerde: Serde<K>
  leftValueSerde: Serde<VL>
  rightValueSerde: Serde<VR>
  /** Backend of the join's stores. @default memory */
  backend?: StoreBackendFactory
  /** Changelogs of the join's stores. @default true */
  logging?: boolean | StoreLogging
}

/** What a stream–stream join adds to a topology: its stores and one processor per side. */
export interface StreamStreamJoinParts<K, VL, VR, VOut> {
  stores: StoreBuilder[]
  storeNames: string[]
  left: ProcessorSupplier<K, VL, K, VOut>
  right: ProcessorSupplier<K, VR, K, VOut>
}

type Side = 'left' | 'right'
const LEFT = 0
const RIGHT = 1

/**
 * The stores and processors of a windowed stream–stream join. Add the stores, then `left` as a
 * child of the left stream and `right` as a child of the right one (both list `storeNames`); their
 * outputs together are the join's result. The two streams must be co-partitioned (the shared
 * stores put both in one sub-topology, and the runtime checks their partition counts at start).
 *
 * @example
 * const join = streamStreamJoin({ name: 'clicks-views', type: 'left', windows: joinWindows(60_000), keySerde, leftValueSerde, rightValueSerde,
 *   joiner: (click, view) => ({ click, view }) })
 */
export function streamStreamJoin<K, VL, VR, VOut>(
  options: StreamStreamJoinOptions<K, VL, VR, VOut>,
): StreamStreamJoinParts<K, VL, VR, VOut> {
  const { name } = options
  if (typeof name !== 'string' || name === '') throw new TopologyError('a stream–stream join needs a "name"')
  const windows = checkJoinWindows(name, options.windows)
  if (typeof options.joiner !== 'function') {
    throw new TopologyError(`join "${name}" needs a "joiner" function`, {
      context: { processor: name, option: 'joiner' },
    })
  }
  if (!['inner', 'left', 'outer'].includes(options.type)) {
    throw new TopologyError(
      `join "${name}": "type" must be 'inner', 'left' or 'outer', got ${String(options.type)}`,
      {
        context: { processor: name, option: 'type' },
      },
    )
  }
  const common = {
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.logging === undefined ? {} : { logging: options.logging }),
  }
  // A record (stored as the window [t, t + 1)) is kept until no record of the other side can still
  // join it: until stream time passes t + before + after + grace.
  const retentionMs = windows.beforeMs + windows.afterMs + windows.graceMs
  const leftName = `${name}-left-store`
  const rightName = `${name}-right-store`
  const outerName = options.type === 'inner' ? undefined : `${name}-outer-store`
  const stores: StoreBuilder[] = [
    windowStore(leftName, {
      keySerde: options.keySerde,
      valueSerde: listSerde(options.leftValueSerde),
      retentionMs,
      ...common,
    }),
    windowStore(rightName, {
      keySerde: options.keySerde,
      valueSerde: listSerde(options.rightValueSerde),
      retentionMs,
      ...common,
    }),
  ]
  if (outerName) stores.push(keyValueStore(outerName, { keySerde: bytes(), valueSerde: bytes(), ...common }))
  const joiner = options.joiner as (left: VL | null, right: VR | null, key: K) => VOut
  const shared: JoinDefinition<K, VL, VR, VOut> = {
    windows,
    joiner,
    keySerde: options.keySerde,
    leftValueSerde: listSerde(options.leftValueSerde),
    rightValueSerde: listSerde(options.rightValueSerde),
    leftName,
    rightName,
    outerName,
    // Which sides' unmatched records produce a result with null.
    unmatched: { left: options.type !== 'inner', right: options.type === 'outer' },
  }
  return {
    stores,
    storeNames: stores.map((store) => store.name),
    left: () => new JoinSideProcessor<K, VL, VR, VOut, VL>('left', shared),
    right: () => new JoinSideProcessor<K, VL, VR, VOut, VR>('right', shared),
  }
}

interface JoinDefinition<K, VL, VR, VOut> {
  windows: JoinWindows
  joiner: (left: VL | null, right: VR | null, key: K) => VOut
  keySerde: Serde<K>
  leftValueSerde: Serde<VL[]>
  rightValueSerde: Serde<VR[]>
  leftName: string
  rightName: string
  outerName: string | undefined
  unmatched: { left: boolean; right: boolean }
}

/** How far the other side's records of a record may lie after it (its window closes then + grace). */
function lookAhead(side: Side, windows: JoinWindows): number {
  return side === 'left' ? windows.afterMs : windows.beforeMs
}

class JoinSideProcessor<K, VL, VR, VOut, VThis extends VL | VR> implements Processor<K, VThis, K, VOut> {
  readonly #side: Side
  readonly #join: JoinDefinition<K, VL, VR, VOut>
  #context!: ProcessorContext<K, VOut>
  #thisStore!: WindowStore<K, VThis[]>
  #otherStore!: WindowStore<K, unknown[]>
  #outer: KeyValueStore<Uint8Array, Uint8Array> | undefined
  /** Earliest timestamp held in the outer join store; -Infinity: unknown (after a restart). */
  #minPending = Number.NEGATIVE_INFINITY
  #expiredUpTo = Number.NEGATIVE_INFINITY
  readonly #serdeContext: SerdeContext

  constructor(side: Side, join: JoinDefinition<K, VL, VR, VOut>) {
    this.#side = side
    this.#join = join
    this.#serdeContext = { topic: join.outerName ?? join.leftName, target: 'key', headers: [] }
  }

  init = (context: ProcessorContext<K, VOut>) => {
    this.#context = context
    const { leftName, rightName, outerName } = this.#join
    this.#thisStore = context.getStore(this.#side === 'left' ? leftName : rightName)
    this.#otherStore = context.getStore(this.#side === 'left' ? rightName : leftName)
    this.#outer = outerName ? context.getStore(outerName) : undefined
  }

  process = async (record: Record<K, VThis>): Promise<void> => {
    const { windows, unmatched } = this.#join
    if (record.value === null || record.value === undefined) return
    if (record.key === null || record.key === undefined) {
      if (unmatched[this.#side]) this.#context.forward({ ...record, value: this.#joinWith(record, null) })
      return
    }
    const time = record.timestamp
    const streamTime = Math.max(this.#context.streamTime, time)
    if (time + lookAhead(this.#side, windows) + windows.graceMs < streamTime) return
    if (this.#outer) await this.#emitClosed(streamTime)
    if (streamTime > this.#expiredUpTo) {
      this.#expiredUpTo = streamTime
      await this.#thisStore.expire(streamTime)
    }
    const window = { start: time, end: time + 1 }
    const held = (await this.#thisStore.get(record.key, window)) ?? []
    await this.#thisStore.put(record.key, window, [...held, record.value])
    const [from, to] =
      this.#side === 'left'
        ? [time - windows.beforeMs, time + windows.afterMs]
        : [time - windows.afterMs, time + windows.beforeMs]
    let matched = false
    for await (const entry of this.#otherStore.fetch(record.key, from, to)) {
      matched = true
      for (const other of entry.value) {
        this.#context.forward({
          ...record,
          value: this.#joinWith(record, other),
          timestamp: Math.max(time, entry.window.start),
        })
      }
      // The other side's records there found a match: no result with null for them.
      if (this.#outer)
        await this.#outer.delete(this.#outerKey(otherSide(this.#side), record.key, entry.window.start))
    }
    if (matched || !unmatched[this.#side] || !this.#outer) return
    const key = this.#outerKey(this.#side, record.key, time)
    const pending = await this.#outer.get(key)
    const values = pending ? this.#valuesOf(this.#side, pending) : []
    await this.#outer.put(key, this.#valueBytes(this.#side, [...values, record.value]))
    this.#minPending = Math.min(this.#minPending === Number.NEGATIVE_INFINITY ? time : this.#minPending, time)
  }

  #joinWith(record: Record<K, VThis>, other: unknown): VOut {
    const left = (this.#side === 'left' ? record.value : other) as VL | null
    const right = (this.#side === 'left' ? other : record.value) as VR | null
    return this.#join.joiner(left, right, record.key)
  }

  /** Emits the held unmatched records whose window closed before `streamTime`, in time order. */
  async #emitClosed(streamTime: number): Promise<void> {
    const { windows } = this.#join
    const earliestClose = Math.min(windows.afterMs, windows.beforeMs) + windows.graceMs
    if (this.#minPending !== Number.NEGATIVE_INFINITY && this.#minPending + earliestClose >= streamTime)
      return
    const closed: Array<{ key: Uint8Array; side: Side; recordKey: K; time: number; values: unknown[] }> = []
    let minPending = Number.POSITIVE_INFINITY
    for await (const { key, value } of this.#outer!.all()) {
      const { side, time, keyBytes } = parseOuterKey(key)
      // Held records are in time order: from here on, no window of either side has closed.
      if (time + earliestClose >= streamTime) {
        minPending = Math.min(minPending, time)
        break
      }
      if (time + lookAhead(side, windows) + windows.graceMs >= streamTime) {
        minPending = Math.min(minPending, time)
        continue
      }
      const recordKey = this.#join.keySerde.deserialize(keyBytes, this.#serdeContext)
      closed.push({ key: new Uint8Array(key), side, recordKey, time, values: this.#valuesOf(side, value) })
    }
    this.#minPending = minPending === Number.POSITIVE_INFINITY ? streamTime : minPending
    for (const entry of closed) {
      await this.#outer!.delete(entry.key)
      for (const value of entry.values) {
        const [left, right] = entry.side === 'left' ? [value as VL, null] : [null, value as VR]
        this.#context.forward({
          key: entry.recordKey,
          value: this.#join.joiner(left, right, entry.recordKey),
          timestamp: entry.time,
          headers: [],
        })
      }
    }
  }

  #outerKey(side: Side, key: K, time: number): Uint8Array {
    const keyBytes = serializeNonNull(this.#join.keySerde, key, this.#serdeContext, 'a join key')
    const out = new Uint8Array(8 + 1 + 4 + keyBytes.byteLength)
    writeInt64(out, 0, time)
    out[0]! ^= 0x80
    out[8] = side === 'left' ? LEFT : RIGHT
    writeUint32(out, 9, keyBytes.byteLength)
    out.set(keyBytes, 13)
    return out
  }

  #valuesOf(side: Side, bytes: Uint8Array): unknown[] {
    const serde = side === 'left' ? this.#join.leftValueSerde : this.#join.rightValueSerde
    return serde.deserialize(bytes, { ...this.#serdeContext, target: 'value' })
  }

  #valueBytes(side: Side, values: unknown[]): Uint8Array {
    const serde = (side === 'left' ? this.#join.leftValueSerde : this.#join.rightValueSerde) as Serde<
      unknown[]
    >
    return serializeNonNull(serde, values, { ...this.#serdeContext, target: 'value' }, 'a list of values')
  }
}

function otherSide(side: Side): Side {
  return side === 'left' ? 'right' : 'left'
}

function parseOuterKey(bytes: Uint8Array): { time: number; side: Side; keyBytes: Uint8Array } {
  // A copy (a Buffer's slice() would be a view, and the flip would change the stored key).
  const flipped = new Uint8Array(bytes.subarray(0, 8))
  flipped[0]! ^= 0x80
  const time = readInt64(flipped, 0)
  const side: Side = bytes[8] === LEFT ? 'left' : 'right'
  const length = readUint32(bytes, 9)
  return { time, side, keyBytes: bytes.subarray(13, 13 + length) }
}
