// Read-only views of a store across the tasks this instance owns (`app.store(name)`). Each call
// looks the tasks up again, so a view follows rebalances. A key is read from the one task that
// holds its partition; scans read every local task of the store and merge by key bytes (the order
// the stores keep), so a view reads like one store.
//
// Consistency: a read sees the store as this instance's processing left it at that moment,
// through the task's record cache: every committed write and newer ones not yet committed
// (committed-or-newer, at-least-once). Each write of a store is seen whole. A store that is
// restoring is not read (a half-applied restore is neither committed nor current) unless the
// caller passes `allowRestoring: true`.
import { QueryError, StoreError } from '../errors.js'
import type { RestoreProgress } from '../runtime/state-restorer.js'
import type { Serde } from '../serde.js'
import type { KeyValue, KeyValueStore, ScanOptions } from '../state/key-value-store.js'
import type { StateStore } from '../state-store.js'
import type { Topology } from '../topology.js'
import type { WindowedEntry, WindowStore } from '../windows/window-store.js'
import {
  keyBytes,
  partitionOf,
  type QueryableStore,
  queryableStores,
  requireStore,
} from './store-partitioning.js'
import { toHex } from './wire-json.js'

/** A task of this instance, as queries see it. */
export interface LocalTask {
  readonly id: string
  readonly partition: number
  readonly subtopologyId: number
  getStore<S extends StateStore>(name: string): S | undefined
  /** Undefined once its stores are restored. */
  restoring(): RestoreProgress | undefined
}

/** What the application gives the local views. */
export interface LocalStoreHost {
  readonly topology: Topology
  tasks(): LocalTask[]
  /** Partition count of a topic (the store's input). */
  partitionCount(topic: string): Promise<number>
}

export interface ReadOptions {
  /**
   * Read a store that is still restoring from its changelog (its state is partial until the
   * restore ends). Without it such a read fails with a retriable `KSTREAMS_STORE` error.
   * @default false
   */
  allowRestoring?: boolean
}

/** A read-only key-value store across this instance's tasks. */
export interface ReadOnlyKeyValueView<K, V> {
  readonly name: string
  readonly kind: 'key-value'
  /** The value of `key` if this instance holds its partition (undefined: missing or held elsewhere). */
  get(key: K): Promise<V | undefined>
  getMany(keys: readonly K[]): Promise<Array<V | undefined>>
  /** Local entries with `from <= key <= to`, in key byte order. */
  range(from: K, to: K, options?: ScanOptions): AsyncIterableIterator<KeyValue<K, V>>
  /** Local entries whose serialized key starts with the serialized `prefix`, in key byte order. */
  prefixScan<P>(prefix: P, prefixSerde: Serde<P>): AsyncIterableIterator<KeyValue<K, V>>
  /** Every local entry, in key byte order. */
  all(): AsyncIterableIterator<KeyValue<K, V>>
  /** Keys in this instance's tasks of the store. */
  approximateCount(): Promise<number>
}

/** A read-only window store across this instance's tasks. */
export interface ReadOnlyWindowView<K, V> {
  readonly name: string
  readonly kind: 'window'
  /** Windows of `key` whose start is in `[from, to]`, in start order. */
  fetch(key: K, from: number, to: number): AsyncIterableIterator<WindowedEntry<K, V>>
  /** Local windows of every key whose start is in `[from, to]`, by key bytes then start. */
  fetchAll(from: number, to: number): AsyncIterableIterator<WindowedEntry<K, V>>
}

/** A read-only session store across this instance's tasks. */
export interface ReadOnlySessionView<K, V> {
  readonly name: string
  readonly kind: 'session'
  /** Every session of `key`, in start order. */
  fetch(key: K): AsyncIterableIterator<WindowedEntry<K, V>>
}

export type ReadOnlyStoreView<K = unknown, V = unknown> =
  | ReadOnlyKeyValueView<K, V>
  | ReadOnlyWindowView<K, V>
  | ReadOnlySessionView<K, V>

/** An entry with its key bytes (hex), the order scans merge and pages continue by. */
export interface OrderedEntry<T> {
  order: string
  keyBytes: Uint8Array
  entry: T
}

/** The store types a topology declares, read through local views. */
export class LocalStores {
  readonly stores: ReadonlyMap<string, QueryableStore>
  readonly #host: LocalStoreHost

  constructor(host: LocalStoreHost) {
    this.#host = host
    this.stores = queryableStores(host.topology)
  }

  store(name: string): QueryableStore {
    return requireStore(this.stores, name)
  }

