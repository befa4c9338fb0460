import {
  type BatchOptions,
  type BatchProcessorSupplier,
  batchProcessorSupplier,
  DEFAULT_MAX_BATCH_RECORDS,
} from './batch-processor.js'
import { TopologyError } from './errors.js'
import {
  type InternalTopic,
  type InternalTopicOptions,
  internalTopic,
  internalTopicName,
} from './internal-topics.js'
import type { ProcessorSupplier } from './processor.js'
import type { Record, RecordMetadata } from './record.js'
import type { Serde } from './serde.js'
import type { StateStore, StoreBuilder } from './state-store.js'
import { describeTopology, type TopologyDescription } from './topology-description.js'

/** Chooses a record's timestamp; the default uses the timestamp Kafka stored. */
export type TimestampExtractor<K, V> = (record: Record<K, V>, partitionTime: number) => number

export interface SourceOptions<K, V> {
  /** One or more topics. Several topics in one source must be co-partitioned. */
  topics: readonly string[]
  keySerde: Serde<K>
  valueSerde: Serde<V>
  timestampExtractor?: TimestampExtractor<K, V>
}

/**
 * Returned by an `orderingKey` function for a record that needs no ordering (it runs on its own,
 * concurrently with anything else).
 */
export const UNORDERED: unique symbol = Symbol.for('kstreams.unordered')

/**
 * How the records of a task may overlap:
 * - `partition`: one record at a time per task, in order, as in Kafka Streams;
 * - `key`: records with the same ordering key run one at a time, in order; different keys run
 *   concurrently;
 * - `unordered`: any record may run concurrently with any other.
 */
export type ConcurrencyMode = 'partition' | 'key' | 'unordered'

/** Chooses a record's ordering key in `key` mode; `UNORDERED` lets the record run without ordering. */
export type OrderingKey<K, V> = (record: Record<K, V>) => string | typeof UNORDERED

/** How the tasks of a sub-topology run their records (resolved from its processors' options). */
export interface SubtopologyConcurrency {
  mode: ConcurrencyMode
  /** `key` mode: the ordering key function; undefined: the record's key bytes (a null key: unordered). */
  orderingKey: OrderingKey<unknown, unknown> | undefined
  /** Records started and not finished per task, at most (1 in `partition` mode). */
  maxInFlight: number
  /** `key` mode with conflation: a key's backlog is cut to its newest record. */
  conflate?: ConflateOptions<unknown, unknown>
}

/** Conflation in `key` mode (see `ProcessorOptions.conflate`). */
export interface ConflateOptions<K, V> {
  /**
   * Called with each record skipped because a newer record of its key came before it could run.
   * It runs synchronously, in no record's scope; an error it throws is logged.
   */
  onSuperseded?: (record: Record<K, V>, newer: RecordMetadata) => void
}

/** Records in flight per task by default in `key` and `unordered` mode. */
export const DEFAULT_MAX_IN_FLIGHT = 256

export interface ProcessorOptions<P extends string, K = unknown, V = unknown> {
  /** Nodes whose output this processor receives. At least one. */
  parents: readonly [P, ...P[]]
  /** Names of stores (added with `addStore`) this processor may use. @default [] */
  stores?: readonly string[]
  /**
   * How records may overlap in this processor's sub-topology (one mode per sub-topology: when
   * its processors declare different ones, the strictest wins, `partition` < `key` < `unordered`;
   * a processor that declares none adopts its sub-topology's). In `key` mode, records of one
   * ordering key run in order and never overlap, so store reads and writes per key are safe;
   * records of different keys run concurrently and their outputs interleave.
   *
   * @default 'partition' (when no processor of the sub-topology declares a mode)
   * @example
   * .addProcessor('enrich', { parents: ['orders'], stores: ['totals'], concurrency: 'key', maxInFlight: 128 }, enrich)
   */
  concurrency?: ConcurrencyMode
  /**
   * `key` mode: the ordering key of an input record. It is called with the record as the
   * sub-topology's source read it (so a processor that gives it must read from sources only);
   * returning `UNORDERED` lets a record run without ordering. A record that fails to deserialize
   * runs without ordering.
   *
   * @default the record's key bytes; a null key is `UNORDERED`
   * @example orderingKey: (record) => record.value.customerId ?? UNORDERED
   */
  orderingKey?: OrderingKey<K, V>
  /**
   * Records started and not finished per task, at most (besides the process-wide
   * `maxInFlightRecords`). An integer, at least 1; several processors of one sub-topology: the
   * smallest applies. It also bounds how far a task reads ahead of a busy key.
   *
   * @default 256 in `key` and `unordered` mode; 1 in `partition` mode
   * @example maxInFlight: 64
   */
  maxInFlight?: number
  /**
   * Retries a failing call of this processor on the same record, after a backoff, before the
   * processing error policy applies (with a `RetryExhaustedError`, code KSTREAMS_RETRY_EXHAUSTED).
   * The record keeps its lane meanwhile: in `key` mode later records of its key wait and other
   * keys go on; in `partition` mode the task waits. A waiting record does not hold commits back,
   * and it stays incomplete, so a restart processes it again. Effects of a failed attempt (store
   * writes, forwards) are not undone. `processingTimeoutMs` applies to each attempt.
   *
   * @default no retries
   * @example retry: { maxAttempts: 5, backoff: { initialMs: 100, maxMs: 5000 } }
   */
  retry?: RetryOptions
  /**
   * `key` mode: **conflation**. When records of a key wait behind a running one, only the newest
   * waits: each older one is skipped (marked done, so it is committed as done and never
   * processed), with an optional `onSuperseded` hook. For keyed latest-value work (prices,
   * positions, device state) where only the newest value matters. `true` is `{}`.
   *
   * @default false
   * @example conflate: { onSuperseded: (record) => skipped.inc() }
   */
  conflate?: boolean | ConflateOptions<K, V>
}

