// The per-task record cache, as in Kafka Streams: write-back and bounded in bytes, shared by the
// task's stores. Repeated updates of a key merge in the cache, so only the latest value reaches the
// backend, the changelog and flush listeners. Every store has its own sorted namespace (scans merge
// it with the backend); one LRU order across namespaces picks what to evict when over budget.
import { SortedKeyMap } from './sorted-key-map.js'

/** Where the latest update of a cached key came from, for the changelog header. */
export interface InputPosition {
  topic: string
  offset: bigint
}

export interface CacheEntry {
  /** Serialized value; null when the key was deleted. */
  value: Uint8Array | null
  /** Not yet written to the layers below. */
  dirty: boolean
  timestamp: number
  input: InputPosition | undefined
}

/** Bytes a cache entry is counted for, besides its key and value. */
const ENTRY_OVERHEAD = 64

/**
 * One store's part of the cache. `writeDown` receives the dirty entries, in key order, when the
 * store is flushed or when eviction needs room.
 */
export class CacheNamespace {
  readonly entries = new SortedKeyMap<CacheEntry>()
  readonly #cache: RecordCache
  readonly #id: number
  readonly #writeDown: (dirty: Array<[string, CacheEntry]>) => Promise<void>
  /** The dirty entries by key, so a flush sorts those instead of walking the whole namespace. */
  readonly #dirty = new Map<string, CacheEntry>()

  constructor(
    cache: RecordCache,
    id: number,
    writeDown: (dirty: Array<[string, CacheEntry]>) => Promise<void>,
  ) {
    this.#cache = cache
    this.#id = id
    this.#writeDown = writeDown
  }

  get dirtyCount(): number {
    return this.#dirty.size
  }

  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key)
    if (entry) this.#cache.touch(entry)
    return entry
  }

  /** Caches a value read from the backend (clean); skipped when the cache size is 0. */
  putClean(key: string, value: Uint8Array | null): void {
    if (this.#cache.maxBytes === 0) return
    this.#set(key, { value, dirty: false, timestamp: -1, input: undefined })
  }

  /** Records an update; the caller makes room (`RecordCache.makeRoom`) when the cache is over budget. */
  putDirty(key: string, value: Uint8Array | null, timestamp: number, input: InputPosition | undefined): void {
    this.#set(key, { value, dirty: true, timestamp, input })
  }

  /** Writes every dirty entry down (in key order) and marks them clean. */
  async flush(): Promise<void> {
    if (this.#dirty.size === 0) return
    const dirty = [...this.#dirty]
    // Binary-string keys: code unit order is unsigned byte order.
    dirty.sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0))
    await this.#writeDown(dirty)
    for (const [key, entry] of dirty) {
      // An entry replaced while the write was under way stays dirty: its newer value is not written.
      if (this.#dirty.get(key) === entry) this.#dirty.delete(key)
      entry.dirty = false
    }
  }

  /** Drops clean entries (after a flush, to make room) or everything (on close). */
  evict(key: string): void {
    const entry = this.entries.get(key)
    if (!entry) return
    if (this.#dirty.get(key) === entry) this.#dirty.delete(key)
    this.entries.delete(key)
    this.#cache.forget(key, entry)
  }

  clear(): void {
    for (const [key] of this.entries.entries()) this.evict(key)
  }

  #set(key: string, entry: CacheEntry): void {
    const previous = this.entries.get(key)
    if (entry.dirty) this.#dirty.set(key, entry)
    else if (previous?.dirty) this.#dirty.delete(key)
    this.entries.set(key, entry)
    this.#cache.account(this.#id, key, previous, entry)
  }
}

/**
 * Bounded to `maxBytes` (keys, values and a fixed overhead per entry). When a write goes over,
 * `makeRoom` writes down the namespaces that own the least recently used entries and drops clean
 * entries until the cache fits again.
 */
export class RecordCache {
  readonly maxBytes: number
  readonly #namespaces: CacheNamespace[] = []
  /** LRU order, oldest first: each live entry with its namespace id and key (no string building). */
  readonly #order = new Map<CacheEntry, [number, string]>()
  #bytes = 0

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  get bytes(): number {
    return this.#bytes
  }

  get overBudget(): boolean {
    return this.#bytes > this.maxBytes
  }

  namespace(writeDown: (dirty: Array<[string, CacheEntry]>) => Promise<void>): CacheNamespace {
    const namespace = new CacheNamespace(this, this.#namespaces.length, writeDown)
    this.#namespaces.push(namespace)
    return namespace
  }

  /** Evicts least recently used entries until the cache fits, writing dirty ones down first. */
  async makeRoom(): Promise<void> {
    while (this.#bytes > this.maxBytes && this.#order.size > 0) {
      const [id, key] = this.#order.values().next().value!
      const namespace = this.#namespaces[id]!
      const entry = namespace.entries.get(key)
      // Writing down the whole namespace keeps its changelog and backend in one consistent batch.
      if (entry?.dirty) await namespace.flush()
      namespace.evict(key)
    }
  }

  touch(entry: CacheEntry): void {
    const position = this.#order.get(entry)
    if (!position) return
    this.#order.delete(entry)
    this.#order.set(entry, position)
  }

  account(id: number, key: string, previous: CacheEntry | undefined, entry: CacheEntry): void {
    if (previous) {
      this.#bytes -= entrySize(key, previous)
      this.#order.delete(previous)
    }
    this.#bytes += entrySize(key, entry)
    this.#order.set(entry, [id, key])
  }

  forget(key: string, entry: CacheEntry): void {
    this.#bytes -= entrySize(key, entry)
    this.#order.delete(entry)
  }
}

function entrySize(key: string, entry: CacheEntry): number {
  return key.length + (entry.value?.byteLength ?? 0) + ENTRY_OVERHEAD
}
