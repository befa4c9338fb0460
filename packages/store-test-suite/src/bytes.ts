// Byte helpers of the suite. Assertions compare hex strings rather than Uint8Arrays, because a
// backend may return a Buffer for a Uint8Array that was written (or the reverse) and
// assert.deepStrictEqual tells those apart; hex also makes the failure diffs readable.
import type { BackendEntry } from '@kstreams/core'

const encoder = new TextEncoder()

/** The UTF-8 bytes of `value`. */
export function text(value: string): Uint8Array {
  return encoder.encode(value)
}

/** A key or value made of the given byte values. */
export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values)
}

/** A copy that shares no memory with `value` (Buffer#slice would share it). */
export function copyBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value)
}

export function hex(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
}

/** `hex(value)`, or the word `missing` for undefined, so that a missing value never equals an empty one. */
export function hexOrMissing(value: Uint8Array | undefined): string {
  return value === undefined ? 'missing' : `0x${hex(value)}`
}

/** Entries as `key=value` hex pairs, the form scans are compared in. */
export function entryPairs(entries: readonly BackendEntry[]): string[] {
  return entries.map(({ key, value }) => `${hex(key)}=${hexOrMissing(value)}`)
}

/** A deterministic generator of numbers in [0, 1): a failing case can be reproduced run after run. */
export function createRandom(seed: number): () => number {
  // Marsaglia's xorshift32: tiny and good enough to spread keys, and never 0 with a non-zero seed.
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 0x1_0000_0000
  }
}

/** `length` bytes drawn from `random`: deterministic content for large values. */
export function randomBytes(random: () => number, length: number): Uint8Array {
  const result = new Uint8Array(length)
  for (let index = 0; index < length; index += 1) result[index] = Math.floor(random() * 256)
  return result
}

/** The index of the first differing byte, or -1 when the arrays are equal. */
export function firstDifference(left: Uint8Array, right: Uint8Array): number {
  const length = Math.min(left.length, right.length)
  for (let index = 0; index < length; index += 1) {
    if (left[index] !== right[index]) return index
  }
  return left.length === right.length ? -1 : length
}