/** How a processor retries a failing call (see `ProcessorOptions.retry`). */
export interface RetryOptions {
  /** Calls in all, the first included; at least 1 (1: no retry). */
  maxAttempts: number
  backoff?: {
    /** Wait before the second attempt. @default 100 */
    initialMs?: number
    /** Longest wait. @default 10000 */
    maxMs?: number
    /** Each wait is the previous one times this. @default 2 */
    multiplier?: number
    /** Share of each wait drawn at random (0–1), so failing keys do not retry in step. @default 0.2 */
    jitter?: number
  }
  /** Which errors are worth retrying. @default every error */
  retryOn?: (error: unknown) => boolean
}

/** `RetryOptions` with every default applied. */
export interface RetryPolicy {
  maxAttempts: number
  initialMs: number
  maxMs: number
  multiplier: number
  jitter: number
  retryOn: (error: unknown) => boolean
}

export interface SinkOptions<K, V, P extends string> {
  parents: readonly [P, ...P[]]
  /** A fixed topic, or a function choosing one per record. */
  topic: string | ((record: Record<K, V>) => string)
  keySerde: Serde<K>
  valueSerde: Serde<V>
  /**
   * Picks the partition from the record and the topic's partition count. Default: Kafka's Java
   * client's choice, `(murmur2(keyBytes) & 0x7fffffff) % partitions` (see `defaultPartition`), so
   * a key lands where Kafka Streams and every Java producer put it and co-partitioning holds;
   * records with a null key are spread by the producer. Give a function to choose otherwise.
   *
   * @example partitioner: (record, partitions) => record.value.region === 'eu' ? 0 : 1 + (record.value.id % (partitions - 1))
   */
  partitioner?: (record: Record<K, V>, partitions: number) => number
}

export interface SourceNode {
  kind: 'source'
  name: string
  topics: readonly string[]
  keySerde: Serde<unknown>
  valueSerde: Serde<unknown>
  timestampExtractor: TimestampExtractor<unknown, unknown> | undefined
}

export interface ProcessorNode {
  kind: 'processor'
  name: string
  supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>
  parents: readonly string[]
  stores: readonly string[]
  /** As declared; the sub-topology's `concurrency` says how it runs. */
  concurrency: ConcurrencyMode | undefined
  orderingKey: OrderingKey<unknown, unknown> | undefined
  maxInFlight: number | undefined
  /** Retries of a failing call; undefined: none. */
  retry: RetryPolicy | undefined
  /** Conflation, as declared; undefined: off. */
  conflate: ConflateOptions<unknown, unknown> | undefined
}

export interface SinkNode {
  kind: 'sink'
  name: string
  parents: readonly string[]
  topic: string | ((record: Record<unknown, unknown>) => string)
  keySerde: Serde<unknown>
  valueSerde: Serde<unknown>
  partitioner: ((record: Record<unknown, unknown>, partitions: number) => number) | undefined
}

export type TopologyNode = SourceNode | ProcessorNode | SinkNode

/**
 * A global store: every instance reads all partitions of `topic` into it before processing starts
 * and keeps it up to date in the background. Its topic is its changelog: the topic's key and value
 * bytes are written to the store as they are, so the store's serdes must be the topic's.
 */
export interface GlobalStoreNode {
  /** The store's name; processors list it in their `stores` option to read it. */
  name: string
  topic: string
  builder: StoreBuilder
}

export interface GlobalStoreOptions {
  /** The topic the store mirrors (all its partitions, on every instance). */
  topic: string
}

/** A connected part of the topology. Tasks are sub-topology × partition. */
export interface Subtopology {
  id: number
  /** Nodes in the order they were added. */
  nodes: readonly TopologyNode[]
  sourceTopics: readonly string[]
  /** Fixed sink topics (dynamic topics are only known per record). */
  sinkTopics: readonly string[]
  stores: readonly string[]
  /** How its tasks run records: the strictest mode its processors declare (`partition` if none). */
  concurrency: SubtopologyConcurrency
}

