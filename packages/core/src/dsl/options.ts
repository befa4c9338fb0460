// Option objects of the DSL, after Kafka Streams' Consumed, Produced, Grouped, Materialized,
// Repartitioned and Named. Every serde is typed by the stream's key or value type, so a serde of
// the wrong type is a compile error.
import type { Record } from '../record.js'
import type { Serde } from '../serde.js'
import type { StoreBackendFactory } from '../state/store-backend.js'
import type { StoreBuilder } from '../state-store.js'
import type { TimestampExtractor } from '../topology.js'
import type { NodeOptions } from './graph.js'

/** A name for the node an operation adds (Kafka Streams' `Named.as`). @default a generated name */
export interface Named {
  named?: string
}

/** How a source reads its topics. */
export interface Consumed<K, V> extends Named {
  key: Serde<K>
  value: Serde<V>
  timestampExtractor?: TimestampExtractor<K, V>
}

/** How `to` writes a topic. Serdes default to the stream's (known unless a key or value changed type). */
export interface Produced<K, V> extends Named {
  key?: Serde<K>
  value?: Serde<V>
  partitioner?: (record: Record<K, V>, partitions: number) => number
}

/**
 * How `groupByKey`/`groupBy` group. `named` names the repartition topic,
 * `<applicationId>-<named>-repartition`; without it the topic is named after the store.
 */
export interface Grouped<K, V> extends Named {
  key?: Serde<K>
  value?: Serde<V>
}

/** A state store the DSL creates (Kafka Streams' `Materialized`). */
export interface Materialized<K, V> {
  /** The store's name (its changelog is `<applicationId>-<as>-changelog`). @default a generated name, with a warning */
  as?: string
  key?: Serde<K>
  value?: Serde<V>
  /** @default the in-memory backend */
  backend?: StoreBackendFactory
  /** @default true */
  cache?: boolean
  /** @default true */
  logging?: boolean
  /** Window stores: how long windows are kept after their end. @default max(1 day, grace) */
  retentionMs?: number
}

/** An explicit repartition (`KStream.repartition`). */
export interface Repartitioned<K, V> extends Named {
  key?: Serde<K>
  value?: Serde<V>
  /** @default the largest partition count of the stream's source topics */
  partitions?: number
  partitioner?: (record: Record<K, V>, partitions: number) => number
}

/** Options of a stateless operator: a name, and the Processor API's concurrency options. */
export type OperatorOptions = Named & Pick<NodeOptions, 'concurrency' | 'maxInFlight' | 'retry'>

/** Options of `process`: stores to attach (builders are added; names refer to added stores). */
export type ProcessOptions = Named &
  Omit<NodeOptions, 'stores'> & { stores?: ReadonlyArray<StoreBuilder | string> }
