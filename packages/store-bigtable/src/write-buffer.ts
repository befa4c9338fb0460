// The writes of one store of one task that have not reached Bigtable yet: the latest value or a
// tombstone per key, kept in the unsigned byte order of the keys for merged scans. A flush takes a
// snapshot of the entries, writes them, and then forgets only those that were not written again
// meanwhile, so a write that lands during a flush is kept for the next one.

/** A buffered write: `value: null` is a tombstone (the key is deleted). */
export interface BufferedEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

/** Bytes an entry is counted for besides its key and value (the map entry, the objects). */
const entryOverheadBytes = 64

/** A key as a string whose code units are its bytes: strings then compare as the bytes do. */
function idOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

export class WriteBuffer {
  readonly #entries = new Map<string, BufferedEntry>()
  #sortedIds: string[] | undefined
  #bytes = 0

  /** Number of buffered keys (puts and tombstones). */
  get size(): number {
    return this.#entries.size
  }

  /** What the buffered entries take, roughly, in bytes. */
  get bytes(): number {
    return this.#bytes
  }

  /** Buffers a put (`value`) or a delete (`null`) of `key`; the caller passes copies it no longer changes. */
  set(key: Uint8Array, value: Uint8Array | null): void {
    const id = idOf(key)
    const previous = this.#entries.get(id)
    if (previous === undefined) {
      this.#sortedIds = undefined
    } else {
      this.#bytes -= sizeOf(previous)
    }
    const entry: BufferedEntry = { key, value }
    this.#entries.set(id, entry)
    this.#bytes += sizeOf(entry)
  }

  /** The buffered entry of `key`: a value, a tombstone, or undefined when the key is not buffered. */
  get(key: Uint8Array): BufferedEntry | undefined {
    return this.#entries.get(idOf(key))
  }

  /** Every buffered entry, in no particular order. */
  entries(): BufferedEntry[] {
    return [...this.#entries.values()]
  }

  /**
   * The buffered entries with `from <= key < to`, in byte order (or reverse), as they are now:
   * later writes do not change the array.
   */
  range(from: Uint8Array | undefined, to: Uint8Array | undefined, reverse: boolean): BufferedEntry[] {
    const ids = this.#sorted()
    const start = from === undefined ? 0 : lowerBound(ids, idOf(from))
    const end = to === undefined ? ids.length : lowerBound(ids, idOf(to))
    const selected: BufferedEntry[] = []
    for (let index = start; index < end; index += 1) selected.push(this.#entries.get(ids[index]!)!)
    return reverse ? selected.reverse() : selected
  }

  /** Forgets the entries of `written` that are still the latest write of their key. */
  forget(written: readonly BufferedEntry[]): void {
    for (const entry of written) {
      const id = idOf(entry.key)
      if (this.#entries.get(id) === entry) {
        this.#entries.delete(id)
        this.#bytes -= sizeOf(entry)
        this.#sortedIds = undefined
      }
    }
  }

  #sorted(): string[] {
    // Plain string comparison, not localeCompare: code unit order is byte order here.
    this.#sortedIds ??= [...this.#entries.keys()].sort((left, right) =>
      left < right ? -1 : left > right ? 1 : 0,
    )
    return this.#sortedIds
  }
}

function sizeOf(entry: BufferedEntry): number {
  return entry.key.length + (entry.value?.length ?? 0) + entryOverheadBytes
}

/** The index of the first id not below `id`. */
function lowerBound(ids: readonly string[], id: string): number {
  let low = 0
  let high = ids.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (ids[middle]! < id) low = middle + 1
    else high = middle
  }
  return low
}
