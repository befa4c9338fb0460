// Foreign-key table–table joins (inner, left), as KIP-213. A left row names a right row by a key
// taken from its value; the tables need not be co-partitioned. Each left update sends a
// subscription (its primary key, its partition and a hash of its value) to the subscription topic,
// keyed and partitioned by the foreign key like the right table; the right side keeps subscriptions
// in a store, answers each with the right row, and answers every subscriber of a right key when
// that row changes. Answers go to the response topic, into the left row's partition, where an
// answer whose hash is not the hash of the left row's current value is stale and dropped (the left
// row changed since), so results never go back in time.
// Results carry the new and the old value (so the result table can be grouped or joined): the join
// keeps each result, as the left and right rows it joined, in `<name>-results`; a result's new
// value undefined is a tombstone. Timestamps follow Kafka Streams: the answer to a subscription
// has the larger of the left row's (the subscription's) and the right row's timestamps (kept in
// `<name>-right-timestamps`, since the right table's store holds values only); the answers to a
// right row's change have that change's timestamp; an inner join's result deleted on the left side
// (row deleted, no reference any more) has the larger of the left update's and the right row's
// timestamps, a left join's has the left update's.
import { createHash } from 'node:crypto'
import { TopologyError } from '../../errors.js'
import type { ProcessorContext, ProcessorSupplier } from '../../processor.js'
import type { Record } from '../../record.js'
import type { Serde, SerdeContext } from '../../serde.js'
import { bytes, float64 } from '../../serdes.js'
import { readUint32 } from '../../state/key-bytes.js'
import { type KeyValueStore, keyValueStore } from '../../state/key-value-store.js'
import type { StoreBackendFactory } from '../../state/store-backend.js'
import type { TopologyBuilder } from '../../topology.js'
import type { Change } from '../changes.js'
import {
  ANSWER_EVEN_WITHOUT_ROW,
  ANSWER_ONLY_WITH_ROW,
  answer,
  parseAnswer,
  parseResultEntry,
  parseSubscriberEntry,
  parseSubscription,
  type ResultEntry,
  resultEntry,
  sameBytes,
  subscriberEntry,
  subscription,
  subscriptionKey,
  UNSUBSCRIBE,
} from './foreign-key-wire.js'
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
   * `<name>-subscription-response-topic` (both internal: `<applicationId>-…`) and the stores
   * `<name>-subscription-store`, `<name>-right-timestamps` and `<name>-results`.
   */
  name: string
  /** The right table's key of a left row; null or undefined: the row references nothing. */
  foreignKey: (value: VL, key: K) => KO | null | undefined
  left: ForeignKeyJoinTable<K, VL>
  right: ForeignKeyJoinTable<KO, VR>
  backend?: StoreBackendFactory
}

type AnyBuilder = TopologyBuilder<{ [name: string]: readonly [unknown, unknown] }>

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
  const rightTimestamps = `${name}-right-timestamps`
  const results = `${name}-results`
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
    rightTimestamps,
    results,
    names,
  }
  const backend = options.backend ? { backend: options.backend } : {}
  builder
    .addInternalTopic(registration, { partitions: { sameAs: [...right.sourceTopics] }, kind: 'subscription' })
    .addInternalTopic(response, { partitions: { sameAs: [...left.sourceTopics] }, kind: 'response' })
    .addStore(keyValueStore(subscriptions, { keySerde: raw, valueSerde: raw, ...backend }))
    .addStore(keyValueStore(rightTimestamps, { keySerde: raw, valueSerde: float64(), ...backend }))
    .addStore(keyValueStore(results, { keySerde: left.keySerde, valueSerde: raw, ...backend }))
    .addProcessor(
      names.send,
      { parents: [left.node], stores: [results] },
      sendSubscriptions(definition) as never,
    )
    .addSink(names.registrationSink, { parents: [names.send], topic: registration, ...wire })
    .addSource(names.registrationSource, { topics: [registration], ...wire })
    .addProcessor(
      names.receive,
      { parents: [names.registrationSource], stores: [subscriptions, right.store, rightTimestamps] },
      receiveSubscriptions(definition) as never,
    )
    .addProcessor(
      names.rightChanges,
      { parents: [right.node], stores: [subscriptions, rightTimestamps] },
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
      { parents: [names.responseSource], stores: [left.store, results] },
      resolveResponses(definition) as never,
    )
    .addProcessor(names.result, { parents: [names.resolve, names.send] }, passThrough as never)
  return names.result
}

