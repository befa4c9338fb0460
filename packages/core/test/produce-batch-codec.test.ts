import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeHeaderName } from '../src/kafka/header-names.js'
import type { ProduceRecord } from '../src/kafka/kafka-port.js'
import { packRecords, unpackRecords } from '../src/kafka/produce-batch-codec.js'

const bytes = (maxLength = 64) => fc.uint8Array({ maxLength })
const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 4 })

const topicName = fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/)

const record = (topics: string[]) =>
  fc.record(
    {
      topic: fc.constantFrom(...topics),
      partition: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 50 }), fc.double({ noNaN: true })),
      key: nullable(bytes()),
      value: nullable(bytes(300)),
      headers: fc.array(
        fc.tuple(fc.oneof(fc.string({ unit: 'binary' }), fc.constant('')), nullable(bytes(20))),
        { maxLength: 4 },
      ),
    },
    { requiredKeys: ['topic', 'key', 'value'] },
  )

const batch = fc
  .uniqueArray(topicName, { minLength: 1, maxLength: 12 })
  .chain((topics) => fc.array(record(topics), { maxLength: 60 }))

/** What the producer sends of a record: equal for records the broker receives identically. */
function wire(produced: ProduceRecord) {
  return {
    topic: produced.topic,
    partition: produced.partition,
    timestamp: produced.timestamp,
    key: produced.key === null ? null : Buffer.from(produced.key).toString('hex'),
    value: produced.value === null ? null : Buffer.from(produced.value).toString('hex'),
    headers: (produced.headers ?? []).map(([name, value]) => [
      Buffer.from(encodeHeaderName(name)).toString('hex'),
      value === null ? null : Buffer.from(value).toString('hex'),
    ]),
  }
}

describe('packing produce batches for the producer thread', () => {
  it('round trips any batch: topics, partitions, timestamps, nulls, empty bytes, headers', () => {
    fc.assert(
      fc.property(batch, (records) => {
        const unpacked = unpackRecords(packRecords(records))
        expect(unpacked.map(wire)).toEqual(records.map(wire))
      }),
      { numRuns: 300 },
    )
  })

  it('tells a null key, value or header value from an empty one', () => {
    const empty = new Uint8Array(0)
    const [nulls, empties] = unpackRecords(
      packRecords([
        { topic: 't', key: null, value: null, headers: [['h', null]] },
        { topic: 't', key: empty, value: empty, headers: [['h', empty]] },
      ]),
    )
    expect(nulls).toMatchObject({ key: null, value: null, headers: [['h', null]] })
    expect(empties!.key).toHaveLength(0)
    expect(empties!.value).toHaveLength(0)
    expect(empties!.headers![0]![1]).toHaveLength(0)
    // Neither partition nor timestamp was set: the producer chooses them, as before.
    expect('partition' in nulls! || 'timestamp' in nulls!).toBe(false)
  })

  it('keeps header names that are not UTF-8 byte for byte, and repeated names', () => {
    const name = String.fromCharCode(0x74, 0xdc80 + 0x7f, 0xdcff) // 't', then bytes 0xff and 0xff
    const [unpacked] = unpackRecords(
      packRecords([
        {
          topic: 't',
          key: null,
          value: null,
          headers: [
            [name, null],
            ['a', Uint8Array.of(1)],
            ['a', Uint8Array.of(2)],
          ],
        },
      ]),
    )
    expect(unpacked!.headers!.map(([header]) => header)).toEqual([name, 'a', 'a'])
    expect(Buffer.from(encodeHeaderName(unpacked!.headers![0]![0])).toString('hex')).toBe('74ffff')
    expect(unpacked!.headers!.map(([, value]) => value?.[0])).toEqual([undefined, 1, 2])
  })

  it('reads large values as views of the transferred buffer, without copies', () => {
    const large = new Uint8Array(3 * 1024 * 1024).map((_, index) => index % 251)
    const packed = packRecords([
      { topic: 'a', partition: 1, key: Uint8Array.of(9), value: large },
      { topic: 'b', partition: 0, key: null, value: large.subarray(5, 70_000) },
    ])
    const [first, second] = unpackRecords(packed)
    expect(Buffer.compare(first!.value as Buffer, Buffer.from(large))).toBe(0)
    expect(Buffer.compare(second!.value as Buffer, Buffer.from(large.subarray(5, 70_000)))).toBe(0)
    expect((first!.value as Buffer).buffer).toBe(packed)
    expect((second!.value as Buffer).buffer).toBe(packed)
    expect([first!.topic, second!.topic]).toEqual(['a', 'b'])
  })

  it('packs into a reused buffer larger than the batch, over the bytes of an earlier one', () => {
    fc.assert(
      fc.property(batch, batch, (earlier, records) => {
        let reused: ArrayBuffer | undefined
        const first = packRecords(earlier, (bytes) => new ArrayBuffer(bytes + 1000))
        const second = packRecords(records, (bytes) => {
          reused = bytes <= first.byteLength ? first : new ArrayBuffer(bytes + 1)
          return reused
        })
        expect(second).toBe(reused)
        expect(unpackRecords(second).map(wire)).toEqual(records.map(wire))
      }),
      { numRuns: 100 },
    )
    expect(() => packRecords([{ topic: 't', key: null, value: null }], () => new ArrayBuffer(3))).toThrow(
      /takes \d+ bytes, got a buffer of 3/,
    )
  })

  it('packs into a transferable buffer of exactly the bytes written', () => {
    const packed = packRecords([{ topic: 'topic', key: Uint8Array.of(1, 2), value: null }])
    // u32 topics, i32 + 5 name bytes, u32 records, u8 flags, u32 topic, i32 + 2 key, i32 value, u32 headers
    expect(packed.byteLength).toBe(4 + 4 + 5 + 4 + 1 + 4 + 4 + 2 + 4 + 4)
    const { port1, port2 } = new MessageChannel()
    port1.postMessage(packed, [packed])
    expect(packed.byteLength).toBe(0)
    port1.close()
    port2.close()
  })
})
