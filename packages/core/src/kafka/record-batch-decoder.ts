// Decoding of Kafka record batches (magic v2) straight into FetchedRecords. The client's decoder
// builds an object per batch and per record (with BigInt timestamp deltas and a headers array) that
// the fetcher then copied into a FetchedRecord; this one reads each record once, from one contiguous
// Buffer (a partition's records in a Fetch response), and allocates only the FetchedRecord and its
// offset. The views of its key and value are made when they are first read: a record waits in the
// input buffers through many young-generation collections, and two typed-array views (about 100
// bytes of heap each) per waiting record were most of what those collections kept and promoted.
// Compressed batches are decompressed with the client's codecs, then decoded the same way.
import { compressionsAlgorithmsByBitmask } from '@platformatic/kafka'
import { KafkaError } from '../errors.js'
import { decodeHeaderName } from './header-names.js'
import type { FetchedRecord } from './kafka-port.js'

/** firstOffset (int64) + length (int32): what precedes a batch's `length` bytes. */
const BATCH_PREFIX = 12
/** From firstOffset to the record count, inclusive (the batch header). */
const BATCH_HEADER = 61
const COMPRESSION_MASK = 0x07
const LOG_APPEND_TIME = 0x08

const NO_HEADERS: FetchedRecord['headers'] = Object.freeze([])
const EMPTY = Buffer.alloc(0)

/** Offset deltas as BigInts, made once: a batch's records count 0, 1, 2… */
const OFFSET_DELTAS: bigint[] = Array.from({ length: 4096 }, (_, index) => BigInt(index))

function offsetDelta(delta: number): bigint {
  return delta < OFFSET_DELTAS.length ? OFFSET_DELTAS[delta]! : BigInt(delta)
}

/**
 * Reads the record batches of one partition's records bytes in turn: `next` moves to the next
 * complete batch (a truncated one at the end, which the broker may send, is ignored) and fills the
 * header fields (`firstOffset`, `lastOffsetDelta`, `attributes`, `producerId`); `records` decodes
 * its records.
 */
export class RecordBatchReader {
  readonly #bytes: Buffer
  /** Where the current batch's records start and the batch ends. */
  #recordsAt = 0
  #end = 0
  #count = 0
  firstOffset = 0n
  lastOffsetDelta = 0
  attributes = 0
  producerId = -1n
  #firstTimestamp = 0
  #maxTimestamp = 0

  constructor(bytes: Buffer) {
    this.#bytes = bytes
  }

  /** Offset of the current batch's last record. */
  get lastOffset(): bigint {
    return this.firstOffset + BigInt(this.lastOffsetDelta)
  }

  /** Moves to the next complete batch; false when none is left. */
  next(): boolean {
    const bytes = this.#bytes
    const at = this.#end
    if (bytes.length - at < BATCH_PREFIX) return false
    const length = bytes.readInt32BE(at + 8)
    if (bytes.length - at - BATCH_PREFIX < length) return false
    if (length < BATCH_HEADER - BATCH_PREFIX)
      throw new KafkaError(`a fetched record batch is ${length} bytes long, shorter than its header`)
    const magic = bytes[at + 16]!
    if (magic !== 2)
      throw new KafkaError(
        `a fetched record batch has message format v${magic}; only v2 (Kafka 0.11 and later) is supported`,
      )
    this.firstOffset = bytes.readBigInt64BE(at)
    this.attributes = bytes.readInt16BE(at + 21)
    this.lastOffsetDelta = bytes.readInt32BE(at + 23)
    // Timestamps are milliseconds since the epoch: exact as numbers (below 2^53).
    this.#firstTimestamp = Number(bytes.readBigInt64BE(at + 27))
    this.#maxTimestamp = Number(bytes.readBigInt64BE(at + 35))
    this.producerId = bytes.readBigInt64BE(at + 43)
    this.#count = bytes.readInt32BE(at + 57)
    this.#recordsAt = at + BATCH_HEADER
    this.#end = at + BATCH_PREFIX + length
    return true
  }

