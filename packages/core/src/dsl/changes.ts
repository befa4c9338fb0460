// The records inside a KTable: each update carries the row's new and old value (Kafka Streams'
// `Change<V>`), so that a grouped table can subtract the old row from its aggregate before it adds
// the new one. `undefined` is "no row" (a tombstone as the new value, a first insert as the old).
// Here too are the processors that keep a table's state: materializing a topic or stream, and the
// stream and table aggregations.
import type { Processor, ProcessorContext, ProcessorSupplier } from '../processor.js'
import type { Record } from '../record.js'
import { continueInScope, synchronousScoped } from '../runtime/record-scope.js'
import type { Serde } from '../serde.js'
import {
  type CachePeeking,
  type KeyValueStore,
  NOT_CACHED,
  peekCached,
  SETTLED,
} from '../state/key-value-store.js'

/** A table row's update: its new value and the one it replaced. */
export interface Change<V> {
  newValue: V | undefined
  oldValue: V | undefined
}

const NEW = 1
const OLD = 2

/**
 * Serde of `Change<V>` on repartition topics: a flags byte (new, old present), the new value's
 * length (4 bytes, big-endian) and bytes, then the old value's bytes.
 */
export function changeSerde<V>(valueSerde: Serde<V>): Serde<Change<V>> {
  return {
    serialize(change, context) {
      const newBytes =
        change.newValue === undefined ? undefined : valueSerde.serialize(change.newValue, context)
      const oldBytes =
        change.oldValue === undefined ? undefined : valueSerde.serialize(change.oldValue, context)
      const newLength = newBytes?.byteLength ?? 0
      const out = new Uint8Array(5 + newLength + (oldBytes?.byteLength ?? 0))
      out[0] = (newBytes ? NEW : 0) | (oldBytes ? OLD : 0)
      new DataView(out.buffer).setUint32(1, newLength)
      if (newBytes) out.set(newBytes, 5)
      if (oldBytes) out.set(oldBytes, 5 + newLength)
      return out
    },
    deserialize(bytes, context) {
      if (bytes.byteLength < 5)
        throw new Error(`a table change needs at least 5 bytes, got ${bytes.byteLength}`)
      const flags = bytes[0]!
      const newLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1)
      return {
        newValue: flags & NEW ? valueSerde.deserialize(bytes.subarray(5, 5 + newLength), context) : undefined,
        oldValue: flags & OLD ? valueSerde.deserialize(bytes.subarray(5 + newLength), context) : undefined,
      }
    },
  }
}

/** A processor with its context, for the small processors below. */
function processor<KIn, VIn, KOut, VOut>(
  process: (context: ProcessorContext<KOut, VOut>, record: Record<KIn, VIn>) => void | Promise<void>,
  init?: (context: ProcessorContext<KOut, VOut>) => void,
): Processor<KIn, VIn, KOut, VOut> {
  let context: ProcessorContext<KOut, VOut>
  return {
    init: (processorContext) => {
      context = processorContext
      init?.(context)
    },
    process: (record) => process(context, record),
  }
}

/** `processor` for a step that never awaits: it runs without an async context frame. */
function synchronousProcessor<KIn, VIn, KOut, VOut>(
  process: (context: ProcessorContext<KOut, VOut>, record: Record<KIn, VIn>) => void,
): Processor<KIn, VIn, KOut, VOut> {
  return synchronousScoped(processor(process))
}

const isAbsent = (value: unknown): value is null | undefined => value === null || value === undefined

/**
 * A read-modify-write of one key of `storeName` per record. `update(context, store, record,
 * current)` gets the key's value and returns the store write it made, or `undefined` to take the
 * asynchronous path (for a delete, which reads before it writes). When the record cache holds the
 * key, `update` runs at once, in the record's synchronous scope (no promise, no async context
 * frame, so it may only `put`, which applies synchronously); otherwise after `get`, in an async
 * frame of the record's scope, where `slow` does the whole update.
 */
function cachedUpdate<K, VIn, KOut, VOut, S>(
  storeName: string,
  update: (
    context: ProcessorContext<KOut, VOut>,
    store: KeyValueStore<K, S>,
    record: Record<K, VIn>,
    current: S | undefined,
  ) => Promise<void> | undefined,
  slow: (
    context: ProcessorContext<KOut, VOut>,
    store: KeyValueStore<K, S>,
    record: Record<K, VIn>,
  ) => Promise<void>,
  skip: (record: Record<K, VIn>) => boolean,
): ProcessorSupplier<K, VIn, KOut, VOut> {
  return () => {
    let context: ProcessorContext<KOut, VOut>
    let store: KeyValueStore<K, S>
    let peeking: (KeyValueStore<K, S> & CachePeeking<K, S>) | undefined
    const slowly = (record: Record<K, VIn>) => slow(context, store, record)
    return synchronousScoped({
      init: (processorContext: ProcessorContext<KOut, VOut>) => {
        context = processorContext
        store = context.getStore(storeName)
        peeking = peekCached in store ? (store as typeof peeking) : undefined
      },
      process: (record: Record<K, VIn>) => {
        if (skip(record)) return
        const current = peeking ? peeking[peekCached](record.key) : NOT_CACHED
        if (current === NOT_CACHED) return continueInScope(slowly, record)
        const written = update(context, store, record, current)
        if (written === undefined) return continueInScope(slowly, record)
        // Settled at once unless the cache had to make room (its write-down reads no scope).
        return written === SETTLED ? undefined : written
      },
    })
  }
}

