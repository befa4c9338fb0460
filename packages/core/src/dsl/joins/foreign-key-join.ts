// Foreign-key table–table joins (inner, left), as KIP-213. A left row names a right row by a key
// taken from its value; the tables need not be co-partitioned. Each left update sends a
// subscription (its primary key, its partition and a hash of its value) to the subscription topic,
// keyed and partitioned by the foreign key like the right table; the right side keeps subscriptions
// in a store, answers each with the right row, and answers every subscriber of a right key when
// that row changes. Answers go to the response topic, into the left row's partition, where an
// answer whose hash is not the hash of the left row's current value is stale and dropped (the left
// row changed since), so results never go back in time. Results carry the new value only (as a
// non-materialized Kafka Streams FK join): a result's new value undefined is a tombstone.
import { createHash } from 'node:crypto'
import { TopologyError } from '../../errors.js'
import type { ProcessorContext, ProcessorSupplier } from '../../processor.js'
import type { Record } from '../../record.js'
import type { Serde, SerdeContext } from '../../serde.js'
import { bytes } from '../../serdes.js'
import { readUint32, writeUint32 } from '../../state/key-bytes.js'
import { type KeyValueStore, keyValueStore } from '../../state/key-value-store.js'
import type { StoreBackendFactory } from '../../state/store-backend.js'
import type { TopologyBuilder } from '../../topology.js'
import type { Change } from '../changes.js'
import { serializeNonNull } from './list-serde.js'
import { passThrough } from './pass-through.js'

export type ForeignKeyJoin<K, VL, VR, VOut> =
  | { type: 'inner'; joiner: (left: VL, right: VR, key: K) => VOut }
  | { type: 'left'; joiner: (left: VL, right: VR | null, key: K) => VOut }

/** One table of the join: the node forwarding its changes, its store and serdes. */
export interface ForeignKeyJoinTable<K, V> {
  /** The node that forwards the table's `Change<V>` records, after its store was written. */
  node: string
  store: string
  keySerde: Serde<K>
  valueSerde: Serde<V>
  /** The topics the table comes from (the internal topics take their partition counts). */
  sourceTopics: readonly string[]
}

export type ForeignKeyJoinOptions<K, VL, KO, VR, VOut> = ForeignKeyJoin<K, VL, VR, VOut> & {
  /**
   * Names the join's parts: `<name>-subscription-registration-topic`,
   * `<name>-subscription-response-topic` (both internal: `<applicationId>-…`) and
   * `<name>-subscription-store`.
   */
  name: string
  /** The right table's key of a left row; null or undefined: the row references nothing. */
  foreignKey: (value: VL, key: K) => KO | null | undefined
  left: ForeignKeyJoinTable<K, VL>
  right: ForeignKeyJoinTable<KO, VR>
  backend?: StoreBackendFactory
}

type AnyBuilder = TopologyBuilder<{ [name: string]: readonly [unknown, unknown] }>

// What a subscription asks for.
const UNSUBSCRIBE = 0
const ANSWER_EVEN_WITHOUT_ROW = 1
const ANSWER_ONLY_WITH_ROW = 2
const VERSION = 1
const HASH_BYTES = 16

/**
 * Adds a foreign-key join to `builder` and returns the name of the node that forwards its results
 * (`Change<VOut>` records keyed by the left key).
 *
 * @example
 * const results = addForeignKeyJoin(builder, { name: 'order-customer', type: 'inner',
 *   foreignKey: (order) => order.customerId, joiner: (order, customer) => ({ ...order, customer }),
 *   left: { node: 'orders-table', store: 'orders', keySerde, valueSerde: orderSerde, sourceTopics: ['orders'] },
 *   right: { node: 'customers-table', store: 'customers', keySerde, valueSerde: customerSerde, sourceTopics: ['customers'] } })
 */
