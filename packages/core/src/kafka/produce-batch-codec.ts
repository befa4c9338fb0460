// A batch of records to produce, packed into ONE ArrayBuffer so that it crosses to the producer
// thread in a transfer list: no structured clone of thousands of record objects, and the worker
// reads keys, values and headers as Buffers over that same memory, without copying them.
//
// Layout (little endian):
//   u32 topic count, then per topic: i32 byte length, UTF-8 name
//   u32 record count, then per record:
//     u8 flags (1: partition set, 2: timestamp set), u32 topic index,
//     i32 partition (when set), f64 timestamp (when set),
//     key and value: i32 byte length (-1: null), bytes,
//     u32 header count, per header: i32 name byte length, name bytes (encodeHeaderName),
//     i32 value byte length (-1: null), bytes
import { decodeHeaderName, encodeHeaderName } from './header-names.js'
import type { ProduceRecord } from './kafka-port.js'

const PARTITION = 1
const TIMESTAMP = 2
const NULL = -1

const encoder = new TextEncoder()

/** Encoded header names: changelogs and dead letters repeat a few names on every record. */
const names = new Map<string, Uint8Array>()

function encodedName(name: string): Uint8Array {
  let bytes = names.get(name)
  if (bytes === undefined) {
    // As the producer encodes them: a name kept from bytes that are not UTF-8 gets its bytes back.
    bytes = encodeHeaderName(name)
    // Names an application makes up per record must not grow the map without bound.
    if (names.size < 1024) names.set(name, bytes)
  }
  return bytes
}

/**
 * Packs `records` into an ArrayBuffer of at least the bytes they take, from `allocate` (a new
 * one by default; an ArrayBuffer, never a slice of Node's Buffer pool, so that it can be
 * transferred). Bytes past the records are left as they are: unpacking stops after the last record.
 */
export function packRecords(
  records: readonly ProduceRecord[],
  allocate: (bytes: number) => ArrayBuffer = (bytes) => new ArrayBuffer(bytes),
): ArrayBuffer {
  const topics = new Map<string, number>()
  const topicBytes: Uint8Array[] = []
  let size = 8
  for (const record of records) {
    if (!topics.has(record.topic)) {
      topics.set(record.topic, topics.size)
      const bytes = encoder.encode(record.topic)
      topicBytes.push(bytes)
      size += 4 + bytes.byteLength
    }
    size += 1 + 4 + 8 + 4 + (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0)
    if (record.partition !== undefined) size += 4
    if (record.timestamp !== undefined) size += 8
    if (record.headers)
      for (const [name, value] of record.headers)
        size += 8 + encodedName(name).byteLength + (value?.byteLength ?? 0)
  }
  const buffer = allocate(size)
  if (buffer.byteLength < size)
    throw new RangeError(
      `packing ${records.length} record(s) takes ${size} bytes, got a buffer of ${buffer.byteLength}`,
    )
  const view = new DataView(buffer)
  const bytes = new Uint8Array(buffer)
  let at = 0
  const u32 = (value: number) => {
    view.setUint32(at, value, true)
    at += 4
  }
  const chunk = (value: Uint8Array | null) => {
    if (value === null) {
      view.setInt32(at, NULL, true)
      at += 4
      return
    }
    view.setInt32(at, value.byteLength, true)
    at += 4
    bytes.set(value, at)
    at += value.byteLength
  }
  u32(topicBytes.length)
  for (const name of topicBytes) chunk(name)
  u32(records.length)
  for (const record of records) {
    const hasPartition = record.partition !== undefined
    const hasTimestamp = record.timestamp !== undefined
    view.setUint8(at, (hasPartition ? PARTITION : 0) | (hasTimestamp ? TIMESTAMP : 0))
    at += 1
    u32(topics.get(record.topic)!)
    if (hasPartition) {
      view.setInt32(at, record.partition!, true)
      at += 4
    }
    if (hasTimestamp) {
      view.setFloat64(at, record.timestamp!, true)
      at += 8
    }
    chunk(record.key)
    chunk(record.value)
    const headers = record.headers ?? []
    u32(headers.length)
    for (const [name, value] of headers) {
      chunk(encodedName(name))
      chunk(value)
    }
  }
  return buffer
}

/**
 * The records packed in `buffer`. Keys, values and header values are Buffers over `buffer` (no
 * copies): the caller must not reuse the memory while they are in use.
 */
export function unpackRecords(buffer: ArrayBuffer): ProduceRecord[] {
  const view = new DataView(buffer)
  let at = 0
  const u32 = () => {
    const value = view.getUint32(at, true)
    at += 4
    return value
  }
  const chunk = (): Buffer | null => {
    const length = view.getInt32(at, true)
    at += 4
    if (length === NULL) return null
    const bytes = Buffer.from(buffer, at, length)
    at += length
    return bytes
  }
  const topics: string[] = []
  for (let count = u32(); topics.length < count; ) topics.push(chunk()!.toString('utf8'))
  const count = u32()
  const records: ProduceRecord[] = new Array(count)
  for (let index = 0; index < count; index += 1) {
    const flags = view.getUint8(at)
    at += 1
    const record: ProduceRecord = { topic: topics[u32()]!, key: null, value: null }
    if (flags & PARTITION) {
      record.partition = view.getInt32(at, true)
      at += 4
    }
    if (flags & TIMESTAMP) {
      record.timestamp = view.getFloat64(at, true)
      at += 8
    }
    record.key = chunk()
    record.value = chunk()
    const headerCount = u32()
    if (headerCount > 0) {
      const headers: Array<readonly [string, Uint8Array | null]> = []
      for (let header = 0; header < headerCount; header += 1) {
        const name = decodeHeaderName(chunk()!)
        headers.push([name, chunk()])
      }
      record.headers = headers
    }
    records[index] = record
  }
  return records
}
