// Tracks which offsets of one input partition are done, allowing out-of-order completion: the
// committable offset is the lowest offset still in flight (or one past the last done), so a
// commit never covers a record whose effects are not yet complete. It also counts the runs of
// consecutive done offsets above that point, which bound the size of their encoding in the commit
// metadata cheaply (see `encodedBound`).

export class OffsetTracker {
  /**
   * Offsets begun and not yet released, in ascending order, from `#head` up to `#tail` (a queue).
   * Its slots are reused once it drains, so a partition processed one record at a time allocates
   * nothing here per record.
   */
  readonly #inFlight: bigint[] = []
  #head = 0
  #tail = 0
  readonly #done = new Set<bigint>()
  /** Runs of consecutive offsets in `#done`. */
  #runs = 0
  #highestDone = -1n
  #next: bigint | undefined
  #committed: bigint | undefined
  #committedVersion = -1
  /** Bumped on every change of the done offsets above the committable one. */
  version = 0

  /** Marks `offset` as started. Offsets must begin in ascending order. */
  begin(offset: bigint): void {
    if (this.#tail === this.#inFlight.length) this.#inFlight.push(offset)
    else this.#inFlight[this.#tail] = offset
    this.#tail += 1
  }

  /** Marks `offset` as done: processed and everything it caused handed to the producer or stores. */
  complete(offset: bigint): void {
    this.version += 1
    if (this.#head < this.#tail && this.#inFlight[this.#head] === offset) {
      this.#shift()
      this.#next = offset + 1n
      while (this.#head < this.#tail && this.#done.has(this.#inFlight[this.#head]!)) {
        const done = this.#shift()
        this.#remove(done)
        this.#next = done + 1n
      }
    } else {
      this.#done.add(offset)
      this.#runs += 1 - (this.#done.has(offset - 1n) ? 1 : 0) - (this.#done.has(offset + 1n) ? 1 : 0)
      if (offset > this.#highestDone) this.#highestDone = offset
    }
  }

  /**
   * The offset to commit (next to read: the lowest incomplete one), or undefined when nothing
   * completed since the last commit. A change of the offsets done above it alone is worth a
   * commit too (the same offset, a new completed-offset map), so a restart can skip them.
   */
  committable(): bigint | undefined {
    const position = this.position
    if (position === undefined) return undefined
    if (position === this.#committed && (this.#done.size === 0 || this.version === this.#committedVersion))
      return undefined
    if (this.#next === undefined && this.#done.size === 0) return undefined
    return position
  }

  /**
   * Offsets completed above the lowest one still in flight, ascending: with out-of-order
   * completion, a restart from the committed offset can skip them (commit metadata carries them).
   */
  completedAbove(): bigint[] {
    if (this.#done.size === 0) return []
    return [...this.#done].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0))
  }

  /** The offset a commit would cover up to now (the lowest incomplete one), whether committed already or not. */
  get position(): bigint | undefined {
    return this.#next ?? this.lowestIncomplete
  }

  /** Runs of consecutive offsets in `completedAbove()`. */
  get completedRuns(): number {
    return this.#runs
  }

  /**
   * An upper bound of the characters the shorter encoding of `completedAbove()` takes, without
   * sorting: the run-length one ("2-5,9,12-40": each run at most two distances, a dash and a
   * comma) or the bitset (exact).
   */
  encodedBound(): number {
    if (this.#runs === 0) return 0
    return Math.min(this.#runsBound(), this.encodedBitsBound())
  }

  /** The characters of the bitset form (base64, bit d-1 for distance d): exact but for padding. */
  encodedBitsBound(): number {
    if (this.#runs === 0) return 0
    const span = Number(this.#highestDone - (this.position ?? 0n))
    return Math.ceil(Math.ceil(span / 8) / 3) * 4
  }

  #runsBound(): number {
    const base = this.position ?? 0n
    const digits = String(this.#highestDone - base).length
    return this.#runs * (2 * digits + 2)
  }

  /** The lowest offset begun and not done: the record a commit waits for. */
  get lowestIncomplete(): bigint | undefined {
    return this.#head < this.#tail ? this.#inFlight[this.#head] : undefined
  }

  /** Offsets done above the lowest incomplete one. */
  get completedCount(): number {
    return this.#done.size
  }

  /** Number of offsets begun and not yet released. */
  get inFlight(): number {
    return this.#tail - this.#head
  }

  /** Records that `offset` was committed, with the done offsets as they were at `version`. */
  markCommitted(offset: bigint, version = this.version): void {
    this.#committed = offset
    this.#committedVersion = version
  }

  /** Releases the lowest offset in flight; the array drops released ones now and then, not each time. */
  #shift(): bigint {
    const offset = this.#inFlight[this.#head]!
    this.#head += 1
    if (this.#head === this.#tail) {
      this.#head = 0
      this.#tail = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#tail) {
      this.#inFlight.copyWithin(0, this.#head, this.#tail)
      this.#tail -= this.#head
      this.#head = 0
    }
    return offset
  }

  #remove(offset: bigint): void {
    this.#done.delete(offset)
    this.#runs -= 1 - (this.#done.has(offset - 1n) ? 1 : 0) - (this.#done.has(offset + 1n) ? 1 : 0)
    if (this.#done.size === 0) this.#highestDone = -1n
  }
}