  /** The partition of `key` in store `name`. */
  async partitionOf(name: string, key: unknown): Promise<number> {
    const store = this.store(name)
    return partitionOf(store, key, await this.#host.partitionCount(store.topic))
  }

  /** This instance's task of the store's partition, checked for restore; undefined: not here. */
  taskOf(store: QueryableStore, partition: number, options: ReadOptions = {}): LocalTask | undefined {
    const task = this.#host
      .tasks()
      .find(
        (candidate) => candidate.subtopologyId === store.subtopology.id && candidate.partition === partition,
      )
    if (task) this.#checkRestored(store, task, options)
    return task
  }

  /** Every local task of the store, each checked for restore, in partition order. */
  tasksOf(store: QueryableStore, options: ReadOptions = {}): LocalTask[] {
    const tasks = this.#host
      .tasks()
      .filter((task) => task.subtopologyId === store.subtopology.id)
      .sort((left, right) => left.partition - right.partition)
    for (const task of tasks) this.#checkRestored(store, task, options)
    return tasks
  }

  /** Reads one key from its task here; `owned: false` when another instance holds its partition. */
  async get(
    name: string,
    key: unknown,
    options: ReadOptions = {},
  ): Promise<{ owned: boolean; partition: number; value?: unknown }> {
    const store = this.store(name)
    if (store.info.kind !== 'key-value') throw wrongKind(store, 'get')
    const partition = await this.partitionOf(name, key)
    const task = this.taskOf(store, partition, options)
    if (!task) return { owned: false, partition }
    const value = await task.getStore<KeyValueStore<unknown, unknown>>(name)!.get(key)
    return { owned: true, partition, value }
  }

  /** Raw value bytes of a key, by the store's value serde. */
  valueBytes(store: QueryableStore, value: unknown): Uint8Array {
    const bytes = store.info.valueSerde.serialize(value, { topic: store.topic, target: 'value', headers: [] })
    return bytes ?? new Uint8Array(0)
  }

  /** Local key-value entries in key byte order, each with its key bytes; `scan` picks the range. */
  scanKeyValue(
    name: string,
    scan: (store: KeyValueStore<unknown, unknown>) => AsyncIterableIterator<KeyValue<unknown, unknown>>,
    options: ReadOptions = {},
  ): AsyncGenerator<OrderedEntry<KeyValue<unknown, unknown>>> {
    const store = this.store(name)
    if (store.info.kind !== 'key-value') throw wrongKind(store, 'a key-value scan')
    const sources = this.tasksOf(store, options).map((task) =>
      ordered(scan(task.getStore<KeyValueStore<unknown, unknown>>(name)!), (entry) =>
        keyBytes(store, entry.key),
      ),
    )
    return mergeOrdered(sources, (left, right) => compareStrings(left.order, right.order))
  }

  /** Local windows in key byte order, then start; `scan` picks them. */
  scanWindows(
    name: string,
    scan: (store: WindowStore<unknown, unknown>) => AsyncIterableIterator<WindowedEntry<unknown, unknown>>,
    options: ReadOptions = {},
  ): AsyncGenerator<OrderedEntry<WindowedEntry<unknown, unknown>>> {
    const store = this.store(name)
    if (store.info.kind === 'key-value') throw wrongKind(store, 'a window scan')
    const sources = this.tasksOf(store, options).map((task) =>
      ordered(
        scan(task.getStore<WindowStore<unknown, unknown>>(name)!),
        (entry) => keyBytes(store, entry.key),
        windowOrder,
      ),
    )
    return mergeOrdered(
      sources,
      (left, right) =>
        compareStrings(left.order, right.order) || left.entry.window.start - right.entry.window.start,
    )
  }

  /** Windows of one key from its task here; undefined when another instance holds it. */
  async fetchKey(
    name: string,
    key: unknown,
    scan: (store: WindowStore<unknown, unknown>) => AsyncIterableIterator<WindowedEntry<unknown, unknown>>,
    options: ReadOptions = {},
  ): Promise<AsyncIterableIterator<WindowedEntry<unknown, unknown>> | undefined> {
    const store = this.store(name)
    if (store.info.kind === 'key-value') throw wrongKind(store, 'fetch')
    const task = this.taskOf(store, await this.partitionOf(name, key), options)
    return task ? scan(task.getStore<WindowStore<unknown, unknown>>(name)!) : undefined
  }

  /** The view `app.store(name)` returns. */
  view(name: string, options: ReadOptions = {}): ReadOnlyStoreView {
    const store = this.store(name)
    if (store.info.kind === 'key-value') return this.#keyValueView(store, options)
    if (store.info.kind === 'window') {
      return {
        name,
        kind: 'window',
        fetch: (key, from, to) =>
          this.#lazy(() => this.fetchKey(name, key, (inner) => inner.fetch(key, from, to), options)),
        fetchAll: (from, to) => unwrap(this.scanWindows(name, (inner) => inner.fetchAll(from, to), options)),
      }
    }
    return {
      name,
      kind: 'session',
      fetch: (key) =>
        this.#lazy(() =>
          this.fetchKey(
            name,
            key,
            (inner) => inner.fetch(key, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
            options,
          ),
        ),
    }
  }

  #keyValueView(store: QueryableStore, options: ReadOptions): ReadOnlyKeyValueView<unknown, unknown> {
    const { name } = store
    return {
      name,
      kind: 'key-value',
      get: async (key) => (await this.get(name, key, options)).value,
      getMany: (keys) => Promise.all(keys.map(async (key) => (await this.get(name, key, options)).value)),
      range: (from, to, scanOptions) => {
        if (scanOptions?.reverse)
          throw new QueryError(`store "${name}": a view across tasks scans forward only`)
        return unwrap(this.scanKeyValue(name, (inner) => inner.range(from, to), options))
      },
      prefixScan: (prefix, prefixSerde) =>
        unwrap(this.scanKeyValue(name, (inner) => inner.prefixScan(prefix, prefixSerde), options)),
      all: () => unwrap(this.scanKeyValue(name, (inner) => inner.all(), options)),
      approximateCount: async () => {
        let count = 0
        for (const task of this.tasksOf(store, options)) {
          count += await task.getStore<KeyValueStore<unknown, unknown>>(name)!.approximateCount()
        }
        return count
      },
    }
  }

