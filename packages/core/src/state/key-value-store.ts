// Typed key-value stores. Layers, top to bottom: serdes; the task's record cache (write-back,
// bounded); the changelog (written when the cache writes down); the byte-level backend.
import type { CommitPoint } from '../commit-point.js'
import { channels } from '../diagnostics.js'
import { StoreError } from '../errors.js'
import type { Serde, SerdeContext } from '../serde.js'
import { utf8Text } from '../serdes.js'
import type { StateStore, StateStoreContext, StoreBuilder, StoreLogging } from '../state-store.js'
import { isAscii, LastKeyBytes } from './key-bytes.js'
import { createMemoryBackend } from './memory-backend.js'
import { type CacheEntry, type CacheNamespace, cacheEntry } from './record-cache.js'
import { fromKey, toKey } from './sorted-key-map.js'
import type {
  BackendEntry,
  BackendRangeOptions,
  BackendWrite,
  StoreBackend,
  StoreBackendFactory,
} from './store-backend.js'
import { prefixUpperBound } from './store-backend.js'

export interface KeyValue<K, V> {
  key: K
  value: V
}

/** A change that left the cache: the latest value of a key since the previous flush. */
export interface StoreChange<K, V> {
  key: K
  /** The new value; undefined when the key was deleted. */
  value: V | undefined
  /** Timestamp of the record that made the change. */
  timestamp: number
}

export interface ScanOptions {
  /** Largest key first. @default false */
  reverse?: boolean
}

/**
 * A typed, ordered key-value store of one task. Keys are ordered by their serialized bytes, so
 * ranges follow the key serde's byte order (for example big-endian integers sort numerically).
 * Every method is async; await each call so that a record's reads see its own writes in order.
 *
 * @example
 * const counts = context.getStore<KeyValueStore<string, bigint>>('counts')
 * const next = ((await counts.get(word)) ?? 0n) + 1n
 * await counts.put(word, next)
 */
export interface KeyValueStore<K, V> extends StateStore {
  get(key: K): Promise<V | undefined>
  /** Values of `keys`, in the same order (undefined where missing). */
  getMany(keys: readonly K[]): Promise<Array<V | undefined>>
  put(key: K, value: V): Promise<void>
  putMany(entries: ReadonlyArray<readonly [K, V]>): Promise<void>
  /** Puts only when the key has no value; returns the value that was there, if any. */
  putIfAbsent(key: K, value: V): Promise<V | undefined>
  /** Deletes the key; returns the value it had, if any. */
  delete(key: K): Promise<V | undefined>
  /** Entries with `from <= key <= to` (both inclusive, as in Kafka Streams), in key byte order. */
  range(from: K, to: K, options?: ScanOptions): AsyncIterableIterator<KeyValue<K, V>>
  /** Entries whose serialized key starts with the serialized `prefix`. */
  prefixScan<P>(
    prefix: P,
    prefixSerde: Serde<P>,
    options?: ScanOptions,
  ): AsyncIterableIterator<KeyValue<K, V>>
  all(options?: ScanOptions): AsyncIterableIterator<KeyValue<K, V>>
  /** Number of keys. It writes pending cached changes down first, so call it sparingly. */
  approximateCount(): Promise<number>
  /**
   * Called with each change when it leaves the cache (at commit or on eviction), so a processor can
   * forward merged updates downstream instead of one per input record.
   */
  setFlushListener(listener: (change: StoreChange<K, V>) => void): void
}

export interface KeyValueStoreOptions<K, V> {
  keySerde: Serde<K>
  valueSerde: Serde<V>
  /** Where the bytes live. @default createMemoryBackend() */
  backend?: StoreBackendFactory
  /** Merge repeated updates in the task's record cache before writing them down. @default true */
  cache?: boolean
  /** Back the store with a compacted changelog topic, so it can be restored. @default true */
  logging?: boolean | StoreLogging
  /**
   * Restore the store from this source topic instead of a changelog of its own (see
   * `StoreBuilder.sourceChangelog`); only for a store that holds exactly the topic's records, with
   * the topic's serdes. Excludes `logging`.
   */
  sourceChangelog?: string
}

/**
 * A key-value store for `TopologyBuilder.addStore`, with a changelog and the record cache by
 * default.
 *
 * @example
 * builder.addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
 */