export function addForeignKeyJoin<K, VL, KO, VR, VOut>(
  builder: AnyBuilder,
  options: ForeignKeyJoinOptions<K, VL, KO, VR, VOut>,
): string {
  const { name, left, right } = options
  if (typeof name !== 'string' || name === '') throw new TopologyError('a foreign-key join needs a "name"')
  const context = { processor: name }
  if (options.type !== 'inner' && options.type !== 'left') {
    throw new TopologyError(
      `foreign-key join "${name}": "type" must be 'inner' or 'left', got ${String((options as { type: unknown }).type)}`,
      {
        context: { ...context, option: 'type' },
      },
    )
  }
  for (const option of ['joiner', 'foreignKey'] as const) {
    if (typeof options[option] !== 'function') {
      throw new TopologyError(`foreign-key join "${name}" needs a "${option}" function`, {
        context: { ...context, option },
      })
    }
  }
  const registration = `${name}-subscription-registration-topic`
  const response = `${name}-subscription-response-topic`
  const subscriptions = `${name}-subscription-store`
  const names = {
    send: `${name}-subscription-send`,
    registrationSink: `${name}-subscription-sink`,
    registrationSource: `${name}-subscription-source`,
    receive: `${name}-subscription-receive`,
    rightChanges: `${name}-foreign-changes`,
    responseSink: `${name}-response-sink`,
    responseSource: `${name}-response-source`,
    resolve: `${name}-response-resolve`,
    result: `${name}-result`,
  }
  const raw = bytes()
  const wire = { keySerde: raw, valueSerde: raw } as const
  const definition: Definition<K, VL, KO, VR, VOut> = {
    ...options,
    joiner: options.joiner as (left: VL, right: VR | null, key: K) => VOut,
    subscriptions,
    names,
  }
  builder
    .addInternalTopic(registration, { partitions: { sameAs: [...right.sourceTopics] }, kind: 'subscription' })
    .addInternalTopic(response, { partitions: { sameAs: [...left.sourceTopics] }, kind: 'response' })
    .addStore(
      keyValueStore(subscriptions, {
        keySerde: raw,
        valueSerde: raw,
        ...(options.backend ? { backend: options.backend } : {}),
      }),
    )
    .addProcessor(names.send, { parents: [left.node] }, sendSubscriptions(definition) as never)
    .addSink(names.registrationSink, { parents: [names.send], topic: registration, ...wire })
    .addSource(names.registrationSource, { topics: [registration], ...wire })
    .addProcessor(
      names.receive,
      { parents: [names.registrationSource], stores: [subscriptions, right.store] },
      receiveSubscriptions(definition) as never,
    )
    .addProcessor(
      names.rightChanges,
      { parents: [right.node], stores: [subscriptions] },
      answerSubscribers(definition) as never,
    )
    .addSink(names.responseSink, {
      parents: [names.receive, names.rightChanges],
      topic: response,
      ...wire,
      // The answer goes back to the partition of the left row that subscribed.
      partitioner: (record) => readUint32(record.value as Uint8Array, 1),
    })
    .addSource(names.responseSource, { topics: [response], ...wire })
    .addProcessor(
      names.resolve,
      { parents: [names.responseSource], stores: [left.store] },
      resolveResponses(definition) as never,
    )
    .addProcessor(names.result, { parents: [names.resolve, names.send] }, passThrough as never)
  return names.result
}

type Definition<K, VL, KO, VR, VOut> = ForeignKeyJoinOptions<K, VL, KO, VR, VOut> & {
  joiner: (left: VL, right: VR | null, key: K) => VOut
  subscriptions: string
  names: { registrationSink: string; result: string }
}

/** Left side: turns each left update into subscriptions (and results that need no answer). */
function sendSubscriptions<K, VL, KO, VR, VOut>(
  join: Definition<K, VL, KO, VR, VOut>,
): ProcessorSupplier<K, Change<VL>, unknown, unknown> {
  const serdeContext: SerdeContext = { topic: join.names.registrationSink, target: 'key', headers: [] }
  const foreignKeyBytes = (key: K, value: VL | undefined): Uint8Array | undefined => {
    if (value === undefined) return undefined
    const foreignKey = join.foreignKey(value, key)
    if (foreignKey === null || foreignKey === undefined) return undefined
    return serializeNonNull(join.right.keySerde, foreignKey, serdeContext, 'a foreign key')
  }
  return () => {
    let context: ProcessorContext<unknown, unknown>
    let partition = 0
    return {
      init: (processorContext) => {
        context = processorContext
        partition = Number(context.taskId.split('_').at(-1))
      },
      process: (record: Record<K, Change<VL>>) => {
        if (record.key === null || record.key === undefined || !record.value) return
        const { newValue, oldValue } = record.value
        const primaryKey = serializeNonNull(join.left.keySerde, record.key, serdeContext, 'a primary key')
        const newForeignKey = foreignKeyBytes(record.key, newValue)
        const oldForeignKey = foreignKeyBytes(record.key, oldValue)
        const moved = oldForeignKey !== undefined && !sameBytes(oldForeignKey, newForeignKey)
        const subscribe = (foreignKey: Uint8Array, instruction: number, hash: Uint8Array | undefined) =>
          context.forwardTo(join.names.registrationSink, {
            ...record,
            key: foreignKey,
            value: subscription(instruction, hash, partition, primaryKey),
          })
        const result = (value: VOut | undefined) =>
          context.forwardTo(join.names.result, { ...record, value: { newValue: value, oldValue: undefined } })
        if (moved) subscribe(oldForeignKey, UNSUBSCRIBE, undefined)
        if (newValue === undefined) {
          // The row is gone: its result goes now; answers still on their way are stale (no row).
          if (oldValue !== undefined) result(undefined)
          return
        }
        if (newForeignKey === undefined) {
          // The row references nothing: no right row can join it.
          if (join.type === 'left') result(join.joiner(newValue, null, record.key))
          else if (oldValue !== undefined) result(undefined)
          return
        }
        // An inner join answers without a row too when the reference moved, to delete the old result.
        const instruction = join.type === 'left' || moved ? ANSWER_EVEN_WITHOUT_ROW : ANSWER_ONLY_WITH_ROW
        subscribe(newForeignKey, instruction, valueHash(join.left.valueSerde, newValue, serdeContext))
      },
    }
  }
}

