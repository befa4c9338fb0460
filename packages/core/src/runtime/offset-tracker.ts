// Tracks which offsets of one input partition are done, allowing out-of-order completion: the
// committable offset is the lowest offset still in flight (or one past the last done), so a
// commit never covers a record whose effects are not yet complete.

export class OffsetTracker {
  /** Offsets begun and not yet released, in ascending order. */
  readonly #inFlight: bigint[] = []
  readonly #done = new Set<bigint>()
  #next: bigint | undefined
  #committed: bigint | undefined

  /** Marks `offset` as started. Offsets must begin in ascending order. */
  begin(offset: bigint): void {
    this.#inFlight.push(offset)
  }

  /** Marks `offset` as done: processed and everything it caused handed to the producer or stores. */
  complete(offset: bigint): void {
    if (this.#inFlight[0] === offset) {
      this.#inFlight.shift()
      this.#next = offset + 1n
      while (this.#inFlight.length > 0 && this.#done.delete(this.#inFlight[0]!)) {
        this.#next = this.#inFlight.shift()! + 1n
      }
    } else {
      this.#done.add(offset)
    }
  }

  /** The offset to commit (next to read), or undefined when nothing new completed since the last commit. */
  committable(): bigint | undefined {
    if (this.#next === undefined || this.#next === this.#committed) return undefined
    return this.#next
  }

  /**
   * Offsets completed above the lowest one still in flight, ascending: with out-of-order
   * completion, a restart from the committed offset can skip them (commit metadata carries them).
   */
  completedAbove(): bigint[] {
    if (this.#done.size === 0) return []
    return [...this.#done].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0))
  }

  /** Number of offsets begun and not yet released. */
  get inFlight(): number {
    return this.#inFlight.length
  }

  markCommitted(offset: bigint): void {
    this.#committed = offset
  }
}
