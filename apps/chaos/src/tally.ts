// What the output shows, checked against the truth: each output record names the occurrence it
// counted and the count it reached. An occurrence the output never names is lost; one it names
// more than once was processed again (at-least-once); a word whose highest count is below its true
// count lost state. Independent of kstreams: it reads only the output's bytes.
import type { Truth } from './workload.js'

export interface TallyReport {
  recordsOut: number
  /** Occurrences of the input that no output record names. */
  lost: number
  /** Output records beyond the first for their occurrence. */
  duplicates: number
  /** Output records naming an occurrence the input does not have (must be 0). */
  unexpected: number
  keys: number
  /** Words whose highest output count equals the truth. */
  keysExact: number
  /** Words whose highest output count is above the truth (occurrences counted twice). */
  keysAbove: number
  /** Words whose highest output count is below the truth, or that never appeared (must be 0). */
  keysShort: number
  /** A few of the short words with their counts, for the report. */
  shortExamples: string[]
  /** A few lost occurrence ids. */
  lostExamples: number[]
}

export class OutputTally {
  readonly #truth: Truth
  readonly #seen: Uint8Array
  readonly #highest = new Map<string, number>()
  #recordsOut = 0
  #distinct = 0
  #unexpected = 0

  constructor(truth: Truth) {
    this.#truth = truth
    this.#seen = new Uint8Array(truth.expected.length)
  }

  /** Adds one output record: key the word, value `<occurrence id> <count>`. */
  add(key: string, value: string): void {
    this.#recordsOut += 1
    const [id, count] = value.split(' ').map(Number) as [number, number]
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(count) || this.#truth.expected[id] !== 1) {
      this.#unexpected += 1
      return
    }
    if (this.#seen[id] === 0) this.#distinct += 1
    if (this.#seen[id]! < 255) this.#seen[id]! += 1
    if (count > (this.#highest.get(key) ?? 0)) this.#highest.set(key, count)
  }

  get recordsOut(): number {
    return this.#recordsOut
  }

  /** Distinct occurrences seen so far. */
  get distinct(): number {
    return this.#distinct
  }

  /** Share of the occurrences seen, 0–1. */
  get progress(): number {
    return this.#truth.occurrences === 0 ? 1 : this.#distinct / this.#truth.occurrences
  }

  get complete(): boolean {
    return this.#distinct === this.#truth.occurrences
  }

  report(): TallyReport {
    let keysExact = 0
    let keysAbove = 0
    const short: string[] = []
    for (const [word, truth] of this.#truth.counts) {
      const highest = this.#highest.get(word) ?? 0
      if (highest === truth) keysExact += 1
      else if (highest > truth) keysAbove += 1
      else short.push(`${word}: ${highest} of ${truth}`)
    }
    const lostExamples: number[] = []
    const expected = this.#truth.expected
    for (let id = 0; id < expected.length && lostExamples.length < 10; id += 1)
      if (expected[id] === 1 && this.#seen[id] === 0) lostExamples.push(id)
    return {
      recordsOut: this.#recordsOut,
      lost: this.#truth.occurrences - this.#distinct,
      duplicates: this.#recordsOut - this.#unexpected - this.#distinct,
      unexpected: this.#unexpected,
      keys: this.#truth.counts.size,
      keysExact,
      keysAbove,
      keysShort: short.length,
      shortExamples: short.slice(0, 10),
      lostExamples,
    }
  }
}
