// The record batch decoder against the client's own decoder: the same records (offsets, timestamps,
// keys, values, headers) for any run of batches, compressed or not, with CreateTime or
// LogAppendTime, from any starting offset, with a truncated batch at the end (as brokers send);
// and clear errors for batches it cannot read.
import { createRecordsBatch, type MessageRecord, Reader, readRecordsBatches } from '@platformatic/kafka'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KStreamsError } from '../src/errors.js'
import type { FetchedRecord } from '../src/kafka/kafka-port.js'
import { RecordBatchReader } from '../src/kafka/record-batch-decoder.js'

const bytes = fc.uint8Array({ maxLength: 200 }).map((array) => Buffer.from(array))
const optionalBytes = fc.option(bytes, { nil: undefined })
const message = fc.record(
  {
    key: optionalBytes,
    value: optionalBytes,
    headers: fc
      .array(fc.tuple(fc.string({ maxLength: 10 }), bytes), { maxLength: 3 })
      .map((entries) => new Map(entries.map(([name, value]) => [Buffer.from(name), value]))),
    // The client's own decoder is right within ±2^31 ms of a batch's first timestamp.
    timestamp: fc.bigInt({ min: 1_700_000_000_000n, max: 1_700_000_000_000n + 2n ** 31n - 1n }),
  },
  { requiredKeys: ['timestamp', 'headers'] },
)
const compression = fc.constantFrom('none', 'gzip', 'snappy', 'lz4', 'zstd')
const batchSpec = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 12 }),
  compression,
  gap: fc.bigInt({ min: 0n, max: 5000n }),
  logAppendTime: fc.boolean(),
})

const LOG_APPEND_TIME = 0x08

/** Batches as a broker sends them: consecutive first offsets (with gaps, as compaction leaves). */
type BatchSpec = typeof batchSpec extends fc.Arbitrary<infer T> ? T : never

function encode(specs: BatchSpec[], firstOffset: bigint): Buffer {
  const parts: Buffer[] = []
  let offset = firstOffset
  for (const spec of specs) {
    const batch = createRecordsBatch(
      // An absent key or value is a null one on the wire (the client's type requires a value).
      spec.messages.map((entry) => ({
        ...entry,
        topic: 't',
        headers: new Map(entry.headers),
      })) as MessageRecord[],
      { compression: spec.compression as 'none' },
    ).buffer
    // firstOffset (bytes 0–7) and the timestamp type (attributes, bytes 21–22) lie outside what the
    // checksum covers or are not checked by either decoder: set them as a broker would.
    batch.writeBigInt64BE(offset, 0)
    if (spec.logAppendTime) batch.writeInt16BE(batch.readInt16BE(21) | LOG_APPEND_TIME, 21)
    parts.push(batch)
    offset += BigInt(spec.messages.length) + spec.gap
  }
  return Buffer.concat(parts)
}

function decode(buffer: Buffer, from: bigint): FetchedRecord[] {
  const reader = new RecordBatchReader(buffer)
  const records: FetchedRecord[] = []
  while (reader.next()) reader.records('t', 3, from, records)
  return records
}

/** The same records through the client's decoder. */
function reference(buffer: Buffer, from: bigint): FetchedRecord[] {
  const records: FetchedRecord[] = []
  for (const batch of readRecordsBatches(Reader.from(buffer))) {
    const logAppendTime = (batch.attributes & LOG_APPEND_TIME) !== 0
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta)
      if (offset < from) continue
      records.push({
        topic: 't',
        partition: 3,
        offset,
        timestamp: Number(logAppendTime ? batch.maxTimestamp : batch.firstTimestamp + record.timestampDelta),
        key: record.key,
        value: record.value,
        headers: record.headers.map(([name, value]) => [name?.toString('utf8') ?? '', value] as const),
      })
    }
  }
  return records
}

function comparable(records: FetchedRecord[]) {
  const hex = (value: Uint8Array | null) => (value === null ? null : Buffer.from(value).toString('hex'))
  return records.map((record) => ({
    ...record,
    key: hex(record.key),
    value: hex(record.value),
    headers: record.headers.map(([name, value]) => [name, hex(value)]),
  }))
}

describe('RecordBatchReader', () => {
  it('decodes what the client decodes, for any batches, codecs, timestamp types and start offset', () => {
    fc.assert(
      fc.property(
        fc.array(batchSpec, { minLength: 1, maxLength: 5 }),
        fc.bigInt({ min: 0n, max: 2n ** 50n }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 70 }),
        (specs, firstOffset, skip, truncatedBytes) => {
          const complete = encode(specs, firstOffset)
          // A broker may end a response in the middle of a batch: a partial copy of the first one.
          const buffer = Buffer.concat([complete, complete.subarray(0, truncatedBytes)])
          const from = firstOffset + BigInt(skip)
          const expected = reference(complete, from)
          const decoded = decode(buffer, from)
          expect(comparable(decoded)).toEqual(comparable(expected))
          // The size the input buffers count is known without making the views.
          for (const record of decoded) {
            expect(record.payloadBytes).toBe((record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('reads the batch header fields and a control batch first key', () => {
    const buffer = encode(
      [
        {
          messages: [{ key: Buffer.from([0, 0, 0, 1]), timestamp: 5n, headers: new Map() }],
          compression: 'none',
          gap: 0n,
          logAppendTime: false,
        },
      ],
      42n,
    )
    buffer.writeBigInt64BE(77n, 43) // producer id
    const reader = new RecordBatchReader(buffer)
    expect(reader.next()).toBe(true)
    expect(reader.firstOffset).toBe(42n)
    expect(reader.lastOffset).toBe(42n)
    expect(reader.producerId).toBe(77n)
    expect(reader.firstKey()).toEqual(Buffer.from([0, 0, 0, 1]))
    expect(reader.next()).toBe(false)
  })

  it('names what it cannot read: an old message format, a record whose length is wrong', () => {
    const good = encode(
      [
        {
          messages: [{ value: Buffer.from('abc'), timestamp: 5n, headers: new Map() }],
          compression: 'none',
          gap: 0n,
          logAppendTime: false,
        },
      ],
      0n,
    )
    const old = Buffer.from(good)
    old[16] = 1
    expect(() => new RecordBatchReader(old).next()).toThrow(/message format v1; only v2/)
    const wrongLength = Buffer.from(good)
    // The first record's length varint (zigzag) right after the 61-byte header: one byte more.
    wrongLength[61] = wrongLength[61]! + 2
    const reader = new RecordBatchReader(wrongLength)
    reader.next()
    let caught: unknown
    try {
      reader.records('t', 0, 0n, [])
    } catch (error) {
      caught = error
    }
    expect(KStreamsError.isInstance(caught)).toBe(true)
    expect(String(caught)).toMatch(/t\[0\] at offset 0 declares|ends in the middle of a record/)
  })
})