/**
 * The stores of a topology by name, with their store types (as `addStore` saw them). Type-only:
 * it is what `createQueryClient<typeof topology>` and `app.store(name)` read their types from.
 */
export type StoreTypes = { readonly [name: string]: StateStore }

/** A validated, immutable topology. Build it with `new TopologyBuilder()`. */
export class Topology<Stores extends StoreTypes = StoreTypes> {
  /** Type-only (never set): the store types by name, for typed queries. */
  declare readonly '~stores'?: Stores
  readonly nodes: ReadonlyMap<string, TopologyNode>
  readonly children: ReadonlyMap<string, readonly string[]>
  readonly stores: ReadonlyMap<string, StoreBuilder>
  readonly subtopologies: readonly Subtopology[]
  /** Which sub-topology reads a topic. */
  readonly subtopologyByTopic: ReadonlyMap<string, Subtopology>
  /** Which source node reads a topic. */
  readonly sourceByTopic: ReadonlyMap<string, SourceNode>
  /** Global stores by name (see `TopologyBuilder.addGlobalStore`). */
  readonly globalStores: ReadonlyMap<string, GlobalStoreNode>
  /** Internal topics by the name the topology gives them (e.g. `count-repartition`). */
  readonly internalTopics: ReadonlyMap<string, InternalTopic>
  /** The application the internal topic names were resolved for (see `resolve`); undefined before. */
  readonly applicationId: string | undefined

  /** @internal use TopologyBuilder.build() */
  constructor(
    nodes: Map<string, TopologyNode>,
    stores: Map<string, StoreBuilder>,
    internalTopics: Map<string, InternalTopic> = new Map(),
    applicationId?: string,
    globalStores: Map<string, GlobalStoreNode> = new Map(),
  ) {
    this.nodes = nodes
    this.stores = stores
    this.internalTopics = internalTopics
    this.applicationId = applicationId
    this.globalStores = globalStores
    const children = new Map<string, string[]>()
    for (const node of nodes.values()) {
      children.set(node.name, children.get(node.name) ?? [])
      if (node.kind === 'source') continue
      for (const parent of node.parents) {
        const list = children.get(parent) ?? []
        list.push(node.name)
        children.set(parent, list)
      }
    }
    this.children = children
    const sourceByTopic = new Map<string, SourceNode>()
    for (const node of nodes.values()) {
      if (node.kind === 'source') for (const topic of node.topics) sourceByTopic.set(topic, node)
    }
    this.sourceByTopic = sourceByTopic
    this.subtopologies = splitSubtopologies(nodes, stores)
    const byTopic = new Map<string, Subtopology>()
    for (const subtopology of this.subtopologies) {
      for (const topic of subtopology.sourceTopics) byTopic.set(topic, subtopology)
    }
    this.subtopologyByTopic = byTopic
  }

  /** All topics the topology reads. */
  get sourceTopics(): string[] {
    return [...this.sourceByTopic.keys()]
  }

  /** Readable text and a Mermaid flowchart of the topology. */
  describe(): TopologyDescription {
    return describeTopology(this)
  }

  /**
   * The topology as an application runs it: sources and fixed sinks that name an internal topic
   * read and write `<applicationId>-<name>`. The runtime and the test driver call it; a topology
   * without internal topics is returned as it is.
   */
  resolve(applicationId: string): Topology {
    if (this.applicationId === applicationId || this.internalTopics.size === 0) return this
    if (this.applicationId !== undefined) {
      throw new TopologyError(
        `the topology was resolved for application "${this.applicationId}" and cannot run as "${applicationId}"`,
      )
    }
    const rename = (topic: string) =>
      this.internalTopics.has(topic) ? internalTopicName(applicationId, topic) : topic
    const nodes = new Map<string, TopologyNode>()
    for (const [name, node] of this.nodes) {
      if (node.kind === 'source') nodes.set(name, { ...node, topics: node.topics.map(rename) })
      else if (node.kind === 'sink' && typeof node.topic === 'string')
        nodes.set(name, { ...node, topic: rename(node.topic) })
      else nodes.set(name, node)
    }
    const internal = new Map<string, InternalTopic>()
    for (const [name, topic] of this.internalTopics) {
      internal.set(name, { ...topic, topic: internalTopicName(applicationId, name) })
    }
    return new Topology(nodes, new Map(this.stores), internal, applicationId, new Map(this.globalStores))
  }
}

type NodeTypes = { [name: string]: readonly [unknown, unknown] }

