// A small seeded pseudo-random source for the simulation: mulberry32 (a 32-bit state, good enough
// for fault plans, not for cryptography). The same seed gives the same sequence on every platform.

/** Mixes 32-bit integers into one well-spread 32-bit value (the murmur3 finalizer, chained). */
function mix(seed: number, values: readonly number[]): number {
  let hash = seed >>> 0
  for (const value of values) {
    hash = Math.imul(hash ^ (value >>> 0), 0x85ebca6b) >>> 0
    hash ^= hash >>> 13
    hash = Math.imul(hash, 0xc2b2ae35) >>> 0
    hash ^= hash >>> 16
  }
  return hash >>> 0
}

/** The 32-bit hash of a label, to derive independent streams from one seed. */
function labelHash(label: string): number {
  let hash = 0x811c9dc5
  for (let index = 0; index < label.length; index += 1) {
    hash = Math.imul(hash ^ label.charCodeAt(index), 0x01000193) >>> 0
  }
  return hash
}

/**
 * A seeded random sequence.
 *
 * @example
 * const random = new SeededRandom(42)
 * random.int(10)           // 0..9, the same for seed 42 every time
 * random.fork('produce')   // an independent stream, so one kind of draw never shifts another
 */
export class SeededRandom {
  readonly seed: number
  #state: number

  constructor(seed: number) {
    this.seed = seed >>> 0
    this.#state = this.seed
  }

  /** The next value in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let value = this.#state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.next() * max)
  }

  /** An integer in [min, max] (both included). */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** True with probability `probability`. */
  chance(probability: number): boolean {
    return this.next() < probability
  }

  /** An independent stream named `label`, derived from this one's seed (not from its position). */
  fork(label: string): SeededRandom {
    return new SeededRandom(mix(this.seed, [labelHash(label)]))
  }

  /**
   * A value in [0, 1) that depends only on the seed and `values` (not on how many draws came
   * before): for decisions about a given record, which stay the same whatever the interleaving.
   */
  at(...values: number[]): number {
    return mix(this.seed, values) / 4294967296
  }
}
