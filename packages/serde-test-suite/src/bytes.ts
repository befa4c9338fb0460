// Byte and value helpers of the suite: deterministic random bytes, hex, and short descriptions of
// values and bytes for failure messages (a 1 MiB value printed in full would bury the message).
import { inspect } from 'node:util'

const encoder = new TextEncoder()

/** The UTF-8 bytes of `value`. */
export function text(value: string): Uint8Array {
  return encoder.encode(value)
}

export function hex(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
}

/** A deterministic generator of numbers in [0, 1): a failing case can be reproduced run after run. */
export function createRandom(seed: number): () => number {
  // Marsaglia's xorshift32: tiny, and never 0 with a non-zero seed.
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

/** `length` bytes drawn from `random`. */
export function randomBytes(random: () => number, length: number): Uint8Array {
  const result = new Uint8Array(length)
  for (let index = 0; index < length; index += 1) result[index] = Math.floor(random() * 256)
  return result
}

/** `bytes` as `N byte(s) 0x…`, showing at most the first 32 bytes. */
export function describeBytes(bytes: Uint8Array): string {
  const shown = bytes.subarray(0, 32)
  const more = bytes.byteLength > shown.byteLength ? '…' : ''
  return `${bytes.byteLength} byte(s) 0x${hex(shown)}${more}`
}

/** A one-line description of any value, cut short for large ones. */
export function describeValue(value: unknown): string {
  return inspect(value, {
    depth: 4,
    maxArrayLength: 16,
    maxStringLength: 80,
    breakLength: Number.POSITIVE_INFINITY,
  })
}