/**
 * Builds a topology of sources, processors, sinks and stores. Types flow through it: a processor
 * must accept what its parents emit, and a sink's serdes must match its parents' output, or the
 * code does not compile.
 *
 * @example
 * const topology = new TopologyBuilder()
 *   .addSource('lines', { topics: ['text'], keySerde: serdes.string(), valueSerde: serdes.string() })
 *   .addProcessor('upper', { parents: ['lines'] }, () => mapValues((line: string) => line.toUpperCase()))
 *   .addSink('out', { topic: 'upper-text', keySerde: serdes.string(), valueSerde: serdes.string(), parents: ['upper'] })
 *   .build()
 */
export class TopologyBuilder<Nodes extends NodeTypes = {}, Stores extends StoreTypes = {}> {
  readonly #nodes = new Map<string, TopologyNode>()
  readonly #stores = new Map<string, StoreBuilder>()
  readonly #storeUsers = new Map<string, string[]>()
  readonly #globalStores = new Map<string, GlobalStoreNode>()
  readonly #internalTopics = new Map<string, InternalTopic>()

  /**
   * Declares an internal topic, which the application creates at start as
   * `<applicationId>-<name>`. Sources and fixed sinks name it by `name`. Kafka Streams' convention:
   * end a repartition topic's name with `-repartition`.
   *
   * @example
   * builder.addInternalTopic('words-repartition', { partitions: { sameAs: ['lines'] } })
   *   .addSink('to-words', { topic: 'words-repartition', … })
   *   .addSource('words', { topics: ['words-repartition'], … })
   */
  addInternalTopic(name: string, options: InternalTopicOptions): this {
    const topic = internalTopic(name, options)
    if (this.#internalTopics.has(name)) {
      throw new TopologyError(`internal topic "${name}" is declared twice`, { context: { topic: name } })
    }
    this.#internalTopics.set(name, topic)
    return this
  }

