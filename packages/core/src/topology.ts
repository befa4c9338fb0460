import { TopologyError } from './errors.js'
import type { ProcessorSupplier } from './processor.js'
import type { Record } from './record.js'
import type { Serde } from './serde.js'
import type { StoreBuilder } from './state-store.js'
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

export interface ProcessorOptions<P extends string> {
  /** Nodes whose output this processor receives. At least one. */
  parents: readonly [P, ...P[]]
  /** Names of stores (added with `addStore`) this processor may use. @default [] */
  stores?: readonly string[]
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

/** A connected part of the topology. Tasks are sub-topology × partition. */
export interface Subtopology {
  id: number
  /** Nodes in the order they were added. */
  nodes: readonly TopologyNode[]
  sourceTopics: readonly string[]
  /** Fixed sink topics (dynamic topics are only known per record). */
  sinkTopics: readonly string[]
  stores: readonly string[]
}

/** A validated, immutable topology. Build it with `new TopologyBuilder()`. */
export class Topology {
  readonly nodes: ReadonlyMap<string, TopologyNode>
  readonly children: ReadonlyMap<string, readonly string[]>
  readonly stores: ReadonlyMap<string, StoreBuilder>
  readonly subtopologies: readonly Subtopology[]
  /** Which sub-topology reads a topic. */
  readonly subtopologyByTopic: ReadonlyMap<string, Subtopology>
  /** Which source node reads a topic. */
  readonly sourceByTopic: ReadonlyMap<string, SourceNode>

  /** @internal use TopologyBuilder.build() */
  constructor(nodes: Map<string, TopologyNode>, stores: Map<string, StoreBuilder>) {
    this.nodes = nodes
    this.stores = stores
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
export class TopologyBuilder<Nodes extends NodeTypes = {}> {
  readonly #nodes = new Map<string, TopologyNode>()
  readonly #stores = new Map<string, StoreBuilder>()
  readonly #storeUsers = new Map<string, string[]>()

  addSource<N extends string, K, V>(
    name: N,
    options: SourceOptions<K, V>,
  ): TopologyBuilder<Nodes & { readonly [key in N]: readonly [K, V] }> {
    this.#checkName(name)
    if (!Array.isArray(options.topics) || options.topics.length === 0) {
      throw new TopologyError(`source "${name}" needs at least one topic in "topics"`, {
        context: { processor: name },
      })
    }
    this.#requireSerde(name, 'keySerde', options.keySerde)
    this.#requireSerde(name, 'valueSerde', options.valueSerde)
    for (const topic of options.topics) {
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
    options: ProcessorOptions<P>,
    supplier: ProcessorSupplier<Nodes[P][0], Nodes[P][1], KOut, VOut>,
  ): TopologyBuilder<Nodes & { readonly [key in N]: readonly [KOut, VOut] }> {
    this.#checkName(name)
    if (typeof supplier !== 'function') {
      throw new TopologyError(`processor "${name}" needs a supplier function that returns a new processor`, {
        context: { processor: name },
      })
    }
    const parents = this.#checkParents(name, options?.parents)
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
    })
    return this as never
  }

  addSink<N extends string, P extends keyof Nodes & string>(
    name: N,
    options: SinkOptions<Nodes[P][0], Nodes[P][1], P>,
  ): TopologyBuilder<Nodes> {
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

  /** Adds a store; processors name it in their `stores` option to use it. */
  addStore(builder: StoreBuilder): this {
    if (
      !builder ||
      typeof builder.build !== 'function' ||
      typeof builder.name !== 'string' ||
      !builder.name
    ) {
      throw new TopologyError('addStore needs a store builder with a non-empty "name" and a build() function')
    }
    if (this.#stores.has(builder.name)) {
      throw new TopologyError(`store "${builder.name}" is added twice`, { context: { store: builder.name } })
    }
    this.#stores.set(builder.name, builder)
    return this
  }

  /** Validates the whole graph and returns the immutable topology. */
  build(): Topology {
    if (![...this.#nodes.values()].some((node) => node.kind === 'source')) {
      throw new TopologyError('a topology needs at least one source (addSource)')
    }
    for (const [store, users] of this.#storeUsers) {
      if (!this.#stores.has(store)) {
        throw new TopologyError(
          `processor "${users[0]}" uses store "${store}", which was never added (call addStore first)`,
          { context: { store, processor: users[0] } },
        )
      }
    }
    // Parents must be added before children, so the graph cannot have a cycle; checked here anyway
    // because it is the contract, not an accident of the API.
    assertAcyclic(this.#nodes)
    return new Topology(new Map(this.#nodes), new Map(this.#stores))
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
  }))
}
