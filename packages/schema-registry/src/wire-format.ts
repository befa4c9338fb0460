// The Confluent wire format: one magic byte 0x00, the schema id as a 4-byte big-endian integer, then
// the payload. Protobuf payloads are preceded by the message indexes: the path of the message type
// inside its .proto file, as zig-zag varints (a count, then the indexes), where the path [0] (the
// first top-level message, by far the most common) is abbreviated to the single byte 0.
import { SerdeError } from '@kstreams/core'

/** The first byte of every record in the Confluent wire format. */
export const magicByte = 0x00

/** Bytes before the payload: the magic byte and the 4-byte schema id. */
export const wireFormatHeaderBytes = 5

/** The largest schema id: registries hand out positive 32-bit signed integers (Java `int`). */
export const maxSchemaId = 0x7fffffff

/** A record in the Confluent wire format, split into its parts. */
export interface WireFormat {
  /** The registry id of the schema the payload was written with. */
  schemaId: number
  /** The bytes after the header: a view into the input, not a copy. */
  payload: Uint8Array
}

/**
 * Frames `payload` in the Confluent wire format: the magic byte 0x00, `schemaId` as 4 bytes
 * big-endian, then the payload.
 *
 * @param schemaId - the registry id of the schema `payload` was written with, 0 to 2³¹−1
 * @param payload - the encoded value (for Protobuf: the message indexes followed by the message)
 * @returns a new array of `payload.byteLength + 5` bytes
 * @throws SerdeError when `schemaId` is not an integer from 0 to 2³¹−1
 *
 * @example
 * encodeWireFormat(7, Uint8Array.of(0x02, 0x61)) // → 00 00 00 00 07 02 61
 */
export function encodeWireFormat(schemaId: number, payload: Uint8Array): Uint8Array {
  checkSchemaId(schemaId)
  const out = new Uint8Array(wireFormatHeaderBytes + payload.byteLength)
  out[0] = magicByte
  new DataView(out.buffer).setUint32(1, schemaId)
  out.set(payload, wireFormatHeaderBytes)
  return out
}

/**
 * Splits bytes in the Confluent wire format into the schema id and the payload.
 *
 * @param bytes - a record key or value written by a registry-aware serializer
 * @returns the schema id and a view of the payload (no copy)
 * @throws SerdeError when the input is shorter than the 5-byte header or does not start with the
 *   magic byte 0x00 (for example, plain JSON or Avro written without a registry)
 *
 * @example
 * const { schemaId, payload } = decodeWireFormat(bytes)
 */
export function decodeWireFormat(bytes: Uint8Array): WireFormat {
  if (bytes.byteLength < wireFormatHeaderBytes) {
    throw new SerdeError(
      `not in the schema registry wire format: ${bytes.byteLength} byte(s), fewer than the ${wireFormatHeaderBytes}-byte header (magic byte and schema id)`,
    )
  }
  const first = bytes[0]!
  if (first !== magicByte) {
    throw new SerdeError(
      `not in the schema registry wire format: the first byte is 0x${hexByte(first)}, not the magic byte 0x00${guessFormat(first)}`,
    )
  }
  const schemaId = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1)
  return { schemaId, payload: bytes.subarray(wireFormatHeaderBytes) }
}

/** Protobuf message indexes read from the start of a payload. */
export interface MessageIndexesRead {
  /** The path of the message type in its .proto file: `[0]` is the first top-level message. */
  indexes: number[]
  /** How many bytes the indexes took: the Protobuf message starts at this offset. */
  byteLength: number
}

/**
 * Encodes a Protobuf message-index path the way Confluent serializers do: a zig-zag varint count
 * followed by each index as a zig-zag varint, except that `[0]` is the single byte 0.
 *
 * @param indexes - the path of the message type in its .proto file: the index of the top-level
 *   message, then of each nested message down to the type itself; never empty
 * @throws SerdeError when `indexes` is empty or holds something other than integers from 0 to 2³¹−1
 *
 * @example
 * encodeMessageIndexes([0]) // → 00
 * encodeMessageIndexes([1]) // → 02 02
 * encodeMessageIndexes([0, 2]) // → 04 00 04
 */