  async *#lazy<T>(open: () => Promise<AsyncIterableIterator<T> | undefined>): AsyncIterableIterator<T> {
    const inner = await open()
    if (inner) yield* inner
  }

  #checkRestored(store: QueryableStore, task: LocalTask, options: ReadOptions): void {
    const progress = task.restoring()
    if (!progress || options.allowRestoring) return
    const where = progress.started
      ? progress.endOffset === undefined
        ? 'starting'
        : `store "${progress.store}" at changelog offset ${progress.position} of ${progress.endOffset} (from ${progress.startOffset}), ${progress.storesDone} of ${progress.storesTotal} store(s) of the task done`
      : 'waiting for the restores of other tasks to end'
    throw new StoreError(
      `store "${store.name}" of task ${task.id} is restoring from its changelog (${where}); retry later, or read with { allowRestoring: true } to see its partial state`,
      {
        retriable: true,
        context: {
          store: store.name,
          taskId: task.id,
          partition: task.partition,
          restoring: true,
          ...(progress.position === undefined ? {} : { position: progress.position }),
          ...(progress.endOffset === undefined ? {} : { endOffset: progress.endOffset }),
        },
      },
    )
  }
}

function wrongKind(store: QueryableStore, operation: string): QueryError {
  return new QueryError(
    `store "${store.name}" is a ${store.info.kind} store; ${operation} does not apply to it`,
    {
      context: { store: store.name, status: 400 },
    },
  )
}

async function* ordered<T>(
  source: AsyncIterableIterator<T>,
  bytesOf: (entry: T) => Uint8Array,
  orderOf: (bytes: Uint8Array) => string = toHex,
): AsyncGenerator<OrderedEntry<T>> {
  for await (const entry of source) {
    const bytes = bytesOf(entry)
    yield { order: orderOf(bytes), keyBytes: bytes, entry }
  }
}

/**
 * The order of windows across keys: window stores keep them by key length, then key bytes, then
 * start (their data keys begin with the key's length), so scans merge and page in that order.
 */
export function windowOrder(keyBytes: Uint8Array): string {
  return keyBytes.byteLength.toString(16).padStart(8, '0') + toHex(keyBytes)
}

async function* unwrap<T>(source: AsyncGenerator<OrderedEntry<T>>): AsyncIterableIterator<T> {
  for await (const { entry } of source) yield entry as T
}

export function compareStrings(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0
}

/** Merges sorted async sources into one sorted stream; each source is read one entry ahead. */
export async function* mergeOrdered<T>(
  sources: ReadonlyArray<AsyncIterator<T>>,
  compare: (left: T, right: T) => number,
): AsyncGenerator<T> {
  const heads: Array<{ source: AsyncIterator<T>; value: T }> = []
  try {
    for (const source of sources) {
      const next = await source.next()
      if (!next.done) heads.push({ source, value: next.value })
    }
    while (heads.length > 0) {
      let smallest = 0
      for (let index = 1; index < heads.length; index += 1) {
        if (compare(heads[index]!.value, heads[smallest]!.value) < 0) smallest = index
      }
      const head = heads[smallest]!
      yield head.value
      const next = await head.source.next()
      if (next.done) heads.splice(smallest, 1)
      else head.value = next.value
    }
  } finally {
    for (const { source } of heads) await source.return?.()
  }
}
