// The Produce request (versions 9–11) encoded into one buffer, for the @platformatic/kafka
// Producer. The client builds a request from a small Buffer per field (every varint is its own
// allocation, about ten per record) and joins them twice, once to checksum each record batch and
// once to write the request: on a stateful topology that was a fifth of the main thread and much
// of its garbage. Here the request's size is computed first and everything is written into a
// single allocation; the client keeps doing the rest (metadata, leaders, idempotent producer id and
// sequence numbers, retries, the response). The bytes are the client's own, byte for byte (a
// property test compares the two encoders); compressed batches keep the client's encoder.
import {
  type API,
  type Callback,
  crc32c,
  kGetApi,
  Producer,
  produceV9,
  produceV10,
  produceV11,
  Writer,
} from '@platformatic/kafka'

/** A message as the client hands it to its Produce API, after its serializers ran. */
export interface EncodableMessage {
  topic: string
  partition?: number
  key?: Buffer | null
  value?: Buffer | null
  headers?: Map<Buffer, Buffer>
  timestamp?: bigint
}

/** The options the client passes its Produce API. */
export interface ProduceOptions {
  compression?: string
  producerId?: bigint
  producerEpoch?: number
  sequences?: { getWithDefault(key: string, fallback: number): number }
  transactionalId?: string | null
}

type ApiCallback = (error: Error | null, response?: unknown) => void
type ProduceApi = ((connection: Connection, ...args: unknown[]) => void) & {
  key: number
  version: number
}
interface Connection {
  send(
    apiKey: number,
    apiVersion: number,
    createPayload: () => Writer,
    parseResponse: unknown,
    hasRequestHeaderTaggedFields: boolean,
    hasResponseHeaderTaggedFields: boolean,
    callback: ApiCallback,
  ): void
}

const parsers: { [version: number]: unknown } = {
  9: produceV9.parseResponse,
  10: produceV10.parseResponse,
  11: produceV11.parseResponse,
}

const IS_TRANSACTIONAL = 1 << 4
/** Record batch fields before the records: base offset … record count. */
const BATCH_OVERHEAD = 61
/** From the base offset to the attributes, which the checksum starts at. */
const CRC_START = 21

/**
 * A @platformatic/kafka Producer whose Produce requests (versions 9–11, uncompressed) are
 * encoded by `encodeProduceRequest`; anything else goes through the client as it is.
 */
export class SingleBufferProducer<K = Buffer, V = Buffer, HK = Buffer, HV = Buffer> extends Producer<
  K,
  V,
  HK,
  HV
> {
  readonly #wrapped = new WeakMap<ProduceApi, ProduceApi>()

  override [kGetApi]<RequestArguments extends Array<unknown>, ResponseType>(
    name: string,
    callback: Callback<API<RequestArguments, ResponseType>>,
  ): void {
    super[kGetApi]<RequestArguments, ResponseType>(name, (error, api) => {
      const original = api as unknown as ProduceApi | undefined
      if (error || name !== 'Produce' || !original || parsers[original.version] === undefined) {
        callback(error, api)
        return
      }
      let wrapped = this.#wrapped.get(original)
      if (wrapped === undefined) {
        wrapped = singleBufferApi(original)
        this.#wrapped.set(original, wrapped)
      }
      callback(null, wrapped as unknown as API<RequestArguments, ResponseType>)
    })
  }
}

function singleBufferApi(original: ProduceApi): ProduceApi {
  const parse = parsers[original.version]
  const api = (connection: Connection, ...args: unknown[]): void => {
    const callback = args.at(-1) as ApiCallback
    const [acks, timeout, messages, given] = args as [number, number, EncodableMessage[], ProduceOptions?]
    const options = given ?? {}
    if (!encodable(messages, options)) {
      original(connection, ...args)
      return
    }
    connection.send(
      original.key,
      original.version,
      () => encodeProduceRequest(acks, timeout, messages, options),
      parse,
      true,
      true,
      callback,
    )
  }
  api.key = original.key
  api.version = original.version
  return api
}

/** Uncompressed, with Buffers (or nothing) for keys and values (headers are checked as they are laid out). */
function encodable(messages: EncodableMessage[], options: ProduceOptions): boolean {
  if (options.compression !== undefined && options.compression !== 'none') return false
  for (const message of messages) {
    if (message.key != null && !Buffer.isBuffer(message.key)) return false
    if (message.value != null && !Buffer.isBuffer(message.value)) return false
    if (message.headers != null && !(message.headers instanceof Map)) return false
  }
  return true
}

