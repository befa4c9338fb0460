// Window stores: a key schema over a byte-level key-value store (so the record cache, changelog,
// restore and every conformant backend come with it). Both ends of a window are stored, so windows
// of any length (calendar days and months) round trip exactly. The index entry is written when its
// window is created and deleted with it, so updating a window writes one entry.
//
//   data:  0x00 | key length (u32) | key | start | end   → value
//   index: 0x01 | end | start | key length (u32) | key   → empty, to find windows by their end
//
// Times are 8-byte big-endian with the sign bit flipped, so byte order is time order.
import type { CommitPoint } from '../commit-point.js'
import { ConfigError, StoreError } from '../errors.js'
import type { Serde, SerdeContext } from '../serde.js'
import { bytes } from '../serdes.js'
import { LastKeyBytes, readUint32, writeInt64, writeUint32 } from '../state/key-bytes.js'
import {
  type CachePeeking,
  type KeyValueStore,
  keyValueStore,
  NOT_CACHED,
  peekCached,
  stableKeyBytes,
} from '../state/key-value-store.js'
import type { BackendWrite, StoreBackendFactory } from '../state/store-backend.js'
import type { StateStore, StateStoreContext, StoreBuilder, StoreLogging } from '../state-store.js'
import type { Window } from './windows.js'

export interface WindowedEntry<K, V> {
  key: K
  window: Window
  value: V
}

/**
 * A store of values per key and window. Reads return windows in start order (or reverse).
 *
 * @example
 * const counts = context.getStore<WindowStore<string, number>>('counts-per-day')
 * await counts.put('shop-1', { start, end }, 42)
 * for await (const { window, value } of counts.fetch('shop-1', from, to)) console.log(window, value)
 */
export interface WindowStore<K, V> extends StateStore {
  /** How long windows are kept after their end (see `expire`). */
  readonly retentionMs: number
  get(key: K, window: Window): Promise<V | undefined>
  put(key: K, window: Window, value: V): Promise<void>
  delete(key: K, window: Window): Promise<void>
  /** Windows of `key` whose start is in `[timeFrom, timeTo]`. */
  fetch(
    key: K,
    timeFrom: number,
    timeTo: number,
    options?: { reverse?: boolean },
  ): AsyncIterableIterator<WindowedEntry<K, V>>
  /** Windows of every key whose start is in `[timeFrom, timeTo]` (a full scan). */
  fetchAll(
    timeFrom: number,
    timeTo: number,
    options?: { reverse?: boolean },
  ): AsyncIterableIterator<WindowedEntry<K, V>>
  /** Every window, by key bytes then start. */
  all(options?: { reverse?: boolean }): AsyncIterableIterator<WindowedEntry<K, V>>
  /** Windows whose end is at most `time`, in end order. */
  endingBy(time: number): AsyncIterableIterator<WindowedEntry<K, V>>
  /** Deletes windows that ended at or before `streamTime - retentionMs`. Returns how many. */
  expire(streamTime: number): Promise<number>
}

/**
 * A window store whose windows are sessions (`stores.session`): what `sessionAggregate` and
 * `sessionCount` keep their sessions in, read per key by interactive queries.
 */
export interface SessionStore<K, V> extends WindowStore<K, V> {
  readonly sessions: true
}

export interface WindowStoreOptions<K, V> {
  keySerde: Serde<K>
  valueSerde: Serde<V>
  /** How long windows are kept after their end, at least the grace period. @default 86400000 (1 day) */
  retentionMs?: number
  backend?: StoreBackendFactory
  /** @default true */
  cache?: boolean
  /** @default true */
  logging?: boolean | StoreLogging
}

/**
 * Internal, for the windowed aggregations: a window's value if the record cache holds it
 * (undefined: no such window), else NOT_CACHED; and a write of a window whose existence the
 * caller knows from that read. A cache hit then costs no promise.
 */
export const peekWindow: unique symbol = Symbol('kstreams.peekWindow')
export const putPeekedWindow: unique symbol = Symbol('kstreams.putPeekedWindow')

export interface WindowPeeking<K, V> {
  [peekWindow](key: K, window: Window): V | undefined | typeof NOT_CACHED
  /** Settles at once (a resolved promise) unless the cache must make room. */
  [putPeekedWindow](key: K, window: Window, value: V, existed: boolean): Promise<void>
}

const DATA = 0x00
const INDEX = 0x01
// Window times are written as Kafka longs with the sign bit flipped, so that byte order is time order.
function writeTime(target: Uint8Array, offset: number, time: number): void {
  writeInt64(target, offset, time)
  target[offset]! ^= 0x80
}