  addSource<N extends string, K, V>(
    name: N,
    options: SourceOptions<K, V>,
  ): TopologyBuilder<Nodes & { readonly [key in N]: readonly [K, V] }, Stores> {
    this.#checkName(name)
    if (!Array.isArray(options.topics) || options.topics.length === 0) {
      throw new TopologyError(`source "${name}" needs at least one topic in "topics"`, {
        context: { processor: name },
      })
    }
    this.#requireSerde(name, 'keySerde', options.keySerde)
    this.#requireSerde(name, 'valueSerde', options.valueSerde)
    for (const topic of options.topics) {
      this.#checkNotGlobal(topic, `source "${name}"`)
      for (const node of this.#nodes.values()) {
        if (node.kind === 'source' && node.topics.includes(topic)) {
          throw new TopologyError(`topic "${topic}" is read by two sources: "${node.name}" and "${name}"`, {
            context: { topic, processor: name },
          })
        }
      }
    }
    this.#nodes.set(name, {
      kind: 'source',
      name,
      topics: [...options.topics],
      keySerde: options.keySerde as Serde<unknown>,
      valueSerde: options.valueSerde as Serde<unknown>,
      timestampExtractor: options.timestampExtractor as TimestampExtractor<unknown, unknown> | undefined,
    })
    return this as never
  }

  /**
   * Adds a processor that receives what `options.parents` emit. The options come before the
   * supplier so that TypeScript knows the parents' types when it infers the supplier's: a
   * ready-made processor like `mapValues` then gets its key type from the parent.
   */
  addProcessor<N extends string, P extends keyof Nodes & string, KOut, VOut>(
    name: N,
    options: ProcessorOptions<P, Nodes[P][0], Nodes[P][1]>,
    supplier: ProcessorSupplier<Nodes[P][0], Nodes[P][1], KOut, VOut>,
  ): TopologyBuilder<Nodes & { readonly [key in N]: readonly [KOut, VOut] }, Stores> {
    this.#checkName(name)
    if (typeof supplier !== 'function') {
      throw new TopologyError(`processor "${name}" needs a supplier function that returns a new processor`, {
        context: { processor: name },
      })
    }
    const parents = this.#checkParents(name, options?.parents)
    this.#checkConcurrency(name, options, parents)
    const stores = [...(options.stores ?? [])]
    for (const store of stores) {
      const users = this.#storeUsers.get(store) ?? []
      users.push(name)
      this.#storeUsers.set(store, users)
    }
    this.#nodes.set(name, {
      kind: 'processor',
      name,
      supplier: supplier as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      parents,
      stores,
      concurrency: options.concurrency,
      orderingKey: options.orderingKey as OrderingKey<unknown, unknown> | undefined,
      maxInFlight: options.maxInFlight,
      retry: retryPolicy(name, options.retry),
      conflate: conflateOptions(
        name,
        options.conflate as ProcessorOptions<string>['conflate'],
        options.concurrency,
      ),
    })
    return this as never
  }

  /**
   * Adds a processor that handles records in batches: `processBatch` receives up to
   * `batch.maxBatchRecords` records (and `batch.maxBatchBytes`) of one task in offset order,
   * gathered for at most `batch.lingerMs`, optionally grouped (`batch.groupBy`). Batches need
   * several records in flight, so the processor runs in `key` mode (the default: a batch holds at
   * most one record per key, and a key's next record waits for its batch) or `unordered` mode.
   * `processBatch` returns nothing (all done) or one result per entry (`ok`, `retry`, `fail`), so a
   * partial failure retries (with the `retry` option) or fails only those records. Each entry's
   * `forward` runs in that record's scope. Bulk store operations (`getMany`, `putMany`) suit it.
   *
   * @example
   * .addBatchProcessor('enrich', { parents: ['orders'], batch: { maxBatchRecords: 200, lingerMs: 10 }, retry: { maxAttempts: 5 } },
   *   () => ({ processBatch: async (entries) => { const found = await lookup(entries.map((e) => e.record.key)); … } }))
   */
  addBatchProcessor<N extends string, P extends keyof Nodes & string, KOut, VOut>(
    name: N,
    options: Omit<ProcessorOptions<P, Nodes[P][0], Nodes[P][1]>, 'concurrency' | 'conflate'> & {
      /** @default 'key' */
      concurrency?: 'key' | 'unordered'
      batch?: BatchOptions<Nodes[P][0], Nodes[P][1]>
    },
    supplier: BatchProcessorSupplier<Nodes[P][0], Nodes[P][1], KOut, VOut>,
  ): TopologyBuilder<Nodes & { readonly [key in N]: readonly [KOut, VOut] }, Stores> {
    if (typeof supplier !== 'function') {
      throw new TopologyError(
        `batch processor "${name}" needs a supplier function that returns a new batch processor`,
        {
          context: { processor: name },
        },
      )
    }
    const concurrency = options?.concurrency ?? 'key'
    if (concurrency !== 'key' && concurrency !== 'unordered') {
      throw new TopologyError(
        `batch processor "${name}": "concurrency" must be 'key' or 'unordered' (a batch needs several records in flight), got ${JSON.stringify(concurrency)}`,
        { context: { processor: name, option: 'concurrency' } },
      )
    }
    const { batch, ...rest } = options
    const maxBatchRecords = batch?.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS
    const maxInFlight = rest.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    if (typeof maxBatchRecords === 'number' && maxBatchRecords > maxInFlight) {
      throw new TopologyError(
        `batch processor "${name}": "batch.maxBatchRecords" (${maxBatchRecords}) is more than "maxInFlight" (${maxInFlight}), so no batch could fill; lower it or raise maxInFlight`,
        { context: { processor: name, option: 'batch.maxBatchRecords' } },
      )
    }
    const adapted = batchProcessorSupplier(name, batch, supplier)
    return this.addProcessor(
      name,
      { ...rest, concurrency } as ProcessorOptions<P, Nodes[P][0], Nodes[P][1]>,
      adapted as never,
    ) as never
  }

  addSink<N extends string, P extends keyof Nodes & string>(
    name: N,
    options: SinkOptions<Nodes[P][0], Nodes[P][1], P>,
  ): TopologyBuilder<Nodes, Stores> {
    this.#checkName(name)
    const parents = this.#checkParents(name, options?.parents)
    if (typeof options.topic !== 'function' && (typeof options.topic !== 'string' || options.topic === '')) {
      throw new TopologyError(`sink "${name}" needs a "topic": a topic name or a function of the record`, {
        context: { processor: name },
      })
    }
    this.#requireSerde(name, 'keySerde', options.keySerde)
    this.#requireSerde(name, 'valueSerde', options.valueSerde)
    this.#nodes.set(name, {
      kind: 'sink',
      name,
      parents,
      topic: options.topic as SinkNode['topic'],
      keySerde: options.keySerde as Serde<unknown>,
      valueSerde: options.valueSerde as Serde<unknown>,
      partitioner: options.partitioner as SinkNode['partitioner'],
    })
    return this
  }

  /**
   * Adds a store; processors name it in their `stores` option to use it. A builder whose name is a
   * literal type (as `stores.keyValue('counts', …)` gives) records the store's type for queries.
   */
  addStore<S extends StateStore, N extends string>(
    builder: StoreBuilder<S, N>,
  ): TopologyBuilder<Nodes, string extends N ? Stores : Stores & { readonly [key in N]: S }> {
    if (
      !builder ||
      typeof builder.build !== 'function' ||
      typeof builder.name !== 'string' ||
      !builder.name
    ) {
      throw new TopologyError('addStore needs a store builder with a non-empty "name" and a build() function')
    }
    if (this.#stores.has(builder.name) || this.#globalStores.has(builder.name)) {
      throw new TopologyError(`store "${builder.name}" is added twice`, { context: { store: builder.name } })
    }
    this.#stores.set(builder.name, builder as StoreBuilder)
    return this as never
  }

  /**
   * Adds a global store: every instance of the application reads all partitions of
   * `options.topic` into its own copy before it processes a record (`start()` waits for it), and
   * keeps it up to date in the background, without a consumer group. Processors read it by listing
   * its name in their `stores` option, from any sub-topology; it is read-only for them (a write throws
   * a StoreError). The topic
   * is its changelog (so `logging` must be off): its key and value bytes go into the store as they
   * are, so the store's serdes must be the topic's; a record with a null value deletes its key. A
   * persistent backend checkpoints the offsets it holds and resumes from them.
   *
   * @example
   * builder.addGlobalStore(stores.keyValue('products', { keySerde: serdes.string(), valueSerde: productSerde, logging: false }), { topic: 'products' })
   */
  addGlobalStore(builder: StoreBuilder, options: GlobalStoreOptions): this {
    this.addStore(builder)
    this.#stores.delete(builder.name)
    const topic = options?.topic
    if (typeof topic !== 'string' || topic === '') {
      throw new TopologyError(`global store "${builder.name}" needs a "topic" to read`, {
        context: { store: builder.name, option: 'topic' },
      })
    }
    if (builder.logging !== false) {
      throw new TopologyError(
        `global store "${builder.name}" must have logging off (logging: false): its topic "${topic}" is its changelog`,
        { context: { store: builder.name, topic, option: 'logging' } },
      )
    }
    this.#checkNotGlobal(topic, `global store "${builder.name}"`)
    for (const node of this.#nodes.values()) {
      if (node.kind === 'source' && node.topics.includes(topic)) {
        throw new TopologyError(
          `topic "${topic}" is read by source "${node.name}" and by global store "${builder.name}"; a topic is either partitioned input or a global store's`,
          { context: { topic, store: builder.name } },
        )
      }
    }
    this.#globalStores.set(builder.name, { name: builder.name, topic, builder })
    return this
  }

  /** Validates the whole graph and returns the immutable topology. */
  build(): Topology<Stores> {
    if (![...this.#nodes.values()].some((node) => node.kind === 'source')) {
      throw new TopologyError('a topology needs at least one source (addSource)')
    }
    for (const [store, users] of this.#storeUsers) {
      if (!this.#stores.has(store) && !this.#globalStores.has(store)) {
        throw new TopologyError(
          `processor "${users[0]}" uses store "${store}", which was never added (call addStore first)`,
          { context: { store, processor: users[0] } },
        )
      }
    }
    // Parents must be added before children, so the graph cannot have a cycle; checked here anyway
    // because it is the contract, not an accident of the API.
    assertAcyclic(this.#nodes)
    return new Topology<Stores>(
      new Map(this.#nodes),
      new Map(this.#stores),
      new Map(this.#internalTopics),
      undefined,
      new Map(this.#globalStores),
    )
  }

  #checkNotGlobal(topic: string, reader: string): void {
    for (const global of this.#globalStores.values()) {
      if (global.topic === topic) {
        throw new TopologyError(
          `topic "${topic}" is read by global store "${global.name}" and by ${reader}; a topic is either partitioned input or a global store's`,
          { context: { topic, store: global.name } },
        )
      }
    }
  }

  #checkName(name: string): void {
    if (typeof name !== 'string' || name === '') throw new TopologyError('every node needs a non-empty name')
    if (this.#nodes.has(name)) {
      throw new TopologyError(`node name "${name}" is used twice; names must be unique`, {
        context: { processor: name },
      })
    }
  }

  #checkParents(name: string, parents: readonly string[] | undefined): string[] {
    if (!Array.isArray(parents) || parents.length === 0) {
      throw new TopologyError(`node "${name}" needs at least one parent in "parents"`, {
        context: { processor: name },
      })
    }
    for (const parent of parents) {
      const node = this.#nodes.get(parent)
      if (!node) {
        const known = [...this.#nodes.keys()].join(', ') || 'none yet'
        throw new TopologyError(`node "${name}" has unknown parent "${parent}" (known nodes: ${known})`, {
          context: { processor: name },
        })
      }
      if (node.kind === 'sink') {
        throw new TopologyError(
          `node "${name}" cannot have sink "${parent}" as a parent: sinks have no children`,
          {
            context: { processor: name },
          },
        )
      }
    }
    return [...parents]
  }

  #checkConcurrency(
    name: string,
    options: { concurrency?: unknown; orderingKey?: unknown; maxInFlight?: unknown },
    parents: readonly string[],
  ): void {
    const { concurrency, orderingKey, maxInFlight } = options
    const context = { processor: name }
    if (concurrency !== undefined && !MODE_ORDER.includes(concurrency as ConcurrencyMode)) {
      throw new TopologyError(
        `processor "${name}": "concurrency" must be 'partition', 'key' or 'unordered', got ${JSON.stringify(concurrency)}`,
        { context: { ...context, option: 'concurrency' } },
      )
    }
    if (maxInFlight !== undefined) {
      if (!Number.isInteger(maxInFlight) || (maxInFlight as number) < 1) {
        throw new TopologyError(
          `processor "${name}": "maxInFlight" must be an integer of at least 1, got ${String(maxInFlight)}`,
          { context: { ...context, option: 'maxInFlight' } },
        )
      }
      if ((concurrency ?? 'partition') === 'partition' && maxInFlight !== 1) {
        throw new TopologyError(
          `processor "${name}": "maxInFlight" ${maxInFlight} needs concurrency 'key' or 'unordered' (partition mode runs one record at a time per task)`,
          { context: { ...context, option: 'maxInFlight' } },
        )
      }
    }
    if (orderingKey === undefined) return
    if (typeof orderingKey !== 'function') {
      throw new TopologyError(`processor "${name}": "orderingKey" must be a function of the record`, {
        context: { ...context, option: 'orderingKey' },
      })
    }
    if (concurrency !== 'key') {
      throw new TopologyError(`processor "${name}": "orderingKey" needs concurrency: 'key'`, {
        context: { ...context, option: 'orderingKey' },
      })
    }
    const notSource = parents.find((parent) => this.#nodes.get(parent)?.kind !== 'source')
    if (notSource !== undefined) {
      throw new TopologyError(
        `processor "${name}": "orderingKey" is called with the record as its source read it, before any processor, so a processor that gives one must read from sources only ("${notSource}" is not a source)`,
        { context: { ...context, option: 'orderingKey' } },
      )
    }
  }

  #requireSerde(name: string, option: string, serde: unknown): void {
    const candidate = serde as { serialize?: unknown; deserialize?: unknown } | undefined
    if (typeof candidate?.serialize !== 'function' || typeof candidate?.deserialize !== 'function') {
      throw new TopologyError(
        `node "${name}" is missing "${option}": pass a serde with serialize() and deserialize(), e.g. serdes.string()`,
        { context: { processor: name, option } },
      )
    }
  }
}

const MODE_ORDER: readonly ConcurrencyMode[] = ['partition', 'key', 'unordered']

/** The strictest mode the processors declare, with its limit and ordering key. */
function resolveConcurrency(group: readonly TopologyNode[], id: number): SubtopologyConcurrency {
  const processors = group.filter((node): node is ProcessorNode => node.kind === 'processor')
  const declared = processors.filter((node) => node.concurrency !== undefined)
  if (declared.length === 0) return { mode: 'partition', orderingKey: undefined, maxInFlight: 1 }
  const mode = MODE_ORDER[Math.min(...declared.map((node) => MODE_ORDER.indexOf(node.concurrency!)))]!
  const conflating = processors.filter((node) => node.conflate !== undefined)
  if (mode !== 'key' && conflating.length > 0) {
    throw new TopologyError(
      `processor "${conflating[0]!.name}": "conflate" needs the sub-topology in 'key' mode, and it runs in '${mode}' mode`,
      { context: { processor: conflating[0]!.name, option: 'conflate' } },
    )
  }
  if (mode === 'partition') return { mode, orderingKey: undefined, maxInFlight: 1 }
  const limits = processors.flatMap((node) => (node.maxInFlight === undefined ? [] : [node.maxInFlight]))
  const maxInFlight = limits.length > 0 ? Math.min(...limits) : DEFAULT_MAX_IN_FLIGHT
  let orderingKey: OrderingKey<unknown, unknown> | undefined
  if (mode === 'key') {
    const keyed = processors.filter((node) => node.orderingKey !== undefined)
    const functions = new Set(keyed.map((node) => node.orderingKey))
    if (functions.size > 1) {
      throw new TopologyError(
        `sub-topology ${id} has one ordering per task, but processors ${keyed.map((node) => `"${node.name}"`).join(', ')} give different "orderingKey" functions; give the same function (or one) to all of them`,
        { context: { processor: keyed[1]!.name, option: 'orderingKey' } },
      )
    }
    orderingKey = keyed[0]?.orderingKey
  }
  if (conflating.length > 1) {
    throw new TopologyError(
      `sub-topology ${id} conflates per task, but processors ${conflating.map((node) => `"${node.name}"`).join(', ')} each give "conflate"; give it on one of them`,
      { context: { processor: conflating[1]!.name, option: 'conflate' } },
    )
  }
  const conflate = conflating[0]?.conflate
  return { mode, orderingKey, maxInFlight, ...(conflate ? { conflate } : {}) }
}

/** Checks a processor's `conflate` option. */
function conflateOptions(
  processor: string,
  conflate: boolean | ConflateOptions<unknown, unknown> | undefined,
  concurrency: ConcurrencyMode | undefined,
): ConflateOptions<unknown, unknown> | undefined {
  if (conflate === undefined || conflate === false) return undefined
  const context = { processor, option: 'conflate' }
  if (concurrency !== 'key') {
    throw new TopologyError(`processor "${processor}": "conflate" needs concurrency: 'key'`, { context })
  }
  if (conflate === true) return {}
  if (typeof conflate !== 'object' || conflate === null) {
    throw new TopologyError(`processor "${processor}": "conflate" must be true or { onSuperseded }`, {
      context,
    })
  }
  if (conflate.onSuperseded !== undefined && typeof conflate.onSuperseded !== 'function') {
    throw new TopologyError(`processor "${processor}": "conflate.onSuperseded" must be a function`, {
      context,
    })
  }
  return conflate
}

function assertAcyclic(nodes: Map<string, TopologyNode>): void {
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (name: string, path: string[]): void => {
    const seen = state.get(name)
    if (seen === 'done') return
    if (seen === 'visiting') {
      throw new TopologyError(`the topology has a cycle: ${[...path, name].join(' -> ')}`, {
        context: { processor: name },
      })
    }
    state.set(name, 'visiting')
    const node = nodes.get(name)
    if (node && node.kind !== 'source') for (const parent of node.parents) visit(parent, [...path, name])
    state.set(name, 'done')
  }
  for (const name of nodes.keys()) visit(name, [])
}

function splitSubtopologies(
  nodes: Map<string, TopologyNode>,
  stores: Map<string, StoreBuilder>,
): Subtopology[] {
  // Union-find over nodes: parent links and shared stores connect nodes into one sub-topology.
  const root = new Map<string, string>()
  const find = (name: string): string => {
    let current = name
    while (root.get(current) !== current) current = root.get(current)!
    root.set(name, current)
    return current
  }
  const union = (a: string, b: string) => root.set(find(a), find(b))
  for (const name of nodes.keys()) root.set(name, name)
  const storeOwner = new Map<string, string>()
  for (const node of nodes.values()) {
    if (node.kind === 'source') continue
    for (const parent of node.parents) union(node.name, parent)
    if (node.kind === 'processor') {
      for (const store of node.stores) {
        if (!stores.has(store)) continue
        const owner = storeOwner.get(store)
        if (owner) union(node.name, owner)
        else storeOwner.set(store, node.name)
      }
    }
  }
  const groups = new Map<string, TopologyNode[]>()
  for (const node of nodes.values()) {
    const key = find(node.name)
    const group = groups.get(key) ?? []
    group.push(node)
    groups.set(key, group)
  }
  return [...groups.values()].map((group, id) => ({
    id,
    nodes: group,
    sourceTopics: group.flatMap((node) => (node.kind === 'source' ? node.topics : [])),
    sinkTopics: group.flatMap((node) =>
      node.kind === 'sink' && typeof node.topic === 'string' ? [node.topic] : [],
    ),
    stores: [...stores.keys()].filter((store) =>
      group.some((node) => node.kind === 'processor' && node.stores.includes(store)),
    ),
    concurrency: resolveConcurrency(group, id),
  }))
}

/** Checks a processor's `retry` option and fills in the defaults. */
function retryPolicy(processor: string, retry: RetryOptions | undefined): RetryPolicy | undefined {
  if (retry === undefined) return undefined
  const fail = (message: string, option: string): never => {
    throw new TopologyError(`processor "${processor}": ${message}`, { context: { processor, option } })
  }
  if (typeof retry !== 'object' || retry === null)
    fail('"retry" must be an object like { maxAttempts: 5 }', 'retry')
  const { maxAttempts, backoff = {}, retryOn } = retry
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    fail(
      `"retry.maxAttempts" must be an integer of at least 1, got ${String(maxAttempts)}`,
      'retry.maxAttempts',
    )
  }
  const number = (
    name: keyof NonNullable<RetryOptions['backoff']>,
    fallback: number,
    min: number,
    max: number,
  ) => {
    const value = backoff[name] ?? fallback
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      fail(
        `"retry.backoff.${name}" must be a number from ${min} to ${max}, got ${String(value)}`,
        `retry.backoff.${name}`,
      )
    }
    return value
  }
  const initialMs = number('initialMs', 100, 0, 86_400_000)
  const maxMs = number('maxMs', Math.max(10_000, initialMs), initialMs, 86_400_000)
  const multiplier = number('multiplier', 2, 1, 1000)
  const jitter = number('jitter', 0.2, 0, 1)
  if (retryOn !== undefined && typeof retryOn !== 'function')
    fail('"retry.retryOn" must be a function of the error', 'retry.retryOn')
  return { maxAttempts, initialMs, maxMs, multiplier, jitter, retryOn: retryOn ?? (() => true) }
}

/** The wait before attempt `attempt + 1` (attempt ≥ 1), with jitter from `random` (0–1). */
export function retryDelay(policy: RetryPolicy, attempt: number, random: number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** (attempt - 1))
  return Math.round(base * (1 - policy.jitter + policy.jitter * random))
}
