// A persistent backend on LMDB (through lmdb-js): one environment per store per task, in the
// directory the runtime gives the store, with binary keys and values so that LMDB's own key order
// (memcmp, shorter first) is the unsigned byte order of the contract.
import {
  type BackendCapabilities,
  type BackendContext,
  type BackendEntry,
  type BackendRangeOptions,
  type BackendWrite,
  type StoreBackend,
  type StoreBackendFactory,
  StoreError,
} from '@kstreams/core'
import { open, type RangeOptions, type RootDatabase } from 'lmdb'
import { checkDataFile } from './data-file.js'

/**
 * The longest key lmdb-js stores: it caps LMDB's own limit (derived from the page size) at 1978
 * bytes when no page size is configured, and this backend configures none.
 */
export const lmdbMaxKeyBytes = 1978

const capabilities: BackendCapabilities = Object.freeze({
  persistent: true,
  reverseRange: true,
  maxKeyBytes: lmdbMaxKeyBytes,
})

export interface LmdbBackendOptions {
  /**
   * Initial size of the memory map in bytes. lmdb-js grows the map as the data grows, so this
   * only saves the first remaps of a store that is known to become large.
   * @default 131072 (lmdb-js' starting size, grown on demand)
   */
  mapSize?: number
}

// keyEncoding and encoding 'binary': keys and values are bytes both ways.
type Database = RootDatabase<Uint8Array, Uint8Array>

export class LmdbBackend implements StoreBackend {
  readonly contractVersion = 1 as const
  readonly capabilities = capabilities
  readonly #database: Database
  readonly #context: BackendContext
  #closing: Promise<void> | undefined

  private constructor(database: Database, context: BackendContext) {
    this.#database = database
    this.#context = context
  }