function readTime(source: Uint8Array, offset: number): number {
  return ((readUint32(source, offset) ^ 0x80000000) | 0) * 2 ** 32 + readUint32(source, offset + 4)
}

function dataKey(key: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(1 + 4 + key.byteLength + 16)
  out[0] = DATA
  writeUint32(out, 1, key.byteLength)
  out.set(key, 5)
  writeTime(out, 5 + key.byteLength, start)
  writeTime(out, 13 + key.byteLength, end)
  return out
}

/** The data-key prefix of `key` with a start time: the bound of a fetch. */
function dataBound(key: Uint8Array, start: number): Uint8Array {
  const out = new Uint8Array(1 + 4 + key.byteLength + 8)
  out[0] = DATA
  writeUint32(out, 1, key.byteLength)
  out.set(key, 5)
  writeTime(out, 5 + key.byteLength, start)
  return out
}

function indexKey(key: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(1 + 16 + 4 + key.byteLength)
  out[0] = INDEX
  writeTime(out, 1, end)
  writeTime(out, 9, start)
  writeUint32(out, 17, key.byteLength)
  out.set(key, 21)
  return out
}

function parseData(bytes: Uint8Array): { key: Uint8Array; start: number; end: number } {
  const length = readUint32(bytes, 1)
  return {
    key: bytes.subarray(5, 5 + length),
    start: readTime(bytes, 5 + length),
    end: readTime(bytes, 13 + length),
  }
}

function parseIndex(bytes: Uint8Array): { key: Uint8Array; start: number; end: number } {
  const length = readUint32(bytes, 17)
  return { key: bytes.subarray(21, 21 + length), end: readTime(bytes, 1), start: readTime(bytes, 9) }
}

const EMPTY = new Uint8Array(0)

/**
 * A window store for `TopologyBuilder.addStore`; windowed aggregations keep their state in one.
 *
 * @example builder.addStore(stores.window('revenue-per-day', { keySerde: serdes.string(), valueSerde: serdes.float64() }))
 */
export function windowStore<K, V, N extends string = string>(
  name: N,
  options: WindowStoreOptions<K, V>,
): StoreBuilder<WindowStore<K, V>, N> {
  return buildWindowStore(name, options, false)
}

/**
 * A window store for sessions, for `sessionAggregate` and `sessionCount`: the same store as
 * `stores.window`, marked as sessions so that interactive queries read it per key.
 *
 * @example builder.addStore(stores.session('visits', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
 */
export function sessionStore<K, V, N extends string = string>(
  name: N,
  options: WindowStoreOptions<K, V>,
): StoreBuilder<SessionStore<K, V>, N> {
  return buildWindowStore(name, options, true) as StoreBuilder<SessionStore<K, V>, N>
}

function buildWindowStore<K, V, N extends string>(
  name: N,
  options: WindowStoreOptions<K, V>,
  sessions: boolean,
): StoreBuilder<WindowStore<K, V>, N> {
  if (!options?.keySerde || !options.valueSerde) {
    throw new StoreError(`window store "${name}" needs a keySerde and a valueSerde`, {
      context: { store: name },
    })
  }
  const retentionMs = options.retentionMs ?? 86_400_000
  if (!Number.isInteger(retentionMs) || retentionMs < 0) {
    throw new ConfigError(
      `window store "${name}": "retentionMs" must be an integer >= 0, got ${JSON.stringify(retentionMs)}`,
      {
        context: { option: 'retentionMs', store: name },
      },
    )
  }
  const inner = keyValueStore<Uint8Array, Uint8Array>(name, {
    // Keys built here are never changed once passed (see `#dataKey`).
    keySerde: stableKeyBytes(),
    valueSerde: bytes(),
    backend: options.backend,
    cache: options.cache,
    logging: options.logging,
  })
  return {
    name,
    persistent: inner.persistent,
    logging: inner.logging,
    query: {
      kind: sessions ? 'session' : 'window',
      keySerde: options.keySerde as Serde<unknown>,
      valueSerde: options.valueSerde as Serde<unknown>,
    },
    build: () => new ByteWindowStore(inner.build(), options, retentionMs, sessions),
  }
}

