import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Serde, SerdeError, serdes } from '../src/index.js'

const context = { topic: 'orders', target: 'value' as const, headers: [] }
const hex = (bytes: Uint8Array | null) => Buffer.from(bytes!).toString('hex')
const roundTrip = <T>(serde: Serde<T>, value: T) =>
  serde.deserialize(serde.serialize(value, context)!, context)

describe('built-in serdes', () => {
  it('write the same bytes as Kafka’s Java serializers', () => {
    expect(hex(serdes.int32().serialize(1, context))).toBe('00000001')
    expect(hex(serdes.int32().serialize(-2, context))).toBe('fffffffe')
    expect(hex(serdes.int64().serialize(-1n, context))).toBe('ffffffffffffffff')
    expect(hex(serdes.int64().serialize(2n ** 63n - 1n, context))).toBe('7fffffffffffffff')
    expect(hex(serdes.float64().serialize(1.5, context))).toBe('3ff8000000000000')
    expect(hex(serdes.string().serialize('é', context))).toBe('c3a9')
    expect(serdes.void().serialize(null, context)).toBeNull()
  })

  it('round-trip any value of their type', () => {
    const check = <T>(arbitrary: fc.Arbitrary<T>, serde: Serde<T>, same = Object.is) =>
      fc.assert(fc.property(arbitrary, (value) => same(roundTrip(serde, value), value)))
    check(fc.string({ unit: 'grapheme' }), serdes.string())
    check(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), serdes.int32())
    check(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), serdes.int64())
    check(fc.double({ noNaN: true }), serdes.float64())
    check(fc.uint8Array(), serdes.bytes(), (left, right) => hex(left) === hex(right))
    check(fc.jsonValue(), serdes.json(), (left, right) => JSON.stringify(left) === JSON.stringify(right))
  })

  it('reject bytes they cannot read with a SerdeError naming the topic', () => {
    const cases: Array<[Serde<unknown>, Uint8Array, string]> = [
      [serdes.string() as Serde<unknown>, new Uint8Array([0xff, 0xfe]), 'UTF-8'],
      [serdes.int32() as Serde<unknown>, new Uint8Array(3), 'int32'],
      [serdes.int64() as Serde<unknown>, new Uint8Array(4), 'int64'],
      [serdes.float64() as Serde<unknown>, new Uint8Array(2), 'float64'],
      [serdes.json() as Serde<unknown>, new TextEncoder().encode('{not json'), 'JSON'],
      [serdes.void() as Serde<unknown>, new Uint8Array(1), 'void'],
    ]
    for (const [serde, bytes, expected] of cases) {
      expect(() => serde.deserialize(bytes, context)).toThrow(SerdeError)
      expect(() => serde.deserialize(bytes, context)).toThrow(/topic "orders"/)
      expect(() => serde.deserialize(bytes, context)).toThrow(expected)
    }
  })

  it('refuse to write a number that is not a 32-bit integer as int32', () => {
    expect(() => serdes.int32().serialize(2 ** 31, context)).toThrow(SerdeError)
    expect(() => serdes.int32().serialize(1.5, context)).toThrow('not a 32-bit integer')
    // int64 refuses what would wrap around instead of writing another number.
    expect(() => serdes.int64().serialize(2n ** 63n, context)).toThrow('not a 64-bit bigint')
    expect(() => serdes.int64().serialize(-(2n ** 63n) - 1n, context)).toThrow('not a 64-bit bigint')
    expect(() => serdes.int64().serialize(5 as unknown as bigint, context)).toThrow(SerdeError)
  })
})
