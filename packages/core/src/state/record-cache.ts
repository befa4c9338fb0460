// The per-task record cache, as in Kafka Streams: write-back and bounded in bytes, shared by the
// task's stores. Repeated updates of a key merge in the cache, so only the latest value reaches the
// backend, the changelog and flush listeners. Every store has its own sorted namespace (scans merge
// it with the backend); one LRU order across namespaces picks what to evict when over budget.
// The hot path (a cached read-modify-write) updates an entry in place and marks it recently used;
// the order is put right only when something must be evicted (second chance, as a CLOCK), so a
// hit costs no reordering of the LRU map.
import { performance } from 'node:perf_hooks'
import { SortedKeyMap } from './sorted-key-map.js'

/** Where the latest update of a cached key came from, for the changelog header. */
export interface InputPosition {
  topic: string
  offset: bigint
}

export interface CacheEntry {
  /** The entry's key in its namespace (a binary string, see `toKey`). */
  readonly key: string
  /** Its namespace's index in the cache. */
  readonly namespace: number
  /** Serialized value; null when the key was deleted. */
  value: Uint8Array | null
  /** Not yet written to the layers below. */
  dirty: boolean
  timestamp: number
  input: InputPosition | undefined
  /** Used since it last reached the front of the LRU order (it then gets a second chance). */
  recent: boolean
  /** Counts updates in place, so a flush tells a value it wrote from one written meanwhile. */
  version: number
  /** When it last became dirty (`performance.now()`); 0 when clean or never cached. */
  dirtiedAt: number
}

/** A new entry of namespace `namespace`'s key `key`: dirty since `dirtiedAt`, or clean (undefined). */
export function cacheEntry(
  key: string,
  namespace: number,
  value: Uint8Array | null,
  timestamp: number,
  input: InputPosition | undefined,
  dirtiedAt: number | undefined,
): CacheEntry {
  const dirty = dirtiedAt !== undefined
  return {
    key,
    namespace,
    value,
    dirty,
    timestamp,
    input,
    recent: false,
    version: 0,
    dirtiedAt: dirtiedAt ?? 0,
  }
}

/**
 * Bytes of V8 heap a cache entry costs besides its key's and value's bytes, so that the budget is
 * the memory the cache really holds: the entry, the value's view, the input position, the key's
 * string and the entry's slots in the namespace's maps and the LRU order. About 430 measured with
 * Node 24 for a dirty entry (a clean one costs less); counted as 400.
 */
export const CACHE_ENTRY_OVERHEAD = 400