class ByteWindowStore<K, V> implements WindowStore<K, V>, WindowPeeking<K, V> {
  readonly name: string
  readonly persistent: boolean
  readonly retentionMs: number
  readonly sessions: boolean
  readonly #inner: KeyValueStore<Uint8Array, Uint8Array>
  readonly #options: WindowStoreOptions<K, V>
  readonly #keyContext: SerdeContext = { topic: '', target: 'key', headers: [] }
  readonly #valueContext: SerdeContext = { topic: '', target: 'value', headers: [] }
  readonly #lastKey = new LastKeyBytes<K>()
  /** The last data key built, so an update's read and write pass the inner store one array. */
  #lastData: { key: Uint8Array; start: number; end: number; bytes: Uint8Array } | undefined

  constructor(
    inner: KeyValueStore<Uint8Array, Uint8Array>,
    options: WindowStoreOptions<K, V>,
    retentionMs: number,
    sessions: boolean,
  ) {
    this.#inner = inner
    this.sessions = sessions
    this.#options = options
    this.name = inner.name
    this.persistent = inner.persistent
    this.retentionMs = retentionMs
  }

  async init(context: StateStoreContext): Promise<void> {
    this.#keyContext.topic = this.#valueContext.topic = context.changelog?.topic ?? this.name
    await this.#inner.init(context)
  }

  restore(batch: readonly BackendWrite[]): Promise<void> | void {
    return this.#inner.restore?.(batch)
  }

  restoredValue(key: Uint8Array): Promise<Uint8Array | undefined> | Uint8Array | undefined {
    return this.#inner.restoredValue?.(key)
  }

  async changelogCheckpoint(): Promise<{ offset: bigint | undefined } | undefined> {
    return this.#inner.changelogCheckpoint?.()
  }

  flush(commitPoint?: CommitPoint): Promise<void> | void {
    return this.#inner.flush(commitPoint)
  }

  close(): Promise<void> | void {
    return this.#inner.close()
  }

  async get(key: K, window: Window): Promise<V | undefined> {
    const value = await this.#inner.get(this.#dataKey(this.#key(key), window.start, window.end))
    return value === undefined ? undefined : this.#value(value)
  }

  [peekWindow](key: K, window: Window): V | undefined | typeof NOT_CACHED {
    const inner = this.#inner as KeyValueStore<Uint8Array, Uint8Array> &
      Partial<CachePeeking<Uint8Array, Uint8Array>>
    if (inner[peekCached] === undefined) return NOT_CACHED
    const value = inner[peekCached](this.#dataKey(this.#key(key), window.start, window.end))
    return value === NOT_CACHED || value === undefined ? value : this.#value(value)
  }

  [putPeekedWindow](key: K, window: Window, value: V, existed: boolean): Promise<void> {
    try {
      const keyBytes = this.#key(key)
      const written = this.#inner.put(
        this.#dataKey(keyBytes, window.start, window.end),
        this.#serialize(value, window),
      )
      // The index entry never changes once written (see `put`).
      if (existed) return written
      const index = this.#inner.put(indexKey(keyBytes, window.start, window.end), EMPTY)
      return written === index ? written : Promise.all([written, index]).then(() => {})
    } catch (error) {
      return Promise.reject(error)
    }
  }

  async put(key: K, window: Window, value: V): Promise<void> {
    const serialized = this.#serialize(value, window)
    const keyBytes = this.#key(key)
    const data = this.#dataKey(keyBytes, window.start, window.end)
    // The index entry never changes once written: an update of an existing window (a cache hit
    // after the aggregation's own read) writes one entry, and one changelog record, not two.
    const existed = (await this.#inner.get(data)) !== undefined
    await this.#inner.put(data, serialized)
    if (!existed) await this.#inner.put(indexKey(keyBytes, window.start, window.end), EMPTY)
  }

  async delete(key: K, window: Window): Promise<void> {
    await this.#deleteBytes(this.#key(key), window.start, window.end)
  }

  fetch(
    key: K,
    timeFrom: number,
    timeTo: number,
    options: { reverse?: boolean } = {},
  ): AsyncIterableIterator<WindowedEntry<K, V>> {
    const keyBytes = this.#key(key)
    return this.#entries(
      this.#inner.range(dataBound(keyBytes, timeFrom), dataBound(keyBytes, timeTo + 1), options),
      (parsed) => parsed.start <= timeTo,
    )
  }

