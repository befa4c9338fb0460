// An ordered map over binary-string keys (one char per byte, see `toKey`): string comparison of
// such keys is unsigned byte order. A Map serves point reads; a list of sorted chunks keeps the
// order with O(chunk) inserts, so restoring or filling a million keys stays linear-ish, and scans
// re-seek after every step so they tolerate writes while they run.

const CHUNK = 512

/** The longest key read byte by byte into its string (see `toKey`). */
const SHORT_KEY = 64

export function toKey(bytes: Uint8Array): string {
  if (bytes instanceof Buffer) return bytes.toString('latin1')
  // A small typed array made with `new Uint8Array(n)` keeps its bytes on V8's heap; reading its
  // `.buffer` would move them into a new off-heap buffer first (what a window store's key costs
  // most). Char codes from its bytes need no buffer; larger arrays always have one.
  if (bytes.byteLength <= SHORT_KEY) return String.fromCharCode.apply(null, bytes as unknown as number[])
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

export function fromKey(key: string): Buffer {
  return Buffer.from(key, 'latin1')
}

export class SortedKeyMap<V> {
  readonly #values = new Map<string, V>()
  #chunks: string[][] = []

  get size(): number {
    return this.#values.size
  }

  get(key: string): V | undefined {
    return this.#values.get(key)
  }

  has(key: string): boolean {
    return this.#values.has(key)
  }

  set(key: string, value: V): void {
    if (!this.#values.has(key)) this.#insert(key)
    this.#values.set(key, value)
  }

  delete(key: string): boolean {
    if (!this.#values.delete(key)) return false
    const chunkIndex = this.#chunkFor(key)
    const chunk = this.#chunks[chunkIndex]!
    chunk.splice(lowerBound(chunk, key), 1)
    if (chunk.length === 0) this.#chunks.splice(chunkIndex, 1)
    return true
  }

  clear(): void {
    this.#values.clear()
    this.#chunks = []
  }

  /** Keys in `[from, to)` in order (or reverse order), with their values at the time each is reached. */
  *entries(from?: string, to?: string, reverse = false): Generator<[string, V]> {
    let cursor: string | undefined
    for (;;) {
      const key = reverse ? this.#before(cursor ?? to) : this.#after(cursor, from)
      if (key === undefined) return
      if (reverse ? from !== undefined && key < from : to !== undefined && key >= to) return
      cursor = key
      yield [key, this.#values.get(key)!]
    }
  }

  /** The smallest key > `cursor` (or >= `from` when there is no cursor yet). */
  #after(cursor: string | undefined, from: string | undefined): string | undefined {
    const chunks = this.#chunks
    if (chunks.length === 0) return undefined
    const inclusive = cursor === undefined
    const bound = cursor ?? from
    if (bound === undefined) return chunks[0]![0]
    let chunkIndex = this.#chunkFor(bound)
    while (chunkIndex < chunks.length) {
      const chunk = chunks[chunkIndex]!
      let index = lowerBound(chunk, bound)
      if (!inclusive && chunk[index] === bound) index += 1
      if (index < chunk.length) return chunk[index]
      chunkIndex += 1
    }
    return undefined
  }

  /** The largest key < `bound` (or the largest key when there is no bound). */
  #before(bound: string | undefined): string | undefined {
    const chunks = this.#chunks
    if (chunks.length === 0) return undefined
    if (bound === undefined) {
      const last = chunks[chunks.length - 1]!
      return last[last.length - 1]
    }
    let chunkIndex = this.#chunkFor(bound)
    while (chunkIndex >= 0) {
      const chunk = chunks[chunkIndex]!
      const index = lowerBound(chunk, bound) - 1
      if (index >= 0) return chunk[index]
      chunkIndex -= 1
    }
    return undefined
  }

  #insert(key: string): void {
    const chunks = this.#chunks
    if (chunks.length === 0) {
      chunks.push([key])
      return
    }
    const chunkIndex = this.#chunkFor(key)
    const chunk = chunks[chunkIndex]!
    chunk.splice(lowerBound(chunk, key), 0, key)
    if (chunk.length > CHUNK * 2) chunks.splice(chunkIndex + 1, 0, chunk.splice(CHUNK))
  }

  /** Index of the chunk whose range holds `key`: the first chunk whose last key is >= key, else the last. */
  #chunkFor(key: string): number {
    const chunks = this.#chunks
    let low = 0
    let high = chunks.length - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      const chunk = chunks[middle]!
      if (chunk[chunk.length - 1]! < key) low = middle + 1
      else high = middle
    }
    return low
  }
}

/** The first index whose key is >= `key`. */
function lowerBound(sorted: string[], key: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle]! < key) low = middle + 1
    else high = middle
  }
  return low
}
