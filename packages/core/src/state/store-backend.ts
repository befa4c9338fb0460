// The byte-level contract every storage adapter implements. Typed stores, the record cache, the
// changelog and window stores are layers on top of it, so an adapter only moves bytes in key order.
import type { CommitPoint, OwnershipToken } from '../commit-point.js'

/** A value that may be returned directly or as a Promise; callers always `await` it. */
export type Awaitable<T> = T | Promise<T>

/** One entry of a scan, in byte order of `key`. */
export interface BackendEntry {
  key: Uint8Array
  value: Uint8Array
}

/** One write of a batch: `value: null` deletes the key. */
export interface BackendWrite {
  key: Uint8Array
  value: Uint8Array | null
}

/** Bounds and direction of a scan. Keys compare as unsigned bytes, shorter first on a tie. */
export interface BackendRangeOptions {
  /** Smallest key included. @default no lower bound */
  from?: Uint8Array
  /** First key excluded. @default no upper bound */
  to?: Uint8Array
  /** Largest key first. Only when `capabilities.reverseRange` is true. @default false */
  reverse?: boolean
}

/**
 * What a backend can do. A backend declares what it cannot do here and never fakes it; the
 * conformance suite skips (and reports) the cases a backend declares unsupported.
 */
export interface BackendCapabilities {
  /**
   * True when the data outlives the process: it is still there when the backend is opened again on
   * the same directory (local disk) or service.
   */
  persistent: boolean
  /** Scans with `reverse: true`. */
  reverseRange: boolean
  /** Largest key accepted, in bytes. @default no limit (undefined) */
  maxKeyBytes?: number
  /** Largest value accepted, in bytes. @default no limit (undefined) */
  maxValueBytes?: number
}

/** Where a backend is opened: one store of one task. */
export interface BackendContext {
  applicationId: string
  /** `<subtopology>_<partition>`. */
  taskId: string
  partition: number
  storeName: string
  /**
   * A directory that belongs to this store of this task, `<stateDir>/<applicationId>/<taskId>/<store>`.
   * For persistent backends it exists and is locked against other instances on this host; they
   * keep their files here, and the runtime deletes it to throw the local state away.
   */
  directory: string
  /**
   * Who owns the task now. A remote or object-storage backend stores it with what it writes and
   * refuses (with a `FencedError`, code `KSTREAMS_FENCED`) writes from an owner older than the one
   * it has seen, so a zombie instance cannot overwrite its successor's state.
   */
  ownership: OwnershipToken
  /**
   * The store's changelog topic (its partition is `partition`); undefined when logging is off. A
   * backend that implements `changelogCheckpoint` finds its entry in `CommitPoint.changelogs` by it.
   */
  changelogTopic?: string
}

/**
 * A byte-level key-value backend for one store of one task.
 *
 * Operations of one backend are issued one at a time or concurrently by the layers above; a
 * backend must apply `write` batches in the order they were issued and make each one visible to
 * reads that start after it resolved.
 *
 * @example
 * const backend = await createMemoryBackend().open(context)
 * await backend.write([{ key: bytes('a'), value: bytes('1') }])
 * for await (const { key, value } of backend.range({ from: bytes('a') })) console.log(key, value)
 */
export interface StoreBackend {
  /** Version of this contract the backend implements. */
  readonly contractVersion: 1
  readonly capabilities: BackendCapabilities
  /** The value of `key`, or undefined. */
  get(key: Uint8Array): Awaitable<Uint8Array | undefined>
  /** Values of `keys`, in the same order. */
  getMany(keys: readonly Uint8Array[]): Awaitable<Array<Uint8Array | undefined>>
  /** Applies puts and deletes in order, as one batch. */
  write(batch: readonly BackendWrite[]): Awaitable<void>
  /**
   * Entries in byte order of their keys (or reverse byte order). Writes made while a scan runs may
   * or may not be seen by it, but the scan never fails or repeats a key because of them.
   */
  range(options?: BackendRangeOptions): Iterable<BackendEntry> | AsyncIterable<BackendEntry>
  /** The number of keys, possibly approximate (exact for in-memory). */
  approximateCount(): Awaitable<number>
  /**
   * Makes every write that resolved so far durable. A no-op when `persistent` is false. At a
   * commit, `commitPoint` says which input offsets the flushed state covers; the offsets are
   * committed only after every store's flush resolved.
   */
  flush(commitPoint?: CommitPoint): Awaitable<void>
  /**
   * For a backend that keeps its data off this host (object storage, a remote database), with a
   * changelog: the changelog offset its durable data covers, as recorded at its last flush
   * (`CommitPoint.changelogs`), or undefined when it has none. The runtime then restores the
   * changelog from there on a new host instead of from the start; a local checkpoint is not
   * needed. Backends that keep their data on local disk leave it out (the runtime's checkpoint
   * file vouches for them).
   */
  changelogCheckpoint?(): Awaitable<bigint | undefined>
  /** Releases files and connections. The backend is not used afterwards. */
  close(): Awaitable<void>
}

/**
 * Opens backends: one per store per task. Store builders take a factory.
 *
 * @example
 * stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend: createLmdbBackend() })
 */
export interface StoreBackendFactory {
  /** Short name for errors and `describe()`, e.g. `memory` or `lmdb`. */
  readonly name: string
  /** The `capabilities.persistent` of the backends it opens, known before any is opened. */
  readonly persistent: boolean
  open(context: BackendContext): Awaitable<StoreBackend>
}

/** Compares keys as unsigned bytes (the order every backend scans in). */
export function compareBytes(left: Uint8Array, right: Uint8Array): number {
  return Buffer.compare(left, right)
}

/**
 * The smallest key greater than every key that starts with `prefix`, or undefined when there is
 * none (the prefix is all 0xff): the exclusive upper bound of a prefix scan.
 */
export function prefixUpperBound(prefix: Uint8Array): Uint8Array | undefined {
  for (let index = prefix.length - 1; index >= 0; index -= 1) {
    if (prefix[index]! < 0xff) {
      // A copy (Buffer's slice would be a view, and the bound would change the caller's prefix).
      const bound = new Uint8Array(prefix.subarray(0, index + 1))
      bound[index] = prefix[index]! + 1
      return bound
    }
  }
  return undefined
}