/** Right side: keeps each subscription and answers it with the right row. */
function receiveSubscriptions<K, VL, KO, VR, VOut>(
  join: Definition<K, VL, KO, VR, VOut>,
): ProcessorSupplier<Uint8Array, Uint8Array, Uint8Array, Uint8Array> {
  const serdeContext: SerdeContext = { topic: join.subscriptions, target: 'key', headers: [] }
  return () => {
    let context: ProcessorContext<Uint8Array, Uint8Array>
    let store: KeyValueStore<Uint8Array, Uint8Array>
    let rows: KeyValueStore<KO, VR>
    return {
      init: (processorContext) => {
        context = processorContext
        store = context.getStore(join.subscriptions)
        rows = context.getStore(join.right.store)
      },
      process: async (record) => {
        if (record.key === null || record.value === null) return
        const { instruction, hash, partition, primaryKey } = parseSubscription(record.value)
        const storeKey = subscriptionKey(record.key, primaryKey)
        if (instruction === UNSUBSCRIBE) {
          await store.delete(storeKey)
          return
        }
        await store.put(storeKey, subscriberEntry(hash, partition))
        const row = await rows.get(join.right.keySerde.deserialize(record.key, serdeContext))
        if (row === undefined && instruction === ANSWER_ONLY_WITH_ROW) return
        const value =
          row === undefined
            ? undefined
            : serializeNonNull(join.right.valueSerde, row, serdeContext, 'a right row')
        context.forward({ ...record, key: primaryKey, value: answer(partition, hash, value) })
      },
    }
  }
}

/** Right side: a right row changed, so every subscriber of its key gets the new row (or none). */
function answerSubscribers<K, VL, KO, VR, VOut>(
  join: Definition<K, VL, KO, VR, VOut>,
): ProcessorSupplier<KO, Change<VR>, Uint8Array, Uint8Array> {
  const serdeContext: SerdeContext = { topic: join.subscriptions, target: 'key', headers: [] }
  return () => {
    let context: ProcessorContext<Uint8Array, Uint8Array>
    let store: KeyValueStore<Uint8Array, Uint8Array>
    return {
      init: (processorContext) => {
        context = processorContext
        store = context.getStore(join.subscriptions)
      },
      process: async (record) => {
        if (record.key === null || record.key === undefined || !record.value) return
        const foreignKey = serializeNonNull(join.right.keySerde, record.key, serdeContext, 'a foreign key')
        const { newValue } = record.value
        const value =
          newValue === undefined
            ? undefined
            : serializeNonNull(join.right.valueSerde, newValue, serdeContext, 'a right row')
        const prefix = subscriptionKey(foreignKey, new Uint8Array(0))
        for await (const entry of store.prefixScan(prefix, bytes())) {
          const { hash, partition } = parseSubscriberEntry(entry.value)
          const primaryKey = entry.key.subarray(prefix.byteLength)
          context.forward({
            ...record,
            key: new Uint8Array(primaryKey),
            value: answer(partition, hash, value),
          })
        }
      },
    }
  }
}