  fetchAll(
    timeFrom: number,
    timeTo: number,
    options: { reverse?: boolean } = {},
  ): AsyncIterableIterator<WindowedEntry<K, V>> {
    return this.#entries(
      this.#inner.prefixScan(Uint8Array.of(DATA), bytes(), options),
      (parsed) => parsed.start >= timeFrom && parsed.start <= timeTo,
    )
  }

  all(options: { reverse?: boolean } = {}): AsyncIterableIterator<WindowedEntry<K, V>> {
    return this.#entries(this.#inner.prefixScan(Uint8Array.of(DATA), bytes(), options), () => true)
  }

  async *endingBy(time: number): AsyncIterableIterator<WindowedEntry<K, V>> {
    // range() includes its upper bound; index keys of windows ending at `time` sort after [INDEX, time].
    const upper = new Uint8Array(9)
    upper[0] = INDEX
    writeTime(upper, 1, time + 1)
    const lower = Uint8Array.of(INDEX)
    for await (const { key } of this.#inner.range(lower, upper)) {
      const parsed = parseIndex(key)
      if (parsed.end > time) break
      const value = await this.#inner.get(dataKey(parsed.key, parsed.start, parsed.end))
      if (value === undefined) continue
      yield {
        key: this.#deserializeKey(parsed.key),
        window: { start: parsed.start, end: parsed.end },
        value: this.#value(value),
      }
    }
  }

  async expire(streamTime: number): Promise<number> {
    const cutoff = streamTime - this.retentionMs
    const expired: Array<{ key: Uint8Array; start: number; end: number }> = []
    const upper = new Uint8Array(9)
    upper[0] = INDEX
    writeTime(upper, 1, cutoff + 1)
    for await (const { key } of this.#inner.range(Uint8Array.of(INDEX), upper)) {
      const parsed = parseIndex(key)
      if (parsed.end > cutoff) break
      expired.push({ key: new Uint8Array(parsed.key), start: parsed.start, end: parsed.end })
    }
    for (const { key, start, end } of expired) await this.#deleteBytes(key, start, end)
    return expired.length
  }

  async #deleteBytes(key: Uint8Array, start: number, end: number): Promise<void> {
    await this.#inner.delete(dataKey(key, start, end))
    await this.#inner.delete(indexKey(key, start, end))
  }

  async *#entries(
    source: AsyncIterableIterator<{ key: Uint8Array; value: Uint8Array }>,
    keep: (parsed: { start: number; end: number }) => boolean,
  ): AsyncIterableIterator<WindowedEntry<K, V>> {
    for await (const { key, value } of source) {
      if (key[0] !== DATA) continue
      const parsed = parseData(key)
      if (!keep(parsed)) continue
      yield {
        key: this.#deserializeKey(parsed.key),
        window: { start: parsed.start, end: parsed.end },
        value: this.#value(value),
      }
    }
  }

  #key(key: K): Uint8Array {
    // As in the key-value store: a serde may write null as bytes ("null"), merging keyless records.
    if (key === null || key === undefined) {
      throw new StoreError(
        `window store "${this.name}": a ${key === null ? 'null' : 'undefined'} key cannot be stored (a record without a key?); filter such records out or give them a key first`,
        { context: { store: this.name } },
      )
    }
    const remembered = this.#lastKey.get(key)
    if (remembered) return remembered
    const serialized = this.#options.keySerde.serialize(key, this.#keyContext)
    if (serialized === null) {
      throw new StoreError(`window store "${this.name}": a key serialized to null; keys need bytes`, {
        context: { store: this.name },
      })
    }
    this.#lastKey.remember(key, serialized)
    return serialized
  }

  /** A window's value as bytes; the window must end after it starts. */
  #serialize(value: V, window: Window): Uint8Array {
    if (!(window.end > window.start)) {
      throw new StoreError(
        `window store "${this.name}": a window needs end > start, got [${window.start}, ${window.end})`,
        { context: { store: this.name } },
      )
    }
    const serialized = this.#options.valueSerde.serialize(value, this.#valueContext)
    if (serialized === null) {
      throw new StoreError(`window store "${this.name}": a value serialized to null`, {
        context: { store: this.name },
      })
    }
    return serialized
  }

  /** `dataKey`, the same array again for the same key bytes and window (never changed once built). */
  #dataKey(key: Uint8Array, start: number, end: number): Uint8Array {
    const last = this.#lastData
    if (last !== undefined && last.key === key && last.start === start && last.end === end) return last.bytes
    const bytes = dataKey(key, start, end)
    this.#lastData = { key, start, end, bytes }
    return bytes
  }

  #deserializeKey(bytes: Uint8Array): K {
    return this.#options.keySerde.deserialize(bytes, this.#keyContext)
  }

  #value(bytes: Uint8Array): V {
    return this.#options.valueSerde.deserialize(bytes, this.#valueContext)
  }
}