/**
 * One store's part of the cache. `writeDown` receives the dirty entries, in key order, when the
 * store is flushed or when eviction needs room; it must read them before its first `await`
 * (entries are updated in place, and a write made meanwhile stays dirty for the next flush).
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

  /** When the entry dirty the longest became dirty (`performance.now()`); undefined when none is. */
  get oldestDirtyAt(): number | undefined {
    for (const entry of this.#dirty.values()) return entry.dirtiedAt
    return undefined
  }

  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key)
    if (entry) entry.recent = true
    return entry
  }

  /**
   * Caches a value read from the backend (clean); skipped when the cache size is 0. A key the
   * cache holds already keeps its entry: it is at least as new as the read.
   */
  putClean(key: string, value: Uint8Array | null): void {
    if (this.#cache.maxBytes === 0 || this.entries.has(key)) return
    this.#add(key, cacheEntry(key, this.#id, value, -1, undefined, undefined))
  }

  /** Records an update; the caller makes room (`RecordCache.makeRoom`) when the cache is over budget. */
  putDirty(key: string, value: Uint8Array | null, timestamp: number, input: InputPosition | undefined): void {
    const entry = this.entries.get(key)
    if (entry === undefined) {
      this.#dirty.set(
        key,
        this.#add(key, cacheEntry(key, this.#id, value, timestamp, input, performance.now())),
      )
      return
    }
    this.#cache.resize(entry, value)
    entry.value = value
    entry.timestamp = timestamp
    entry.input = input
    entry.recent = true
    entry.version += 1
    if (!entry.dirty) {
      entry.dirty = true
      entry.dirtiedAt = performance.now()
      this.#dirty.set(key, entry)
    }
  }

  /**
   * Writes dirty entries down (in key order) and marks them clean: all of them, or (an idle task's
   * write-down ahead of its commit) at most `limit` of those dirty since `dirtiedBefore` or longer,
   * the longest-dirty first. Returns how many it wrote.
   */
  async flush(limit = Number.POSITIVE_INFINITY, dirtiedBefore = Number.POSITIVE_INFINITY): Promise<number> {
    if (this.#dirty.size === 0) return 0
    let dirty: Array<[string, CacheEntry]>
    if (limit >= this.#dirty.size && dirtiedBefore === Number.POSITIVE_INFINITY) dirty = [...this.#dirty]
    else {
      // Map order is the order entries became dirty in.
      dirty = []
      for (const pair of this.#dirty) {
        if (dirty.length >= limit || pair[1].dirtiedAt > dirtiedBefore) break
        dirty.push(pair)
      }
      if (dirty.length === 0) return 0
    }
    // Binary-string keys: code unit order is unsigned byte order.
    dirty.sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0))
    const versions = dirty.map(([, entry]) => entry.version)
    await this.#writeDown(dirty)
    for (let index = 0; index < dirty.length; index += 1) {
      const [key, entry] = dirty[index]!
      // An entry updated while the write was under way stays dirty: its newer value is not written.
      if (entry.version !== versions[index] || this.#dirty.get(key) !== entry) continue
      this.#dirty.delete(key)
      entry.dirty = false
      entry.dirtiedAt = 0
    }
    return dirty.length
  }

  /** Drops clean entries (after a flush, to make room) or everything (on close). */
  evict(key: string): void {
    const entry = this.entries.get(key)
    if (!entry) return
    if (this.#dirty.get(key) === entry) this.#dirty.delete(key)
    this.entries.delete(key)
    this.#cache.forget(entry)
  }

  clear(): void {
    for (const [key] of this.entries.entries()) this.evict(key)
  }

  #add(key: string, entry: CacheEntry): CacheEntry {
    this.entries.set(key, entry)
    this.#cache.account(entry)
    return entry
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
  /** LRU order, oldest first (an entry knows its namespace and key). */
  readonly #order = new Set<CacheEntry>()
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

  /** Dirty entries in all namespaces: what the next commit writes down. */
  get dirtyCount(): number {
    let count = 0
    for (const namespace of this.#namespaces) count += namespace.dirtyCount
    return count
  }

  /** When the entry dirty the longest in any namespace became dirty; undefined when none is. */
  get oldestDirtyAt(): number | undefined {
    let oldest: number | undefined
    for (const namespace of this.#namespaces) {
      const at = namespace.oldestDirtyAt
      if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at
    }
    return oldest
  }

  /**
   * Writes down at most `limit` entries dirty since `dirtiedBefore` (`performance.now()`) or longer,
   * namespace by namespace, the longest-dirty first in each; returns how many it wrote.
   */
  async writeDown(limit: number, dirtiedBefore = Number.POSITIVE_INFINITY): Promise<number> {
    let written = 0
    for (const namespace of this.#namespaces) {
      if (written >= limit) break
      written += await namespace.flush(limit - written, dirtiedBefore)
    }
    return written
  }

  namespace(writeDown: (dirty: Array<[string, CacheEntry]>) => Promise<void>): CacheNamespace {
    const namespace = new CacheNamespace(this, this.#namespaces.length, writeDown)
    this.#namespaces.push(namespace)
    return namespace
  }

  /**
   * Evicts least recently used entries until the cache fits, writing dirty ones down first. An
   * entry used since it was last at the front goes to the back instead, once (second chance).
   */
  async makeRoom(): Promise<void> {
    while (this.#bytes > this.maxBytes && this.#order.size > 0) {
      const entry: CacheEntry = this.#order.values().next().value!
      if (entry.recent) {
        entry.recent = false
        this.#order.delete(entry)
        this.#order.add(entry)
        continue
      }
      const namespace = this.#namespaces[entry.namespace]!
      // Writing down the whole namespace keeps its changelog and backend in one consistent batch.
      if (entry.dirty) await namespace.flush()
      if (entry.dirty) {
        // Updated again while the write-down ran: not written yet, so it cannot go; next round.
        this.#order.delete(entry)
        this.#order.add(entry)
        continue
      }
      namespace.evict(entry.key)
    }
  }

  account(entry: CacheEntry): void {
    this.#bytes += entrySize(entry)
    this.#order.add(entry)
  }

  /** An entry's value changes in place. */
  resize(entry: CacheEntry, value: Uint8Array | null): void {
    this.#bytes += (value?.byteLength ?? 0) - (entry.value?.byteLength ?? 0)
  }

  forget(entry: CacheEntry): void {
    this.#bytes -= entrySize(entry)
    this.#order.delete(entry)
  }
}

function entrySize(entry: CacheEntry): number {
  return entry.key.length + (entry.value?.byteLength ?? 0) + CACHE_ENTRY_OVERHEAD
}