/** Left side: an answer joins the left row it was for, unless that row changed since (stale). */
function resolveResponses<K, VL, KO, VR, VOut>(
  join: Definition<K, VL, KO, VR, VOut>,
): ProcessorSupplier<Uint8Array, Uint8Array, K, Change<VOut>> {
  const serdeContext: SerdeContext = { topic: join.left.store, target: 'value', headers: [] }
  return () => {
    let context: ProcessorContext<K, Change<VOut>>
    let rows: KeyValueStore<K, VL>
    return {
      init: (processorContext) => {
        context = processorContext
        rows = context.getStore(join.left.store)
      },
      process: async (record) => {
        if (record.key === null || record.value === null) return
        const { hash, value } = parseAnswer(record.value)
        const key = join.left.keySerde.deserialize(record.key, { ...serdeContext, target: 'key' })
        const row = await rows.get(key)
        if (row === undefined || !sameBytes(hash, valueHash(join.left.valueSerde, row, serdeContext))) return
        const right = value === undefined ? null : join.right.valueSerde.deserialize(value, serdeContext)
        const newValue = right === null && join.type === 'inner' ? undefined : join.joiner(row, right, key)
        context.forward({
          key,
          value: { newValue, oldValue: undefined },
          timestamp: record.timestamp,
          headers: record.headers,
        })
      },
    }
  }
}

function valueHash<V>(serde: Serde<V>, value: V, context: SerdeContext): Uint8Array {
  const serialized = serializeNonNull(serde, value, { ...context, target: 'value' }, 'a left row')
  return new Uint8Array(createHash('md5').update(serialized).digest())
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.byteLength !== b.byteLength) return false
  for (let index = 0; index < a.byteLength; index += 1) if (a[index] !== b[index]) return false
  return true
}

// subscription: version | instruction | hash (16, zeros when none) | partition (u32) | primary key
function subscription(
  instruction: number,
  hash: Uint8Array | undefined,
  partition: number,
  primaryKey: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(2 + HASH_BYTES + 4 + primaryKey.byteLength)
  out[0] = VERSION
  out[1] = instruction
  if (hash) out.set(hash, 2)
  writeUint32(out, 2 + HASH_BYTES, partition)
  out.set(primaryKey, 6 + HASH_BYTES)
  return out
}

function parseSubscription(value: Uint8Array) {
  if (value.byteLength < 6 + HASH_BYTES || value[0] !== VERSION) {
    throw new TopologyError(
      `a foreign-key join subscription of unknown format (version ${value[0]}, ${value.byteLength} bytes)`,
    )
  }
  return {
    instruction: value[1]!,
    hash: value.subarray(2, 2 + HASH_BYTES),
    partition: readUint32(value, 2 + HASH_BYTES),
    primaryKey: value.subarray(6 + HASH_BYTES),
  }
}

// subscription store: key = foreign key length (u32) | foreign key | primary key; value = hash | partition
function subscriptionKey(foreignKey: Uint8Array, primaryKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + foreignKey.byteLength + primaryKey.byteLength)
  writeUint32(out, 0, foreignKey.byteLength)
  out.set(foreignKey, 4)
  out.set(primaryKey, 4 + foreignKey.byteLength)
  return out
}

function subscriberEntry(hash: Uint8Array, partition: number): Uint8Array {
  const out = new Uint8Array(HASH_BYTES + 4)
  out.set(hash, 0)
  writeUint32(out, HASH_BYTES, partition)
  return out
}

function parseSubscriberEntry(value: Uint8Array) {
  return { hash: value.subarray(0, HASH_BYTES), partition: readUint32(value, HASH_BYTES) }
}

// answer: version | partition (u32) | hash (16) | has value (1) | right row bytes
function answer(partition: number, hash: Uint8Array, value: Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(6 + HASH_BYTES + (value?.byteLength ?? 0))
  out[0] = VERSION
  writeUint32(out, 1, partition)
  out.set(hash, 5)
  out[5 + HASH_BYTES] = value === undefined ? 0 : 1
  if (value) out.set(value, 6 + HASH_BYTES)
  return out
}

function parseAnswer(value: Uint8Array) {
  if (value.byteLength < 6 + HASH_BYTES || value[0] !== VERSION) {
    throw new TopologyError(
      `a foreign-key join answer of unknown format (version ${value[0]}, ${value.byteLength} bytes)`,
    )
  }
  return {
    hash: value.subarray(5, 5 + HASH_BYTES),
    value: value[5 + HASH_BYTES] === 1 ? value.subarray(6 + HASH_BYTES) : undefined,
  }
}
