// The single-buffer Produce request against the client's own encoder: the same bytes for any mix of
// topics, partitions, keys, values (null, empty, large), headers, timestamps (before and after the
// batch's first), idempotent sequences and transactional ids; and the record batch's checksum
// verified independently of both encoders; timestamps far apart in one batch (where the client's
// own encoder is wrong) encoded right.
import { crc32c, produceV9, produceV10, produceV11 } from '@platformatic/kafka'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type EncodableMessage,
  encodeProduceRequest,
  type ProduceOptions,
} from '../src/kafka/platformatic-produce-request.js'

const bytes = fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array))
const optionalBytes = fc.option(bytes, { nil: undefined })
const message: fc.Arbitrary<EncodableMessage> = fc.record(
  {
    topic: fc.constantFrom('orders', 'changelog-ü', 'a', '7'),
    partition: fc.integer({ min: 0, max: 20 }),
    key: optionalBytes,
    value: optionalBytes,
    headers: fc
      .array(fc.tuple(fc.string({ maxLength: 12 }), bytes), { maxLength: 4 })
      .map((entries) => new Map(entries.map(([name, value]) => [Buffer.from(name), value]))),
    // The client's zigzag of a 64-bit varint is right only within ±2^31 ms of the batch's first
    // timestamp (see the last test): the comparison stays inside that.
    timestamp: fc.bigInt({ min: 1_700_000_000_000n, max: 1_700_000_000_000n + 2n ** 31n - 1n }),
  },
  { requiredKeys: ['topic', 'partition', 'timestamp'] },
)
const options: fc.Arbitrary<ProduceOptions> = fc
  .record(
    {
      producerId: fc.bigInt({ min: -1n, max: 2n ** 40n }),
      producerEpoch: fc.integer({ min: 0, max: 32_000 }),
      transactionalId: fc.constantFrom('tx-1', 'tränsaction'),
      sequenceBase: fc.integer({ min: 0, max: 2 ** 31 - 1 - 1000 }),
    },
    { requiredKeys: [] },
  )
  .map(({ sequenceBase, ...rest }) =>
    sequenceBase === undefined
      ? rest
      : { ...rest, sequences: { getWithDefault: (key: string) => sequenceBase + key.length } },
  )

function copy(messages: EncodableMessage[]): EncodableMessage[] {
  return messages.map((message) => ({
    ...message,
    ...(message.headers ? { headers: new Map(message.headers) } : {}),
  }))
}

describe('encodeProduceRequest', () => {
  for (const [version, module] of [
    [9, produceV9],
    [10, produceV10],
    [11, produceV11],
  ] as const) {
    it(`writes the client's bytes for Produce v${version}`, () => {
      fc.assert(
        fc.property(
          fc.array(message, { minLength: 1, maxLength: 40 }),
          options,
          fc.constantFrom(-1, 0, 1),
          (messages, produceOptions, acks) => {
            const ours = encodeProduceRequest(acks, 30_000, copy(messages), produceOptions)
            const theirs = module.createRequest(
              acks,
              30_000,
              copy(messages) as never,
              produceOptions as never,
            )
            expect(ours.buffers).toHaveLength(1)
            expect(ours.buffer.equals(theirs.buffer)).toBe(true)
            expect(ours.context.noResponse ?? false).toBe(theirs.context.noResponse ?? false)
          },
        ),
        { numRuns: 300 },
      )
    })
  }

  it('gives a message without partition or timestamp partition 0 and the time of the call', () => {
    const before = BigInt(Date.now())
    const messages: EncodableMessage[] = [{ topic: 't', value: Buffer.from('v') }]
    encodeProduceRequest(-1, 1000, messages, {})
    expect(messages[0]!.partition).toBe(0)
    expect(messages[0]!.timestamp! >= before && messages[0]!.timestamp! <= BigInt(Date.now())).toBe(true)
  })

  it('refuses a header that is not a Buffer, naming the topic', () => {
    const headers = new Map([['trace' as unknown as Buffer, Buffer.from('1')]])
    expect(() =>
      encodeProduceRequest(-1, 1000, [{ topic: 'orders', partition: 0, timestamp: 1n, headers }], {}),
    ).toThrow('a header of a record for orders is not a Buffer')
  })

  it('checksums each record batch over its attributes to its end', () => {
    const messages: EncodableMessage[] = [
      { topic: 't', partition: 3, key: Buffer.from('k'), value: Buffer.from('v'), timestamp: 10n },
      { topic: 't', partition: 3, key: null, value: Buffer.alloc(0), timestamp: 5n },
    ]
    const request = encodeProduceRequest(-1, 1000, messages, { producerId: 7n, producerEpoch: 1 }).buffer
    // transactional id (null) 1, acks 2, timeout 4, topics 1, name 2, partitions 1, index 4, size 1
    const batch = request.subarray(16, request.length - 3)
    expect(batch.readInt32BE(8)).toBe(batch.length - 12)
    expect(batch.readInt8(16)).toBe(2)
    expect(batch.readUInt32BE(17)).toBe(crc32c(new Uint8Array(batch.subarray(21))))
    expect(batch.readInt32BE(23)).toBe(1) // last offset delta
    expect(batch.readBigInt64BE(27)).toBe(10n) // first timestamp
    expect(batch.readBigInt64BE(35)).toBe(10n) // max timestamp
    expect(batch.readBigInt64BE(43)).toBe(7n) // producer id
  })

  it('encodes timestamps more than 2^31 ms apart in one batch (the client wraps them)', () => {
    const first = 1_700_000_000_000n
    const later = first + 30n * 24n * 3_600_000n // 30 days
    const messages: EncodableMessage[] = [
      { topic: 't', partition: 0, value: Buffer.from('a'), timestamp: first },
      { topic: 't', partition: 0, value: Buffer.from('b'), timestamp: later },
      { topic: 't', partition: 0, value: Buffer.from('c'), timestamp: first - 40n * 24n * 3_600_000n },
    ]
    const batch = encodeProduceRequest(-1, 1000, messages, {}).buffer.subarray(16)
    let at = 61
    const varLong = (): bigint => {
      let value = 0n
      let shift = 0n
      for (;;) {
        const byte = batch[at++]!
        value |= BigInt(byte & 0x7f) << shift
        if ((byte & 0x80) === 0) break
        shift += 7n
      }
      return (value >> 1n) ^ -(value & 1n)
    }
    const deltas: bigint[] = []
    for (let record = 0; record < 3; record += 1) {
      const length = Number(varLong())
      const end = at + length
      at += 1 // attributes
      deltas.push(varLong())
      at = end
    }
    expect(deltas).toEqual([0n, later - first, -40n * 24n * 3_600_000n])
    expect(batch.readBigInt64BE(35)).toBe(later) // max timestamp
  })
})