/**
 * Materializes a changelog stream (a topic read as a table, or `toTable`): each record is the
 * key's new row, a null value deletes it. Records with a null key are dropped, as in Kafka Streams;
 * so is the delete of a key that has no row (nothing changed).
 */
export function materialize<K, V>(store: string): ProcessorSupplier<K, V | null, K, Change<V>> {
  return cachedUpdate<K, V | null, K, Change<V>, V>(
    store,
    (context, rows, record, oldValue) => {
      // A delete reads before it writes: the asynchronous path does it.
      if (isAbsent(record.value)) return undefined
      const written = rows.put(record.key, record.value)
      context.forward({ ...record, value: { newValue: record.value, oldValue } })
      return written
    },
    async (context, rows, record) => {
      const oldValue = await rows.get(record.key)
      if (isAbsent(record.value)) {
        if (oldValue === undefined) return
        await rows.delete(record.key)
        context.forward({ ...record, value: { newValue: undefined, oldValue } })
      } else {
        await rows.put(record.key, record.value)
        context.forward({ ...record, value: { newValue: record.value, oldValue } })
      }
    },
    (record) => isAbsent(record.key),
  )
}

/**
 * A stream aggregation (count, reduce, aggregate): records with a null key or value are dropped,
 * as Kafka Streams does; each other record updates its key's aggregate, which is forwarded with
 * the aggregate it replaced.
 */
export function streamAggregate<K, V, A>(
  store: string,
  aggregate: (key: K, value: V, current: A | undefined) => A,
): ProcessorSupplier<K, V | null, K, Change<A>> {
  const update = (
    context: ProcessorContext<K, Change<A>>,
    aggregates: KeyValueStore<K, A>,
    record: Record<K, V | null>,
    oldValue: A | undefined,
  ): Promise<void> => {
    const newValue = aggregate(record.key, record.value as V, oldValue)
    const written = aggregates.put(record.key, newValue)
    context.forward({ ...record, value: { newValue, oldValue } })
    return written
  }
  return cachedUpdate<K, V | null, K, Change<A>, A>(
    store,
    update,
    async (context, aggregates, record) => {
      await update(context, aggregates, record, await aggregates.get(record.key))
    },
    (record) => isAbsent(record.key) || isAbsent(record.value),
  )
}

/**
 * A grouped table's aggregation: a change subtracts its old value, then adds its new one (so a row
 * that moved between groups, changed or was deleted is retracted where it was counted). A group
 * whose aggregate became `undefined` (a reduce that subtracted its last value) is deleted.
 */
export function tableAggregate<K, V, A>(
  store: string,
  adder: (key: K, value: V, current: A | undefined) => A,
  subtractor: (key: K, value: V, current: A | undefined) => A | undefined,
): ProcessorSupplier<K, Change<V>, K, Change<A>> {
  const next = (record: Record<K, Change<V>>, oldValue: A | undefined): A | undefined => {
    const { newValue: added, oldValue: removed } = record.value
    let newValue: A | undefined = oldValue
    if (removed !== undefined) newValue = subtractor(record.key, removed, newValue)
    if (added !== undefined) newValue = adder(record.key, added, newValue)
    return newValue
  }
  return cachedUpdate<K, Change<V>, K, Change<A>, A>(
    store,
    (context, aggregates, record, oldValue) => {
      const newValue = next(record, oldValue)
      // A group emptied is deleted, which reads before it writes: the asynchronous path does it.
      if (newValue === undefined) return undefined
      const written = aggregates.put(record.key, newValue)
      context.forward({ ...record, value: { newValue, oldValue } })
      return written
    },
    async (context, aggregates, record) => {
      const oldValue = await aggregates.get(record.key)
      const newValue = next(record, oldValue)
      if (newValue === undefined) {
        if (oldValue === undefined) return
        await aggregates.delete(record.key)
      } else await aggregates.put(record.key, newValue)
      context.forward({ ...record, value: { newValue, oldValue } })
    },
    (record) => isAbsent(record.key) || isAbsent(record.value),
  )
}

/** A stateless step on a table's changes (filter, mapValues, toStream, groupBy's re-keying). */
export function onChange<KIn, VIn, KOut, VOut>(
  step: (context: ProcessorContext<KOut, VOut>, record: Record<KIn, Change<VIn>>) => void,
): ProcessorSupplier<KIn, Change<VIn>, KOut, VOut> {
  return () => synchronousProcessor<KIn, Change<VIn>, KOut, VOut>(step)
}

/** Turns plain updates (windowed aggregates; `undefined` for a merged-away session) into changes. */
export function asChanges<K, V>(): ProcessorSupplier<K, V | undefined, K, Change<V>> {
  return () =>
    synchronousProcessor<K, V | undefined, K, Change<V>>((context, record) =>
      context.forward({ ...record, value: { newValue: record.value ?? undefined, oldValue: undefined } }),
    )
}