/** Messages grouped as the client groups them: by topic, then by partition (its key order). */
function groupBy<T>(entries: T[], key: (entry: T) => string | number): Array<[string, T[]]> {
  const buckets: { [key: string]: T[] } = Object.create(null)
  for (const entry of entries) {
    const name = key(entry)
    let bucket = buckets[name]
    if (bucket === undefined) {
      bucket = []
      buckets[name] = bucket
    }
    bucket.push(entry)
  }
  return Object.entries(buckets)
}

/**
 * The Produce request body (v9–v11: flexible versions) for `messages`, in one buffer. Like the
 * client, it gives a message without a partition partition 0 and one without a timestamp the
 * time of the call.
 */
export function encodeProduceRequest(
  acks: number,
  timeout: number,
  messages: EncodableMessage[],
  options: ProduceOptions,
): Writer {
  const now = BigInt(Date.now())
  for (const message of messages) {
    message.partition ??= 0
    message.timestamp ??= now
  }
  const topics = groupBy(messages, (message) => message.topic).map(([topic, inTopic]) => ({
    name: Buffer.from(topic),
    partitions: groupBy(inTopic, (message) => message.partition!).map(([partition, batch]) => ({
      index: Number(partition),
      batch,
      ...batchLayout(batch),
    })),
  }))
  const transactionalId =
    options.transactionalId === undefined || options.transactionalId === null
      ? undefined
      : Buffer.from(options.transactionalId)

  let size = compactBytesSize(transactionalId) + 2 + 4 + unsignedVarIntSize(topics.length + 1) + 1
  for (const topic of topics) {
    size += compactBytesSize(topic.name) + unsignedVarIntSize(topic.partitions.length + 1) + 1
    for (const partition of topic.partitions) {
      size += 4 + unsignedVarIntSize(partition.batchBytes + 1) + partition.batchBytes + 1
    }
  }

  const out = Buffer.allocUnsafe(size)
  let at = writeCompactBytes(out, 0, transactionalId)
  at = out.writeInt16BE(acks, at)
  at = out.writeInt32BE(timeout, at)
  at = writeUnsignedVarInt(out, at, topics.length + 1)
  for (const topic of topics) {
    at = writeCompactBytes(out, at, topic.name)
    at = writeUnsignedVarInt(out, at, topic.partitions.length + 1)
    for (const partition of topic.partitions) {
      at = out.writeInt32BE(partition.index, at)
      at = writeUnsignedVarInt(out, at, partition.batchBytes + 1)
      at = writeBatch(out, at, partition.batch, partition, options)
      out[at++] = 0 // the partition's tagged fields
    }
    out[at++] = 0 // the topic's tagged fields
  }
  out[at++] = 0 // the request's tagged fields
  if (at !== size) throw new Error(`produce request encoded to ${at} bytes, expected ${size}`)

  const writer = Writer.create().append(out)
  if (acks === 0) writer.context.noResponse = true
  return writer
}

interface BatchLayout {
  firstTimestamp: bigint
  maxTimestamp: bigint
  /** Each record's size from its attributes to its last header (the record's length field). */
  bodySizes: number[]
  batchBytes: number
}

function batchLayout(batch: EncodableMessage[]): BatchLayout {
  const firstTimestamp = batch[0]!.timestamp!
  let maxTimestamp = firstTimestamp
  const first = Number(firstTimestamp)
  const bodySizes = new Array<number>(batch.length)
  let batchBytes = BATCH_OVERHEAD
  for (let index = 0; index < batch.length; index += 1) {
    const message = batch[index]!
    const timestamp = message.timestamp!
    if (timestamp > maxTimestamp) maxTimestamp = timestamp
    let body =
      1 +
      varIntSize(Number(timestamp) - first) +
      varIntSize(index) +
      bytesFieldSize(message.key) +
      bytesFieldSize(message.value)
    const headers = message.headers
    body += varIntSize(headers?.size ?? 0)
    if (headers) {
      for (const [name, value] of headers) {
        // The port's messages carry Buffers (toMessage); anything else is a bug to report, not to encode.
        if (!Buffer.isBuffer(name) || (value != null && !Buffer.isBuffer(value))) {
          throw new TypeError(`a header of a record for ${message.topic} is not a Buffer`)
        }
        body += bytesFieldSize(name) + bytesFieldSize(value)
      }
    }
    bodySizes[index] = body
    batchBytes += varIntSize(body) + body
  }
  return { firstTimestamp, maxTimestamp, bodySizes, batchBytes }
}