  /**
   * Opens (or creates) the environment in `context.directory`.
   * @throws StoreError naming the store, the task and the directory when LMDB cannot open it
   */
  static open(context: BackendContext, options: LmdbBackendOptions = {}): LmdbBackend {
    const where = `LMDB store "${context.storeName}" of task ${context.taskId} in ${context.directory}`
    const errorContext = { store: context.storeName, taskId: context.taskId, directory: context.directory }
    let damage: string | undefined
    try {
      damage = checkDataFile(context.directory)
    } catch (cause) {
      throw new StoreError(`cannot open ${where}: ${messageOf(cause)}`, { cause, context: errorContext })
    }
    if (damage !== undefined) {
      const cause = new Error(damage)
      throw new StoreError(`cannot open ${where}: the data file is damaged (${damage})`, {
        cause,
        context: errorContext,
      })
    }
    try {
      const database = open<Uint8Array, Uint8Array>({
        path: context.directory,
        // Without it lmdb-js takes a directory name with a dot ("counts.v2") for a file name.
        noSubdir: false,
        keyEncoding: 'binary',
        encoding: 'binary',
        ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
      })
      return new LmdbBackend(database, context)
    } catch (cause) {
      throw new StoreError(`cannot open ${where}: ${messageOf(cause)}`, { cause, context: errorContext })
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    // LMDB cannot hold such keys (and lmdb-js throws on them): they are missing by definition.
    if (key.length === 0 || key.length > lmdbMaxKeyBytes) return undefined
    // getBinary copies the value out of the memory map, so the caller may keep it.
    return this.#database.getBinary(key)
  }

  getMany(keys: readonly Uint8Array[]): Array<Uint8Array | undefined> {
    return keys.map((key) => this.get(key))
  }

  async write(batch: readonly BackendWrite[]): Promise<void> {
    if (batch.length === 0) return
    // Checked before anything is queued, so that a bad write rejects the whole batch.
    for (const { key } of batch) this.#checkKey(key)
    const database = this.#database
    // One lmdb-js batch is one write transaction: the batch is atomic, and its operations apply in
    // order. lmdb-js reads values when its write thread commits, so values are copied now, all
    // into one buffer (one allocation per batch, not one per value); keys are encoded into its own
    // buffer by put and remove.
    let valueBytes = 0
    for (const { value } of batch) if (value !== null) valueBytes += value.byteLength
    const copies = Buffer.allocUnsafeSlow(valueBytes)
    let at = 0
    await database.batch(() => {
      for (const { key, value } of batch) {
        if (value === null) {
          void database.remove(key)
          continue
        }
        const copy = copies.subarray(at, at + value.byteLength)
        copy.set(value)
        at += value.byteLength
        void database.put(key, copy)
      }
    })
  }

  *range(options: BackendRangeOptions = {}): Generator<BackendEntry> {
    const bounds = lmdbRange(options)
    if (bounds === undefined) return
    // lmdb-js iterates a read snapshot taken when the scan starts: writes made meanwhile are not
    // seen, and keys are never repeated. Keys and values come as copies.
    for (const { key, value } of this.#database.getRange(bounds)) yield { key, value }
  }

  approximateCount(): number {
    // mdb_stat's entry count: exact, and read in constant time.
    return (this.#database.getStats() as { entryCount: number }).entryCount
  }

  async flush(): Promise<void> {
    // Resolves once every commit so far is synced to disk (lmdb-js commits before it syncs).
    await this.#database.flushed
  }

  close(): Promise<void> {
    // lmdb-js waits for queued writes before it closes the environment.
    this.#closing ??= this.#database.close()
    return this.#closing
  }

  #checkKey(key: Uint8Array): void {
    if (key.length === 0 || key.length > lmdbMaxKeyBytes) {
      const context = this.#context
      throw new StoreError(
        `LMDB store "${context.storeName}" of task ${context.taskId} cannot hold a key of ${key.length} bytes (keys are 1 to ${lmdbMaxKeyBytes} bytes)`,
        { context: { store: context.storeName, taskId: context.taskId } },
      )
    }
  }
}

/**
 * The lmdb-js range of `[from, to)` in the requested direction, or undefined when it is empty.
 *
 * lmdb-js scans from `start` towards `end`: start is included unless exclusiveStart, end excluded
 * unless inclusiveEnd. A reverse scan therefore starts at `to` (excluded) and ends at `from`
 * (included). A bound longer than any key LMDB can hold cannot be sought, so it is replaced by its
 * first lmdbMaxKeyBytes bytes: no storable key lies between the two, only the inclusion changes.
 */
function lmdbRange(options: BackendRangeOptions): RangeOptions | undefined {
  const { from, to } = options
  if (to !== undefined && (to.length === 0 || (from !== undefined && Buffer.compare(from, to) >= 0))) {
    return undefined
  }
  // An empty `from` is below every key: no lower bound.
  const lower = from === undefined || from.length === 0 ? undefined : seekable(from, true)
  const upper = to === undefined ? undefined : seekable(to, false)
  if (options.reverse === true) {
    return {
      reverse: true,
      ...(upper === undefined ? {} : { start: upper.key, exclusiveStart: !upper.inclusive }),
      // Without an end, a reverse lmdb-js scan stops before its default first key [0x00] and so
      // misses the key 0x00. Every key LMDB holds is at least [0x00], so that bound, included, is exact.
      ...(lower === undefined
        ? { end: smallestKey, inclusiveEnd: true }
        : { end: lower.key, inclusiveEnd: lower.inclusive }),
    }
  }
  return {
    ...(lower === undefined ? {} : { start: lower.key, exclusiveStart: !lower.inclusive }),
    ...(upper === undefined ? {} : { end: upper.key, inclusiveEnd: upper.inclusive }),
  }
}

const smallestKey = Uint8Array.of(0x00)

/** A bound as a key LMDB can seek to, and whether that key itself is in the range. */
function seekable(bound: Uint8Array, inclusive: boolean): { key: Uint8Array; inclusive: boolean } {
  if (bound.length <= lmdbMaxKeyBytes) return { key: bound, inclusive }
  // The prefix sorts before the bound, and every storable key above the prefix is above the
  // bound too: a lower bound now excludes the prefix, an upper bound now includes it.
  return { key: bound.subarray(0, lmdbMaxKeyBytes), inclusive: !inclusive }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Persistent LMDB backends: each store of each task gets an LMDB environment in its directory.
 *
 * @example
 * stores.keyValue('counts', {
 *   keySerde: serdes.string(),
 *   valueSerde: serdes.int64(),
 *   backend: createLmdbBackend(),
 * })
 */
export function createLmdbBackend(options: LmdbBackendOptions = {}): StoreBackendFactory {
  return {
    name: 'lmdb',
    persistent: true,
    open: (context) => LmdbBackend.open(context, options),
  }
}