export function keyValueStore<K, V, N extends string = string>(
  name: N,
  options: KeyValueStoreOptions<K, V>,
): StoreBuilder<KeyValueStore<K, V>, N> {
  if (!options?.keySerde || !options.valueSerde) {
    throw new StoreError(`store "${name}" needs a keySerde and a valueSerde`, { context: { store: name } })
  }
  const backend = options.backend ?? createMemoryBackend()
  const source = options.sourceChangelog
  if (source !== undefined && (typeof source !== 'string' || source === '' || options.logging)) {
    throw new StoreError(
      `store "${name}": "sourceChangelog" must be a topic name, and a store restored from its source topic writes no changelog of its own (leave "logging" out)`,
      { context: { store: name, option: 'sourceChangelog' } },
    )
  }
  const logging =
    source !== undefined || options.logging === false
      ? false
      : options.logging === true
        ? {}
        : (options.logging ?? {})
  return {
    name,
    persistent: backend.persistent,
    logging,
    ...(source === undefined ? {} : { sourceChangelog: source }),
    query: {
      kind: 'key-value',
      keySerde: options.keySerde as Serde<unknown>,
      valueSerde: options.valueSerde as Serde<unknown>,
    },
    build: () => new LayeredKeyValueStore(name, options, backend),
  }
}

/** What `peekCached` returns for a key whose value the cache does not hold (read it with `get`). */
export const NOT_CACHED: unique symbol = Symbol('kstreams.notCached')

/**
 * Internal: the value of a key the record cache holds, synchronously (undefined when the cache
 * holds its deletion), or NOT_CACHED. For the runtime's own processors, which then need no
 * promise for a cache hit; user code awaits `get`.
 */
export const peekCached: unique symbol = Symbol('kstreams.peekCached')

export interface CachePeeking<K, V> {
  [peekCached](key: K): V | undefined | typeof NOT_CACHED
}

class LayeredKeyValueStore<K, V> implements KeyValueStore<K, V>, CachePeeking<K, V> {
  readonly name: string
  readonly persistent: boolean
  readonly #options: KeyValueStoreOptions<K, V>
  readonly #factory: StoreBackendFactory
  #context!: StateStoreContext
  #backend!: StoreBackend
  #namespace: CacheNamespace | undefined
  #listener: ((change: StoreChange<K, V>) => void) | undefined
  readonly #keyContext: SerdeContext = { topic: '', target: 'key', headers: [] }
  readonly #valueContext: SerdeContext = { topic: '', target: 'value', headers: [] }
  readonly #lastKey = new LastKeyBytes<K>()
  /** The key serde is the UTF-8 string serde: an ASCII key is its own cache key (see `#cacheKey`). */
  readonly #utf8Keys: boolean
  /** The key serde is `stableKeyBytes()`: a key array is never changed after it is passed. */
  readonly #stableKeys: boolean
  /** Operations since the previous flush, for the `kstreams:store:operations` channel. */
  readonly #operations = { gets: 0, puts: 0, deletes: 0, scans: 0 }

  constructor(name: string, options: KeyValueStoreOptions<K, V>, factory: StoreBackendFactory) {
    this.name = name
    this.#options = options
    this.#factory = factory
    this.persistent = factory.persistent
    this.#utf8Keys = (options.keySerde as { [utf8Text]?: boolean })[utf8Text] === true
    this.#stableKeys = (options.keySerde as { [stableKeys]?: boolean })[stableKeys] === true
  }

