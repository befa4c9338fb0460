// The writes of one task's store that Redis has not received yet: the latest value (or a tombstone)
// per key, with the bytes they hold, and the keys in byte order on demand for merged range scans.
// Keys are held as latin1 strings: one character per byte, so that JavaScript's string order is
// the contract's unsigned byte order (shorter key first on a shared prefix).

/** A buffered write: `value: null` is a tombstone (the key is deleted at the next write-down). */
export interface BufferedWrite {
  readonly key: Buffer
  readonly value: Buffer | null
}

// What a buffered entry costs besides its bytes (map slot, objects); keeps many tiny writes bounded too.
const entryOverheadBytes = 64

export class WriteBuffer {
  readonly #entries = new Map<string, BufferedWrite>()
  #bytes = 0
  // The keys in byte order as of the last scan, and the keys added since (sorted and merged in by
  // the next scan: a scan after k new keys costs k log k plus the merge, not a full sort).
  #sorted: string[] = []
  #added: string[] = []

  /** Number of keys with a buffered put or tombstone. */
  get size(): number {
    return this.#entries.size
  }

  /** Bytes the buffer holds (keys, values and a fixed overhead per entry). */
  get bytes(): number {
    return this.#bytes
  }

  /** Buffers a put (`value` a Buffer) or a delete (`value` null). Takes ownership of both buffers. */
  set(key: Buffer, value: Buffer | null): void {
    const id = key.toString('latin1')
    const previous = this.#entries.get(id)
    if (previous === undefined) {
      this.#added.push(id)
      this.#bytes += entryOverheadBytes + key.length
    } else {
      this.#bytes -= previous.value?.length ?? 0
    }
    this.#entries.set(id, { key, value })
    this.#bytes += value?.length ?? 0
  }

  /** The buffered write of `key`, or undefined when the buffer has none (Redis has the answer). */
  lookup(key: Uint8Array): BufferedWrite | undefined {
    return this.#entries.get(latin1(key))
  }

  /** Every buffered write, in the order keys were first buffered. */
  writes(): IterableIterator<BufferedWrite> {
    return this.#entries.values()
  }

  /**
   * The buffered writes with keys in `[from, to)`, in byte order (or reverse), as a snapshot: later
   * changes to the buffer do not change the returned array.
   */
  between(from: Uint8Array | undefined, to: Uint8Array | undefined, reverse: boolean): BufferedWrite[] {
    const sorted = this.#sortedKeys()
    const start = from === undefined ? 0 : lowerBound(sorted, latin1(from))
    const end = to === undefined ? sorted.length : lowerBound(sorted, latin1(to))
    const selected: BufferedWrite[] = []
    for (let index = start; index < end; index += 1) selected.push(this.#entries.get(sorted[index]!)!)
    return reverse ? selected.reverse() : selected
  }

  /**
   * Puts back writes that could not be written down, under the ones buffered since: a key written
   * again meanwhile keeps its newer value.
   */
  restoreUnder(older: WriteBuffer): void {
    for (const [id, write] of older.#entries) {
      if (!this.#entries.has(id)) {
        this.#entries.set(id, write)
        this.#bytes += entryOverheadBytes + write.key.length + (write.value?.length ?? 0)
        this.#added.push(id)
      }
    }
  }

  #sortedKeys(): string[] {
    if (this.#added.length === 0) return this.#sorted
    const added = this.#added.sort()
    this.#added = []
    const sorted = this.#sorted
    const merged: string[] = new Array(sorted.length + added.length)
    let left = 0
    let right = 0
    for (let index = 0; index < merged.length; index += 1) {
      merged[index] =
        right >= added.length || (left < sorted.length && sorted[left]! < added[right]!)
          ? sorted[left++]!
          : added[right++]!
    }
    this.#sorted = merged
    return merged
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** Index of the first element of `sorted` that is not below `value`. */
function lowerBound(sorted: readonly string[], value: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle]! < value) low = middle + 1
    else high = middle
  }
  return low
}
