// Small byte helpers shared by the stores: big-endian integers without BigInt or DataView
// allocations (hot path), and the serialized bytes of the last primitive key.

const TWO_32 = 2 ** 32

export function writeUint32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24
  target[offset + 1] = (value >>> 16) & 0xff
  target[offset + 2] = (value >>> 8) & 0xff
  target[offset + 3] = value & 0xff
}

export function readUint32(source: Uint8Array, offset: number): number {
  return (
    ((source[offset]! << 24) >>> 0) +
    (source[offset + 1]! << 16) +
    (source[offset + 2]! << 8) +
    source[offset + 3]!
  )
}

/** A safe integer as 8 bytes big-endian two's complement (Kafka's long). */
export function writeInt64(target: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / TWO_32)
  writeUint32(target, offset, high >>> 0)
  writeUint32(target, offset + 4, value - high * TWO_32)
}

export function readInt64(source: Uint8Array, offset: number): number {
  return (readUint32(source, offset) | 0) * TWO_32 + readUint32(source, offset + 4)
}

/**
 * The serialized bytes of the last primitive key, and the same bytes as a binary string (the
 * record cache's key). A read-modify-write serializes one key twice in a row; a string, number or
 * bigint cannot change in between, so the second call reuses the bytes.
 */
export class LastKeyBytes<K> {
  #key: K | undefined
  #bytes: Uint8Array | undefined
  #binary: string | undefined

  get(key: K): Uint8Array | undefined {
    return key === this.#key ? this.#bytes : undefined
  }

  binary(key: K): string | undefined {
    return key === this.#key ? this.#binary : undefined
  }

  /** `byIdentity`: also remember an object key (the caller never changes a key it passed). */
  remember(key: K, bytes: Uint8Array, binary?: string, byIdentity = false): void {
    const kind = typeof key
    if (kind === 'string' || kind === 'number' || kind === 'bigint' || (byIdentity && kind === 'object')) {
      this.#key = key
      this.#bytes = bytes
      this.#binary = binary
    }
  }
}

/** True when every char of `text` is ASCII (then its UTF-8 bytes, one char per byte, are `text`). */
export function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) if (text.charCodeAt(index) > 0x7f) return false
  return true
}
