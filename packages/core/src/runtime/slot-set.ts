// A set of objects that each know their slot in it: add, delete and has in O(1) with no allocation
// once warmed up. For sets that gain and lose an entry per record: V8 reallocates a Set's or Map's
// table when a delete leaves it nearly empty, which with one entry in flight is every record.

export interface Slotted {
  /** The entry's index in the SlotSet holding it, or -1; only the set changes it. */
  slot: number
}

export class SlotSet<T extends Slotted> {
  readonly #entries: T[] = []

  get size(): number {
    return this.#entries.length
  }

  has(entry: T): boolean {
    return entry.slot >= 0 && this.#entries[entry.slot] === entry
  }

  add(entry: T): void {
    if (this.has(entry)) return
    entry.slot = this.#entries.length
    this.#entries.push(entry)
  }

  /** Removes `entry`; false when it was not in the set. The last entry takes its slot. */
  delete(entry: T): boolean {
    if (!this.has(entry)) return false
    const last = this.#entries.pop()!
    if (last !== entry) {
      this.#entries[entry.slot] = last
      last.slot = entry.slot
    }
    entry.slot = -1
    return true
  }

  /** The entries as they are now, in no particular order: not to be changed while walked. */
  live(): readonly T[] {
    return this.#entries
  }

  /** The entries, in no particular order; a copy, so the set may change while it is walked. */
  values(): T[] {
    return this.#entries.slice()
  }
}
