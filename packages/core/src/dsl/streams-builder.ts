// StreamsBuilder: the entry point of the typed DSL. `build()` returns the same Topology the
// Processor API builds, so describe(), the test driver and createApp work unchanged.
import { TopologyError } from '../errors.js'
import { consoleLogger, type Logger } from '../logger.js'
import type { StoreBuilder } from '../state-store.js'
import type { Topology } from '../topology.js'
import { materialize } from './changes.js'
import { DslGraph } from './graph.js'
import { type GlobalKTable, globalTable } from './joins/dsl-joins.js'
import { KStream } from './kstream.js'
import { KTable } from './ktable.js'
import { materializedStore } from './materialize.js'
import type { Consumed, Materialized } from './options.js'

export interface StreamsBuilderOptions {
  /** Where the build-time warning about generated internal names goes. @default consoleLogger */
  logger?: Logger
  /**
   * Fail the build (TopologyError) instead of warning when a store or repartition topic would be
   * named after a generated node name (Kafka Streams' `ensure.explicit.internal.resource.naming`).
   * @default false
   */
  requireNames?: boolean
}

/**
 * @example
 * const builder = new StreamsBuilder()
 * builder
 *   .stream('lines', { key: serdes.string(), value: serdes.string() })
 *   .flatMapValues((line) => line.toLowerCase().split(/\W+/))
 *   .groupBy((_key, word) => word, { named: 'words' })
 *   .count({ as: 'word-counts' })
 *   .toStream()
 *   .to('word-counts', { value: serdes.float64() })
 * const topology = builder.build()
 */
export class StreamsBuilder {
  readonly #graph: DslGraph

  constructor(options: StreamsBuilderOptions = {}) {
    this.#graph = new DslGraph({
      logger: options.logger ?? consoleLogger,
      requireNames: options.requireNames ?? false,
    })
  }

  /** A stream of the records of one or more topics (several topics must be co-partitioned). */
  stream<K, V>(topics: string | readonly string[], consumed: Consumed<K, V>): KStream<K, V> {
    const list = typeof topics === 'string' ? [topics] : [...topics]
    if (!consumed?.key || !consumed.value) {
      throw new TopologyError(
        `stream(${JSON.stringify(list)}) needs { key: <serde>, value: <serde> }, e.g. { key: serdes.string(), value: serdes.json<Order>() }`,
        { context: { topic: list[0] } },
      )
    }
    const name = this.#graph.nodeName('KSTREAM-SOURCE', consumed.named)
    this.#graph.addSource(name, {
      topics: list,
      keySerde: consumed.key,
      valueSerde: consumed.value,
      timestampExtractor: consumed.timestampExtractor as never,
    })
    return new KStream<K, V>(this.#graph, name, {
      keySerde: consumed.key,
      valueSerde: consumed.value,
      repartitionRequired: false,
      sourceTopics: list,
    })
  }

  /**
   * A topic read as a table: each record is its key's new row, a null value deletes it. The rows
   * are kept in a store (`materialized.as`), backed by a changelog topic of its own, or, with
   * `reuseSourceTopic: true`, restored from the topic itself (no extra topic; Kafka Streams'
   * `reuse.ktable.source.topics`): for a topic whose records are the rows, with serdes that write
   * the same bytes they read.
   */
  table<K, V>(
    topic: string,
    consumed: Consumed<K, V> & { materialized?: Materialized<K, V>; reuseSourceTopic?: boolean },
  ): KTable<K, V> {
    const stream = this.stream<K, V | null>(topic, consumed as Consumed<K, V | null>)
    const name = this.#graph.nodeName(
      'KTABLE-SOURCE',
      consumed.named === undefined ? undefined : `${consumed.named}-table`,
    )
    const materialized = consumed.materialized ?? {}
    if (consumed.reuseSourceTopic && materialized.logging !== undefined) {
      throw new TopologyError(
        `table("${topic}"): "reuseSourceTopic" restores the store from the topic, so it takes no "materialized.logging"`,
        { context: { topic, option: 'reuseSourceTopic' } },
      )
    }
    const source = consumed.reuseSourceTopic ? topic : undefined
    const store = materializedStore(this.#graph, materialized, name, consumed.key, consumed.value, source)
    this.#graph.addProcessor(name, [stream.node], materialize<K, V>(store) as never, { stores: [store] })
    return new KTable<K, V>(this.#graph, name, {
      keySerde: consumed.key,
      valueSerde: consumed.value,
      sourceTopics: [topic],
      store,
      oldValues: true,
    })
  }

  /**
   * A topic read as a global table: every instance reads all of its partitions into a store
   * (`materialized.as`, logging off: the topic is its changelog) before it processes a record, and
   * keeps it up to date; streams join it with a key mapper, without co-partitioning.
   */
  globalTable<K, V>(
    topic: string,
    consumed: Consumed<K, V> & { materialized?: Pick<Materialized<K, V>, 'as' | 'backend'> },
  ): GlobalKTable<K, V> {
    return globalTable(this.#graph, topic, consumed)
  }

  /** Adds a store for `KStream.process` steps to name (or pass the builder to `process` itself). */
  addStore(builder: StoreBuilder): this {
    this.#graph.addStore(builder)
    return this
  }

  /** Validates and returns the topology; warns (or fails, with `requireNames`) about generated internal names. */
  build(): Topology {
    const generated = this.#graph.generatedInternalNames
    if (generated.length > 0) {
      const message = `${generated.length} internal name(s) come from node positions and change when the topology changes, which orphans their state and topics: ${generated.join(', ')}; name them (Materialized "as", Grouped/Repartitioned "named")`
      if (this.#graph.options.requireNames) throw new TopologyError(message)
      this.#graph.options.logger.warn(message)
    }
    return this.#graph.topology.build()
  }
}