  async init(context: StateStoreContext): Promise<void> {
    this.#context = context
    this.#keyContext.topic = this.#valueContext.topic = context.changelog?.topic ?? this.name
    try {
      this.#backend = await this.#factory.open({
        applicationId: context.applicationId,
        taskId: context.taskId,
        partition: context.partition,
        storeName: this.name,
        directory: context.directory,
        ownership: context.ownership,
        ...(context.changelog ? { changelogTopic: context.changelog.topic } : {}),
      })
    } catch (error) {
      if (StoreError.isInstance(error)) throw error
      throw new StoreError(
        `cannot open store "${this.name}" of task ${context.taskId} (${this.#factory.name} backend in ${context.directory}): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, context: { store: this.name, taskId: context.taskId } },
      )
    }
    if (this.#options.cache !== false) {
      this.#namespace = context.cache.namespace((dirty) => this.#writeDown(dirty))
    }
  }

  setFlushListener(listener: (change: StoreChange<K, V>) => void): void {
    this.#listener = listener
  }

  get(key: K): Promise<V | undefined> {
    // A cache hit settles without another async frame (the common read-modify-write of a count).
    try {
      this.#operations.gets += 1
      const namespace = this.#namespace
      if (namespace === undefined) {
        return this.#call('get', () => this.#backend.get(this.#serializeKey(key))).then((bytes) =>
          bytes === undefined ? undefined : this.#deserializeValue(bytes),
        )
      }
      const cacheKey = this.#cacheKey(key)
      const cached = namespace.get(cacheKey)
      if (cached) {
        return Promise.resolve(cached.value === null ? undefined : this.#deserializeValue(cached.value))
      }
      return this.#load(fromKey(cacheKey), cacheKey).then((bytes) =>
        bytes === null ? undefined : this.#deserializeValue(bytes),
      )
    } catch (error) {
      return Promise.reject(error)
    }
  }

  [peekCached](key: K): V | undefined | typeof NOT_CACHED {
    const namespace = this.#namespace
    if (namespace === undefined) return NOT_CACHED
    const cached = namespace.get(this.#cacheKey(key))
    if (cached === undefined) return NOT_CACHED
    this.#operations.gets += 1
    return cached.value === null ? undefined : this.#deserializeValue(cached.value)
  }

  async getMany(keys: readonly K[]): Promise<Array<V | undefined>> {
    this.#operations.gets += keys.length
    const serialized = keys.map((key) => this.#serializeKey(key))
    const results: Array<V | undefined> = new Array(keys.length)
    const missing: number[] = []
    for (let index = 0; index < serialized.length; index += 1) {
      const entry = this.#namespace?.get(toKey(serialized[index]!))
      if (entry) results[index] = entry.value === null ? undefined : this.#deserializeValue(entry.value)
      else missing.push(index)
    }
    if (missing.length > 0) {
      const values = await this.#call('getMany', () =>
        this.#backend.getMany(missing.map((index) => serialized[index]!)),
      )
      missing.forEach((index, position) => {
        const value = values[position]
        this.#namespace?.putClean(toKey(serialized[index]!), value ?? null)
        results[index] = value === undefined ? undefined : this.#deserializeValue(value)
      })
    }
    return results
  }

  put(key: K, value: V): Promise<void> {
    try {
      if (value === undefined || value === null) {
        throw new StoreError(`store "${this.name}": put() needs a value; use delete() to remove a key`, {
          context: { store: this.name, taskId: this.#context.taskId },
        })
      }
      this.#operations.puts += 1
      const value_ = this.#serializeValue(value)
      return this.#namespace
        ? this.#write(this.#cacheKey(key), value_)
        : this.#write(toKey(this.#serializeKey(key)), value_)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  async putMany(entries: ReadonlyArray<readonly [K, V]>): Promise<void> {
    for (const [key, value] of entries) await this.put(key, value)
  }

  async putIfAbsent(key: K, value: V): Promise<V | undefined> {
    const existing = await this.get(key)
    if (existing === undefined) await this.put(key, value)
    return existing
  }

  async delete(key: K): Promise<V | undefined> {
    this.#operations.deletes += 1
    const serialized = this.#serializeKey(key)
    const existing = await this.#getBytes(serialized)
    await this.#write(toKey(serialized), null)
    return existing === null ? undefined : this.#deserializeValue(existing)
  }

  range(from: K, to: K, options: ScanOptions = {}): AsyncIterableIterator<KeyValue<K, V>> {
    const upper = this.#serializeKey(to)
    // The smallest key above `to` makes the inclusive end exclusive.
    const exclusive = new Uint8Array(upper.byteLength + 1)
    exclusive.set(upper)
    return this.#scan({ from: this.#serializeKey(from), to: exclusive, reverse: options.reverse })
  }

  prefixScan<P>(
    prefix: P,
    prefixSerde: Serde<P>,
    options: ScanOptions = {},
  ): AsyncIterableIterator<KeyValue<K, V>> {
    const bytes = prefixSerde.serialize(prefix, this.#keyContext)
    if (bytes === null) throw this.#error('prefixScan() got a prefix that serialized to null')
    return this.#scan({ from: bytes, to: prefixUpperBound(bytes), reverse: options.reverse })
  }

  all(options: ScanOptions = {}): AsyncIterableIterator<KeyValue<K, V>> {
    return this.#scan({ reverse: options.reverse })
  }

  async approximateCount(): Promise<number> {
    await this.#namespace?.flush()
    return this.#call('approximateCount', () => this.#backend.approximateCount())
  }

  async restore(batch: readonly BackendWrite[]): Promise<void> {
    await this.#call('restore', () => this.#backend.write(batch))
    // A global store is restored while it is read, and a query with allowRestoring may read a
    // store during its restore: what those reads cached of these keys is now stale.
    if (this.#namespace && this.#namespace.entries.size > 0) {
      for (const { key } of batch) this.#namespace.evict(toKey(key))
    }
  }

  restoredValue(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#call('restoredValue', () => this.#backend.get(key))
  }

  async changelogCheckpoint(): Promise<{ offset: bigint | undefined } | undefined> {
    const backend = this.#backend
    if (!backend?.changelogCheckpoint) return undefined
    return { offset: await this.#call('changelogCheckpoint', () => backend.changelogCheckpoint!()) }
  }

  async flush(commitPoint?: CommitPoint): Promise<void> {
    await this.#namespace?.flush()
    await this.#call('flush', () => this.#backend.flush(commitPoint))
    const operations = this.#operations
    if (channels.storeOperations.hasSubscribers) {
      channels.storeOperations.publish({ taskId: this.#context.taskId, store: this.name, ...operations })
    }
    operations.gets = operations.puts = operations.deletes = operations.scans = 0
  }

  async close(): Promise<void> {
    this.#namespace?.clear()
    await this.#backend?.close()
  }

  /** Serialized value, or null when missing: the cache first, then the backend (then cached). */
  async #getBytes(key: Uint8Array): Promise<Uint8Array | null> {
    const cacheKey = this.#namespace ? toKey(key) : ''
    const cached = this.#namespace?.get(cacheKey)
    if (cached) return cached.value
    return this.#load(key, cacheKey)
  }

  /** Reads a key the cache does not hold from the backend, and caches what it found. */
  async #load(key: Uint8Array, cacheKey: string): Promise<Uint8Array | null> {
    const value = (await this.#call('get', () => this.#backend.get(key))) ?? null
    this.#namespace?.putClean(cacheKey, value)
    return value
  }

  /**
   * The record cache's key of `key`: its serialized bytes as a binary string (one char per byte).
   * With the UTF-8 string serde, an ASCII key is that string already (no encoding, no copy).
   */
  #cacheKey(key: K): string {
    if (this.#utf8Keys && typeof key === 'string' && isAscii(key)) return key
    const remembered = this.#lastKey.binary(key)
    if (remembered !== undefined) return remembered
    const bytes = this.#serializeKey(key)
    const binary = toKey(bytes)
    this.#lastKey.remember(key, bytes, binary, this.#stableKeys)
    return binary
  }

  /** Not async: a write that fits the cache settles without another async frame. */
  #write(cacheKey: string, value: Uint8Array | null): Promise<void> {
    // A given-up record's late write must not reach the cache, the changelog or the backend.
    if (this.#context.abandoned?.()) return RESOLVED
    const input = this.#context.currentInput()
    const timestamp = this.#context.currentTimestamp()
    if (!this.#namespace) {
      // No cache: written through at once (the entry is never cached, so it has no namespace).
      return this.#writeDown([[cacheKey, cacheEntry(cacheKey, -1, value, timestamp, input, 0)]])
    }
    this.#namespace.putDirty(cacheKey, value, timestamp, input)
    return this.#context.cache.overBudget ? this.#context.cache.makeRoom() : RESOLVED
  }

  /** Logs the changes, tells the flush listener and writes one batch to the backend. */
  async #writeDown(dirty: Array<[string, CacheEntry]>): Promise<void> {
    const batch: BackendWrite[] = new Array(dirty.length)
    const changelog = this.#context.changelog
    for (let index = 0; index < dirty.length; index += 1) {
      const [key, entry] = dirty[index]!
      const bytes = fromKey(key)
      batch[index] = { key: bytes, value: entry.value }
      changelog?.send(bytes, entry.value, entry.timestamp, entry.input)
    }
    if (this.#listener) {
      for (const [key, entry] of dirty) {
        this.#listener({
          key: this.#deserializeKey(fromKey(key)),
          value: entry.value === null ? undefined : this.#deserializeValue(entry.value),
          timestamp: entry.timestamp,
        })
      }
    }
    if (this.persistent) this.#context.beforeWrite()
    await this.#call('write', () => this.#backend.write(batch))
  }

  async *#scan(options: BackendRangeOptions): AsyncGenerator<KeyValue<K, V>> {
    this.#operations.scans += 1
    const reverse = options.reverse ?? false
    if (reverse && !this.#backend.capabilities.reverseRange) {
      throw this.#error(
        `the ${this.#factory.name} backend cannot scan in reverse (capabilities.reverseRange is false)`,
      )
    }
    const from = options.from === undefined ? undefined : toKey(options.from)
    const to = options.to === undefined ? undefined : toKey(options.to)
    const cached = this.#namespace?.entries.entries(from, to, reverse)[Symbol.iterator]()
    const stored = toAsyncIterator(this.#backend.range(options))
    let cachedNext = cached?.next()
    let storedNext = await stored.next()
    const before = (left: string, right: string) => (reverse ? left > right : left < right)
    try {
      while (!(cachedNext?.done ?? true) || !storedNext.done) {
        const cachedEntry = cachedNext && !cachedNext.done ? cachedNext.value : undefined
        const storedEntry = storedNext.done ? undefined : (storedNext.value as BackendEntry)
        const storedKey = storedEntry ? toKey(storedEntry.key) : undefined
        if (cachedEntry && (storedKey === undefined || !before(storedKey, cachedEntry[0]))) {
          // The cache holds the newer value; a stored entry of the same key is skipped.
          if (storedKey === cachedEntry[0]) storedNext = await stored.next()
          cachedNext = cached!.next()
          if (cachedEntry[1].value !== null) {
            yield {
              key: this.#deserializeKey(fromKey(cachedEntry[0])),
              value: this.#deserializeValue(cachedEntry[1].value),
            }
          }
        } else if (storedEntry) {
          storedNext = await stored.next()
          yield {
            key: this.#deserializeKey(storedEntry.key),
            value: this.#deserializeValue(storedEntry.value),
          }
        }
      }
    } finally {
      // Stops the backend's scan when the caller breaks out early.
      await stored.return?.()
    }
  }

  #serializeKey(key: K): Uint8Array {
    // A serde may turn null into bytes (TextEncoder writes "null"), which would merge every
    // keyless record into one entry that a real key "null" shares: refuse it, as Kafka Streams does.
    if (key === null || key === undefined)
      throw this.#error(
        `a ${key === null ? 'null' : 'undefined'} key cannot be stored (a record without a key?); filter such records out or give them a key first (e.g. selectKey)`,
      )
    const remembered = this.#lastKey.get(key)
    if (remembered) return remembered
    const bytes = this.#convert('serialize a key', () =>
      this.#options.keySerde.serialize(key, this.#keyContext),
    )
    if (bytes === null) throw this.#error('a key serialized to null; store keys need bytes')
    this.#lastKey.remember(key, bytes)
    return bytes
  }

  #serializeValue(value: V): Uint8Array | null {
    return this.#convert('serialize a value', () =>
      this.#options.valueSerde.serialize(value, this.#valueContext),
    )
  }

  #deserializeKey(bytes: Uint8Array): K {
    return this.#convert('deserialize a stored key', () =>
      this.#options.keySerde.deserialize(bytes, this.#keyContext),
    )
  }

  #deserializeValue(bytes: Uint8Array): V {
    return this.#convert('deserialize a stored value', () =>
      this.#options.valueSerde.deserialize(bytes, this.#valueContext),
    )
  }

  /** Runs a serde call; its failure becomes a StoreError naming the store, the task and `action`. */
  #convert<T>(action: string, run: () => T): T {
    try {
      return run()
    } catch (cause) {
      throw this.#error(`cannot ${action}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
    }
  }

  async #call<T>(operation: string, run: () => T | Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (cause) {
      if (StoreError.isInstance(cause)) throw cause
      throw this.#error(
        `${operation} failed in the ${this.#factory.name} backend: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      )
    }
  }

  #error(message: string, cause?: unknown): StoreError {
    const taskId = this.#context?.taskId
    return new StoreError(`store "${this.name}"${taskId ? ` of task ${taskId}` : ''}: ${message}`, {
      cause,
      context: { store: this.name, taskId },
    })
  }
}

const RESOLVED: Promise<void> = Promise.resolve()
/** What a write returns when it settled at once (it fit the record cache). */
export const SETTLED: Promise<void> = RESOLVED

const stableKeys: unique symbol = Symbol('kstreams.stableKeys')

/**
 * Raw bytes as keys, for stores built over a key-value store (window stores): the caller never
 * changes a key array after passing it, so a key passed again (the read, then the write, of one
 * update) reuses its cache key instead of converting the bytes again.
 */
export function stableKeyBytes(): Serde<Uint8Array> {
  const serde: Serde<Uint8Array> & { [stableKeys]: true } = {
    [stableKeys]: true,
    serialize: (value) => value,
    deserialize: (value) => value,
  }
  return serde
}

function toAsyncIterator<T>(iterable: Iterable<T> | AsyncIterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in iterable
    ? (iterable as AsyncIterable<T>)[Symbol.asyncIterator]()
    : (iterable as Iterable<T>)[Symbol.iterator]()
}