export function encodeMessageIndexes(indexes: readonly number[]): Uint8Array {
  if (indexes.length === 0) {
    throw new SerdeError('message indexes cannot be empty: a message type has at least its top-level index')
  }
  for (const index of indexes) {
    if (!Number.isInteger(index) || index < 0 || index > maxSchemaId) {
      throw new SerdeError(`message index ${index} is not an integer from 0 to ${maxSchemaId}`)
    }
  }
  if (indexes.length === 1 && indexes[0] === 0) return Uint8Array.of(0)
  const out: number[] = []
  writeZigZagVarint(out, indexes.length)
  for (const index of indexes) writeZigZagVarint(out, index)
  return Uint8Array.from(out)
}

/**
 * Reads the Protobuf message indexes at the start of a payload (the bytes after the 5-byte header).
 *
 * @param bytes - the payload from {@link decodeWireFormat}
 * @returns the index path and how many bytes it took
 * @throws SerdeError when the indexes are truncated, a varint is longer than 32 bits, or a count or
 *   index is negative or larger than the input could hold
 *
 * @example
 * const { payload } = decodeWireFormat(bytes)
 * const { indexes, byteLength } = decodeMessageIndexes(payload)
 * const message = payload.subarray(byteLength)
 */
export function decodeMessageIndexes(bytes: Uint8Array): MessageIndexesRead {
  const position = { offset: 0 }
  const count = readZigZagVarint(bytes, position, 'count')
  if (count === 0) return { indexes: [0], byteLength: position.offset }
  // Each index takes at least one byte: a larger count can only come from garbage, and checking it
  // first keeps a corrupt count from allocating a huge array.
  if (count < 0 || count > bytes.byteLength - position.offset) {
    throw new SerdeError(
      `invalid message indexes: a count of ${count} with ${bytes.byteLength - position.offset} byte(s) left`,
    )
  }
  const indexes: number[] = []
  for (let i = 0; i < count; i++) {
    const index = readZigZagVarint(bytes, position, `index ${i}`)
    if (index < 0) throw new SerdeError(`invalid message indexes: index ${i} is negative (${index})`)
    indexes.push(index)
  }
  return { indexes, byteLength: position.offset }
}

function checkSchemaId(schemaId: number): void {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > maxSchemaId) {
    throw new SerdeError(`schema id ${schemaId} is not an integer from 0 to ${maxSchemaId}`)
  }
}

function writeZigZagVarint(out: number[], value: number): void {
  // Zig-zag maps 0, -1, 1, -2… to 0, 1, 2, 3…; values here are never negative, so it is a doubling.
  // Arithmetic rather than bit operators: a doubled 2³¹−1 does not fit in a 32-bit signed integer.
  let rest = value * 2
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
}

function readZigZagVarint(bytes: Uint8Array, position: { offset: number }, what: string): number {
  let result = 0
  let multiplier = 1
  // A zig-zag encoded 32-bit integer takes at most 5 bytes.
  for (let length = 1; length <= 5; length++) {
    const byte = bytes[position.offset]
    if (byte === undefined) {
      throw new SerdeError(`invalid message indexes: the input ends inside the ${what}`)
    }
    position.offset++
    result += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) {
      if (result > 0xffffffff) break
      // Undo the zig-zag: even values are non-negative, odd ones negative.
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2
    }
    multiplier *= 0x80
  }
  throw new SerdeError(`invalid message indexes: the ${what} is longer than a 32-bit varint`)
}

function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}

// A hint for a common mistake: pointing a registry serde at a topic of plain JSON.
function guessFormat(first: number): string {
  if (first === 0x7b || first === 0x5b) return ' (it looks like plain JSON)'
  return ''
}
