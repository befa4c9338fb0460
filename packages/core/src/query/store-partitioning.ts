// Which partition (and so which task) holds a key of a store: the partition its input record was
// written to. A store's task is its sub-topology × partition, so a key lives in the partition the
// writer of the sub-topology's source topic chose: a sink of this topology when it writes that
// topic (a repartition topic, with the sink's partitioner if it has one), else Kafka's default
// partitioner, which every kstreams sink and Java producer use. Like Kafka Streams, this assumes
// the store is keyed like its input (the key bytes the store's key serde makes are the record's).
import { ConfigError, QueryError } from '../errors.js'
import { defaultPartition } from '../kafka/partitioner.js'
import type { Record } from '../record.js'
import type { StoreQueryInfo } from '../state-store.js'
import type { Subtopology, Topology } from '../topology.js'

/** What queries know about one store of a topology. */
export interface QueryableStore {
  name: string
  info: StoreQueryInfo
  subtopology: Subtopology
  /** The topic whose partition count is the store's (the sub-topology's first source topic). */
  topic: string
  /** The sink partitioner that writes `topic`, when this topology writes it with one of its own. */
  partitioner: ((record: Record<unknown, unknown>, partitions: number) => number) | undefined
}

/** Stores a topology has that queries cannot read (their builders give no `query` info). */
const unqueryable = new WeakMap<ReadonlyMap<string, QueryableStore>, ReadonlySet<string>>()

/** The queryable stores of a topology by name. */
export function queryableStores(topology: Topology): Map<string, QueryableStore> {
  const found = new Map<string, QueryableStore>()
  unqueryable.set(
    found,
    new Set([...topology.stores].filter(([, builder]) => !builder.query).map(([name]) => name)),
  )
  for (const [name, builder] of topology.stores) {
    const subtopology = topology.subtopologies.find((candidate) => candidate.stores.includes(name))
    if (!builder.query || !subtopology) continue
    const topic = subtopology.sourceTopics[0]!
    let partitioner: QueryableStore['partitioner']
    for (const node of topology.nodes.values()) {
      if (node.kind === 'sink' && node.topic === topic && node.partitioner) partitioner = node.partitioner
    }
    found.set(name, { name, info: builder.query, subtopology, topic, partitioner })
  }
  return found
}

/** The store `name`, or a QueryError naming the stores there are. */
export function requireStore(stores: ReadonlyMap<string, QueryableStore>, name: string): QueryableStore {
  const store = stores.get(name)
  if (store) return store
  if (unqueryable.get(stores)?.has(name)) {
    throw new QueryError(
      `store "${name}" cannot be queried: its builder gives no "query" info (kind and serdes); build it with stores.keyValue, stores.window or stores.session, or add "query" to the builder`,
      { context: { store: name, status: 404 } },
    )
  }
  const known = [...stores.keys()].map((known) => `"${known}"`).join(', ') || 'none'
  throw new QueryError(`unknown store "${name}" (queryable stores: ${known})`, {
    context: { store: name, status: 404 },
  })
}

/** The key's bytes by the store's key serde; a QueryError (400) when the key does not serialize. */
export function keyBytes(store: QueryableStore, key: unknown): Uint8Array {
  let bytes: Uint8Array | null
  try {
    bytes = store.info.keySerde.serialize(key, { topic: store.topic, target: 'key', headers: [] })
  } catch (cause) {
    throw new QueryError(
      `store "${store.name}": the key ${describe(key)} does not fit the store's key serde: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, context: { store: store.name, status: 400 } },
    )
  }
  if (bytes === null) {
    throw new QueryError(`store "${store.name}": the key serialized to null; store keys need bytes`, {
      context: { store: store.name, status: 400 },
    })
  }
  return bytes
}

/** The partition of `key` in a store whose input topic has `partitions` partitions. */
export function partitionOf(store: QueryableStore, key: unknown, partitions: number): number {
  const bytes = keyBytes(store, key)
  if (!store.partitioner) return defaultPartition(bytes, partitions)
  const record: Record<unknown, unknown> = {
    key,
    value: undefined,
    timestamp: 0,
    headers: [],
    topic: store.topic,
    partition: -1,
    offset: -1n,
  }
  const partition = store.partitioner(record, partitions)
  if (!Number.isInteger(partition) || partition < 0 || partition >= partitions) {
    throw new ConfigError(
      `the partitioner of the sink writing "${store.topic}" returned ${String(partition)} for a key of store "${store.name}" (the value is undefined in a query); it must return 0 to ${partitions - 1}`,
      { context: { store: store.name, topic: store.topic, option: 'partitioner' } },
    )
  }
  return partition
}

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, inner) => (typeof inner === 'bigint' ? `${inner}n` : inner))
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text
  } catch {
    return typeof value
  }
}
