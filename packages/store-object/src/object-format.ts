// The binary format of segments and snapshots: a fixed header, length-prefixed records (a put or
// a tombstone), and a CRC-32 of everything before it, so that a damaged or truncated object is
// reported instead of applied.
//
//   offset  size  field
//   0       4     magic "KSOB"
//   4       1     format version (1)
//   5       1     kind: 1 segment (changes), 2 snapshot (every key)
//   6       2     reserved, 0
//   8       4     record count (uint32 BE)
//   12      ...   records: flag (uint8: 0 put, 1 tombstone), key length (uint32 BE), key,
//                 then for a put: value length (uint32 BE), value
//   end-4   4     CRC-32 (node:zlib crc32) of bytes 0 .. end-4, uint32 BE
import { crc32 } from 'node:zlib'

export const objectFormatVersion = 1
const magic = Buffer.from('KSOB', 'latin1')
const headerBytes = 12
const trailerBytes = 4
const putFlag = 0
const tombstoneFlag = 1

export type ObjectKind = 'segment' | 'snapshot'
const kindCodes: Record<ObjectKind, number> = { segment: 1, snapshot: 2 }

/** One record of a segment (value null: the key was deleted) or of a snapshot (never null). */
export interface ObjectRecord {
  key: Uint8Array
  value: Uint8Array | null
}

/** Why an object cannot be decoded. The engine wraps it into a StoreError naming the object. */
export class ObjectFormatError extends Error {}

/** The encoded size of `records`, header and checksum included. */
export function encodedSize(records: readonly ObjectRecord[]): number {
  let size = headerBytes + trailerBytes
  for (const { key, value } of records) size += recordSize(key, value)
  return size
}

export function recordSize(key: Uint8Array, value: Uint8Array | null): number {
  return 1 + 4 + key.length + (value === null ? 0 : 4 + value.length)
}

/** Encodes records into one object of `kind`. */
export function encodeObject(kind: ObjectKind, records: readonly ObjectRecord[]): Buffer {
  if (records.length > 0xffff_ffff) throw new RangeError(`too many records for one object: ${records.length}`)
  const buffer = Buffer.allocUnsafe(encodedSize(records))
  magic.copy(buffer, 0)
  buffer.writeUInt8(objectFormatVersion, 4)
  buffer.writeUInt8(kindCodes[kind], 5)
  buffer.writeUInt16BE(0, 6)
  buffer.writeUInt32BE(records.length, 8)
  let offset = headerBytes
  for (const { key, value } of records) {
    buffer.writeUInt8(value === null ? tombstoneFlag : putFlag, offset)
    buffer.writeUInt32BE(key.length, offset + 1)
    buffer.set(key, offset + 5)
    offset += 5 + key.length
    if (value !== null) {
      buffer.writeUInt32BE(value.length, offset)
      buffer.set(value, offset + 4)
      offset += 4 + value.length
    }
  }
  buffer.writeUInt32BE(crc32(buffer.subarray(0, offset)), offset)
  return buffer
}

/**
 * Decodes an object, checking magic, version, kind, checksum and framing.
 * @throws ObjectFormatError saying what is wrong
 */
export function decodeObject(kind: ObjectKind, bytes: Uint8Array): ObjectRecord[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buffer.length < headerBytes + trailerBytes) {
    throw new ObjectFormatError(
      `${buffer.length} bytes, too few for a ${kind} (at least ${headerBytes + trailerBytes})`,
    )
  }
  if (!buffer.subarray(0, 4).equals(magic)) throw new ObjectFormatError('it does not start with "KSOB"')
  const version = buffer.readUInt8(4)
  if (version !== objectFormatVersion) {
    throw new ObjectFormatError(`format version ${version}, this version reads ${objectFormatVersion}`)
  }
  const kindCode = buffer.readUInt8(5)
  if (kindCode !== kindCodes[kind])
    throw new ObjectFormatError(`kind ${kindCode}, expected ${kindCodes[kind]} (${kind})`)
  const end = buffer.length - trailerBytes
  const stored = buffer.readUInt32BE(end)
  const computed = crc32(buffer.subarray(0, end))
  if (stored !== computed) {
    throw new ObjectFormatError(
      `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(computed)}): the object is damaged`,
    )
  }
  const count = buffer.readUInt32BE(8)
  const records: ObjectRecord[] = new Array(count)
  let offset = headerBytes
  for (let index = 0; index < count; index += 1) {
    if (offset + 5 > end) throw new ObjectFormatError(`record ${index} of ${count} runs past the end`)
    const flag = buffer.readUInt8(offset)
    const keyLength = buffer.readUInt32BE(offset + 1)
    offset += 5
    if (offset + keyLength > end) throw new ObjectFormatError(`the key of record ${index} runs past the end`)
    const key = buffer.subarray(offset, offset + keyLength)
    offset += keyLength
    if (flag === tombstoneFlag) {
      if (kind === 'snapshot')
        throw new ObjectFormatError(`record ${index} is a tombstone, which a snapshot never holds`)
      records[index] = { key, value: null }
      continue
    }
    if (flag !== putFlag) throw new ObjectFormatError(`record ${index} has flag ${flag}`)
    if (offset + 4 > end) throw new ObjectFormatError(`the value length of record ${index} runs past the end`)
    const valueLength = buffer.readUInt32BE(offset)
    offset += 4
    if (offset + valueLength > end)
      throw new ObjectFormatError(`the value of record ${index} runs past the end`)
    records[index] = { key, value: buffer.subarray(offset, offset + valueLength) }
    offset += valueLength
  }
  if (offset !== end)
    throw new ObjectFormatError(`${end - offset} byte(s) after the last of ${count} records`)
  return records
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}