  /** The key of the current batch's first record (a control batch's marker), or null. */
  firstKey(): Buffer | null {
    if (this.#count === 0) return null
    const cursor = this.#cursor()
    cursor.varint() // length
    cursor.at += 1 // attributes
    cursor.varlong() // timestamp delta
    cursor.varint() // offset delta
    return cursor.bytes()
  }

  /**
   * Appends the current batch's records at or after `from` to `into`, as FetchedRecords of
   * `topic[partition]`.
   */
  records(topic: string, partition: number, from: bigint, into: FetchedRecord[]): void {
    const cursor = this.#cursor()
    const firstOffset = this.firstOffset
    const logAppendTime = (this.attributes & LOG_APPEND_TIME) !== 0
    const batchTime = logAppendTime ? this.#maxTimestamp : this.#firstTimestamp
    for (let index = 0; index < this.#count; index++) {
      const length = cursor.varint()
      const next = cursor.at + length
      cursor.at += 1 // attributes (unused)
      const timestampDelta = cursor.varlong()
      const offset = firstOffset + offsetDelta(cursor.varint())
      if (offset < from) {
        cursor.at = next
        continue
      }
      const keyLength = cursor.skipBytes()
      const keyAt = cursor.at - Math.max(keyLength, 0)
      const valueLength = cursor.skipBytes()
      const valueAt = cursor.at - Math.max(valueLength, 0)
      const headerCount = cursor.varint()
      let headers: FetchedRecord['headers'] = NO_HEADERS
      if (headerCount > 0) {
        const list: Array<readonly [string, Uint8Array | null]> = []
        for (let header = 0; header < headerCount; header++) {
          const name = cursor.bytes()
          list.push([name === null ? '' : decodeHeaderName(name), cursor.bytes()])
        }
        headers = list
      }
      if (cursor.at !== next)
        throw new KafkaError(
          `a fetched record of ${topic}[${partition}] at offset ${offset} declares ${length} bytes but holds ${length + cursor.at - next}`,
        )
      into.push(
        new DecodedRecord(
          topic,
          partition,
          offset,
          logAppendTime ? batchTime : batchTime + timestampDelta,
          headers,
          cursor.buffer,
          keyAt,
          keyLength,
          valueAt,
          valueLength,
        ),
      )
    }
  }

  /** A cursor over the current batch's records, decompressed first if the batch is compressed. */
  #cursor(): Cursor {
    const compression = this.attributes & COMPRESSION_MASK
    if (compression === 0) return new Cursor(this.#bytes, this.#recordsAt)
    const codec = compressionsAlgorithmsByBitmask[compression]
    if (!codec)
      throw new KafkaError(
        `a fetched record batch uses an unknown compression codec (attribute bits ${compression})`,
      )
    const compressed = this.#bytes.subarray(this.#recordsAt, this.#end)
    return new Cursor(codec.decompressSync(compressed) as Buffer, 0)
  }
}

/**
 * A fetched record whose key and value stay positions in the fetched bytes until read; each is
 * viewed once, on its first read. A length of -1 is null.
 */
class DecodedRecord implements FetchedRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  readonly timestamp: number
  readonly headers: FetchedRecord['headers']
  readonly #buffer: Buffer
  readonly #keyAt: number
  readonly #keyLength: number
  readonly #valueAt: number
  readonly #valueLength: number
  #key: Buffer | null | undefined
  #value: Buffer | null | undefined

  constructor(
    topic: string,
    partition: number,
    offset: bigint,
    timestamp: number,
    headers: FetchedRecord['headers'],
    buffer: Buffer,
    keyAt: number,
    keyLength: number,
    valueAt: number,
    valueLength: number,
  ) {
    this.topic = topic
    this.partition = partition
    this.offset = offset
    this.timestamp = timestamp
    this.headers = headers
    this.#buffer = buffer
    this.#keyAt = keyAt
    this.#keyLength = keyLength
    this.#valueAt = valueAt
    this.#valueLength = valueLength
  }

  get key(): Buffer | null {
    if (this.#key === undefined) this.#key = view(this.#buffer, this.#keyAt, this.#keyLength)
    return this.#key
  }

  get value(): Buffer | null {
    if (this.#value === undefined) this.#value = view(this.#buffer, this.#valueAt, this.#valueLength)
    return this.#value
  }

  get payloadBytes(): number {
    return Math.max(this.#keyLength, 0) + Math.max(this.#valueLength, 0)
  }
}

function view(buffer: Buffer, at: number, length: number): Buffer | null {
  return length < 0 ? null : length === 0 ? EMPTY : buffer.subarray(at, at + length)
}

/** Reads Kafka's zigzag varints and length-prefixed bytes from a Buffer. */
class Cursor {
  readonly buffer: Buffer
  at: number

  constructor(buffer: Buffer, at: number) {
    this.buffer = buffer
    this.at = at
  }

  /** A zigzag varint of up to 32 bits. */
  varint(): number {
    const buffer = this.buffer
    let value = 0
    let shift = 0
    let byte: number
    do {
      if (this.at >= buffer.length) throw truncated()
      byte = buffer[this.at++]!
      value |= (byte & 0x7f) << shift
      shift += 7
    } while (byte & 0x80 && shift < 35)
    return (value >>> 1) ^ -(value & 1)
  }

  /** A zigzag varint of up to 64 bits, as a number (exact for magnitudes below 2^53). */
  varlong(): number {
    const buffer = this.buffer
    let value = 0
    let scale = 1
    let byte: number
    do {
      if (this.at >= buffer.length) throw truncated()
      byte = buffer[this.at++]!
      value += (byte & 0x7f) * scale
      scale *= 128
    } while (byte & 0x80 && scale <= 2 ** 63)
    // Zigzag: even values are non-negative, odd ones negative.
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2
  }

  /** Skips bytes prefixed by a varint length; returns the length (-1: null). */
  skipBytes(): number {
    const length = this.varint()
    if (length > 0) {
      this.at += length
      if (this.at > this.buffer.length) throw truncated()
    }
    return length
  }

  /** Bytes prefixed by a varint length (-1: null), as a view of the buffer. */
  bytes(): Buffer | null {
    const length = this.varint()
    if (length < 0) return null
    if (length === 0) return EMPTY
    const start = this.at
    this.at += length
    if (this.at > this.buffer.length) throw truncated()
    return this.buffer.subarray(start, this.at)
  }
}

function truncated(): KafkaError {
  return new KafkaError('a fetched record batch ends in the middle of a record')
}
