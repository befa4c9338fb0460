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
  // The keys in byte order, rebuilt when a key was added or removed since the last scan.
  #sorted: string[] | undefined = []

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
      this.#sorted = undefined
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
    this.#sorted ??= [...this.#entries.keys()].sort()
    const sorted = this.#sorted
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
        this.#sorted = undefined
      }
    }
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