function writeBatch(
  out: Buffer,
  start: number,
  batch: EncodableMessage[],
  layout: BatchLayout,
  options: ProduceOptions,
): number {
  const first = batch[0]!
  const sequence = options.sequences
    ? options.sequences.getWithDefault(`${first.topic}:${first.partition}`, 0)
    : 0
  let at = out.writeBigInt64BE(0n, start) // base offset
  at = out.writeInt32BE(layout.batchBytes - 12, at) // length after this field
  at = out.writeInt32BE(0, at) // partition leader epoch
  at = out.writeInt8(2, at) // magic
  at += 4 // CRC, below
  at = out.writeInt16BE(options.transactionalId ? IS_TRANSACTIONAL : 0, at)
  at = out.writeInt32BE(batch.length - 1, at) // last offset delta
  at = out.writeBigInt64BE(layout.firstTimestamp, at)
  at = out.writeBigInt64BE(layout.maxTimestamp, at)
  at = out.writeBigInt64BE(options.producerId ?? -1n, at)
  at = out.writeInt16BE(options.producerEpoch ?? 0, at)
  at = out.writeInt32BE(sequence, at)
  at = out.writeInt32BE(batch.length, at)
  const firstTimestamp = Number(layout.firstTimestamp)
  for (let index = 0; index < batch.length; index += 1) {
    const message = batch[index]!
    at = writeVarInt(out, at, layout.bodySizes[index]!)
    out[at++] = 0 // attributes
    at = writeVarInt(out, at, Number(message.timestamp!) - firstTimestamp)
    at = writeVarInt(out, at, index)
    at = writeBytesField(out, at, message.key)
    at = writeBytesField(out, at, message.value)
    const headers = message.headers
    at = writeVarInt(out, at, headers?.size ?? 0)
    if (headers) {
      for (const [name, value] of headers) {
        at = writeBytesField(out, at, name)
        at = writeBytesField(out, at, value)
      }
    }
  }
  if (at - start !== layout.batchBytes) {
    throw new Error(`record batch encoded to ${at - start} bytes, expected ${layout.batchBytes}`)
  }
  // The client's checksum, over a one-buffer view (no copy of the batch).
  const checksum = crc32c(Writer.create().append(out.subarray(start + CRC_START, at)).dynamicBuffer)
  out.writeUInt32BE(checksum, start + CRC_START - 4)
  return at
}

// Field encodings. Record fields are zigzag varints (signed), the 64-bit timestamp deltas too
// (numbers: exact below 2^53); request fields are unsigned varints.

function unsignedVarIntSize(value: number): number {
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    size += 1
  }
  return size
}

function writeUnsignedVarInt(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80
    value = Math.floor(value / 0x80)
  }
  out[at++] = value
  return at
}

/** Zigzag of a safe integer, as a (non-negative) number. */
function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1
}

function varIntSize(value: number): number {
  return unsignedVarIntSize(zigzag(value))
}

function writeVarInt(out: Buffer, at: number, value: number): number {
  return writeUnsignedVarInt(out, at, zigzag(value))
}

function bytesFieldSize(bytes: Buffer | null | undefined): number {
  return bytes == null ? 1 : varIntSize(bytes.length) + bytes.length
}

function writeBytesField(out: Buffer, at: number, bytes: Buffer | null | undefined): number {
  if (bytes == null) return writeVarInt(out, at, -1)
  at = writeVarInt(out, at, bytes.length)
  out.set(bytes, at)
  return at + bytes.length
}

/** A COMPACT_NULLABLE_STRING or COMPACT_STRING: length + 1 (0 for null), then the bytes. */
function compactBytesSize(bytes: Buffer | undefined): number {
  return bytes === undefined ? 1 : unsignedVarIntSize(bytes.length + 1) + bytes.length
}

function writeCompactBytes(out: Buffer, at: number, bytes: Buffer | undefined): number {
  if (bytes === undefined) return writeUnsignedVarInt(out, at, 0)
  at = writeUnsignedVarInt(out, at, bytes.length + 1)
  out.set(bytes, at)
  return at + bytes.length
}