type Definition<K, VL, KO, VR, VOut> = ForeignKeyJoinOptions<K, VL, KO, VR, VOut> & {
  joiner: (left: VL, right: VR | null, key: K) => VOut
  subscriptions: string
  rightTimestamps: string
  results: string
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
    let results: Results<K, VL, KO, VR, VOut>
    let partition = 0
    return {
      init: (processorContext) => {
        context = processorContext
        results = new Results(join, context.getStore(join.results))
        partition = Number(context.taskId.split('_').at(-1))
      },
      process: async (record: Record<K, Change<VL>>) => {
        if (record.key === null || record.key === undefined || !record.value) return
        const key = record.key
        const { newValue, oldValue } = record.value
        const primaryKey = serializeNonNull(join.left.keySerde, key, serdeContext, 'a primary key')
        const newForeignKey = foreignKeyBytes(key, newValue)
        const oldForeignKey = foreignKeyBytes(key, oldValue)
        const moved = oldForeignKey !== undefined && !sameBytes(oldForeignKey, newForeignKey)
        const subscribe = (foreignKey: Uint8Array, instruction: number, hash: Uint8Array | undefined) =>
          context.forwardTo(join.names.registrationSink, {
            ...record,
            key: foreignKey,
            value: subscription(instruction, hash, partition, primaryKey),
          })
        const result = async (joined: Joined<VL, VR> | undefined) => {
          const update = await results.replace(key, joined)
          // Kafka Streams has the right side delete an inner join's result, which stamps it with the
          // right row's time too; a left join's result goes out with the left update's time.
          const rightTime = join.type === 'inner' ? update.replaced?.rightTimestamp : undefined
          const timestamp = rightTime === undefined ? record.timestamp : Math.max(record.timestamp, rightTime)
          context.forwardTo(join.names.result, { ...record, value: update.change, timestamp })
        }
        if (moved) subscribe(oldForeignKey, UNSUBSCRIBE, undefined)
        if (newValue === undefined) {
          // The row is gone: its result goes now; answers still on their way are stale (no row).
          if (oldValue !== undefined) await result(undefined)
          return
        }
        const leftBytes = serializeNonNull(
          join.left.valueSerde,
          newValue,
          { ...serdeContext, target: 'value' },
          'a left row',
        )
        if (newForeignKey === undefined) {
          // The row references nothing: no right row can join it.
          if (join.type === 'left') {
            await result({
              left: newValue,
              leftBytes,
              right: null,
              rightBytes: undefined,
              rightTimestamp: undefined,
            })
          } else if (oldValue !== undefined) await result(undefined)
          return
        }
        // An inner join answers without a row too when the reference moved, to delete the old result.
        const instruction = join.type === 'left' || moved ? ANSWER_EVEN_WITHOUT_ROW : ANSWER_ONLY_WITH_ROW
        subscribe(newForeignKey, instruction, valueHash(leftBytes))
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
    let timestamps: KeyValueStore<Uint8Array, number>
    return {
      init: (processorContext) => {
        context = processorContext
        store = context.getStore(join.subscriptions)
        rows = context.getStore(join.right.store)
        timestamps = context.getStore(join.rightTimestamps)
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
        let value: Uint8Array | undefined
        let rightTimestamp: number | undefined
        // The answer has the later of the subscription's (the left row's) and the right row's times.
        let timestamp = record.timestamp
        if (row !== undefined) {
          value = serializeNonNull(join.right.valueSerde, row, serdeContext, 'a right row')
          rightTimestamp = await timestamps.get(record.key)
          if (rightTimestamp !== undefined) timestamp = Math.max(timestamp, rightTimestamp)
        }
        context.forward({
          ...record,
          key: primaryKey,
          value: answer(partition, hash, value, rightTimestamp),
          timestamp,
        })
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
    let timestamps: KeyValueStore<Uint8Array, number>
    return {
      init: (processorContext) => {
        context = processorContext
        store = context.getStore(join.subscriptions)
        timestamps = context.getStore(join.rightTimestamps)
      },
      process: async (record) => {
        if (record.key === null || record.key === undefined || !record.value) return
        const foreignKey = serializeNonNull(join.right.keySerde, record.key, serdeContext, 'a foreign key')
        const { newValue } = record.value
        if (newValue === undefined) await timestamps.delete(foreignKey)
        else await timestamps.put(foreignKey, record.timestamp)
        const value =
          newValue === undefined
            ? undefined
            : serializeNonNull(join.right.valueSerde, newValue, serdeContext, 'a right row')
        const rightTimestamp = newValue === undefined ? undefined : record.timestamp
        const prefix = subscriptionKey(foreignKey, new Uint8Array(0))
        for await (const entry of store.prefixScan(prefix, bytes())) {
          const { hash, partition } = parseSubscriberEntry(entry.value)
          const primaryKey = entry.key.subarray(prefix.byteLength)
          // The answers keep the right change's time, as Kafka Streams' (ForeignTableJoinProcessorSupplier).
          context.forward({
            ...record,
            key: new Uint8Array(primaryKey),
            value: answer(partition, hash, value, rightTimestamp),
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
    let results: Results<K, VL, KO, VR, VOut>
    return {
      init: (processorContext) => {
        context = processorContext
        rows = context.getStore(join.left.store)
        results = new Results(join, context.getStore(join.results))
      },
      process: async (record) => {
        if (record.key === null || record.value === null) return
        const { hash, value, rightTimestamp } = parseAnswer(record.value)
        const key = join.left.keySerde.deserialize(record.key, { ...serdeContext, target: 'key' })
        const row = await rows.get(key)
        if (row === undefined) return
        const leftBytes = serializeNonNull(join.left.valueSerde, row, serdeContext, 'a left row')
        if (!sameBytes(hash, valueHash(leftBytes))) return
        const right = value === undefined ? null : join.right.valueSerde.deserialize(value, serdeContext)
        const joined =
          right === null && join.type === 'inner'
            ? undefined
            : { left: row, leftBytes, right, rightBytes: value, rightTimestamp }
        const update = await results.replace(key, joined)
        context.forward({ key, value: update.change, timestamp: record.timestamp, headers: record.headers })
      },
    }
  }
}

/** A result's rows: the left row and the right row it joined (null: none, a left join's). */
interface Joined<VL, VR> {
  left: VL
  leftBytes: Uint8Array
  right: VR | null
  rightBytes: Uint8Array | undefined
  rightTimestamp: number | undefined
}

/**
 * The join's results, in `<name>-results`. A result is kept as the rows it joined (their serdes
 * are known, the result's need not be), and its old value is joined again from them when it is
 * replaced, as table–table joins join the old row again: so the joiner must be deterministic.
 */
class Results<K, VL, KO, VR, VOut> {
  readonly #join: Definition<K, VL, KO, VR, VOut>
  readonly #store: KeyValueStore<K, Uint8Array>
  readonly #serdeContext: SerdeContext

  constructor(join: Definition<K, VL, KO, VR, VOut>, store: KeyValueStore<K, Uint8Array>) {
    this.#join = join
    this.#store = store
    this.#serdeContext = { topic: join.results, target: 'value', headers: [] }
  }

  /**
   * Makes `joined` (undefined: no result) the key's result; returns the change and the entry it
   * replaced. A tombstone for a key without a result is still a change (both values undefined), as
   * Kafka Streams sends one when it cannot know whether the row joined, and as a result written
   * before the store existed must still be deleted downstream.
   */
  async replace(
    key: K,
    joined: Joined<VL, VR> | undefined,
  ): Promise<{ change: Change<VOut>; replaced: ResultEntry | undefined }> {
    const stored = await this.#store.get(key)
    const replaced = stored === undefined ? undefined : parseResultEntry(stored)
    if (joined === undefined) {
      if (replaced !== undefined) await this.#store.delete(key)
    } else {
      const { leftBytes: left, rightBytes: right, rightTimestamp } = joined
      await this.#store.put(key, resultEntry({ left, right, rightTimestamp }))
    }
    const { joiner, left, right } = this.#join
    const oldValue =
      replaced &&
      joiner(
        left.valueSerde.deserialize(replaced.left, this.#serdeContext),
        replaced.right === undefined
          ? null
          : right.valueSerde.deserialize(replaced.right, this.#serdeContext),
        key,
      )
    return { change: { newValue: joined && joiner(joined.left, joined.right, key), oldValue }, replaced }
  }
}

function valueHash(serialized: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('md5').update(serialized).digest())
}
