import { SerdeError } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import {
  decodeMessageIndexes,
  decodeWireFormat,
  encodeMessageIndexes,
  encodeWireFormat,
  maxSchemaId,
} from '../src/index.js'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const fromHex = (text: string) => new Uint8Array(Buffer.from(text.replaceAll(' ', ''), 'hex'))

describe('encodeWireFormat and decodeWireFormat', () => {
  it('frame the payload with the magic byte and the big-endian schema id', () => {
    expect(hex(encodeWireFormat(7, Uint8Array.of(0x02, 0x61)))).toBe('00000000070261')
    expect(hex(encodeWireFormat(0x01020304, new Uint8Array()))).toBe('0001020304')
    expect(hex(encodeWireFormat(maxSchemaId, Uint8Array.of(1)))).toBe('007fffffff01')
  })

  it('read back the schema id and a view of the payload', () => {
    const bytes = fromHex('00 00 00 01 00 aa bb')
    const { schemaId, payload } = decodeWireFormat(bytes)
    expect(schemaId).toBe(256)
    expect(hex(payload)).toBe('aabb')
    // A view, not a copy: the payload shares the input's memory.
    expect(payload.buffer).toBe(bytes.buffer)
  })

  it('read inputs that start inside a larger buffer', () => {
    const outer = fromHex('ff ff 00 00 00 00 2a 01 ff')
    const { schemaId, payload } = decodeWireFormat(outer.subarray(2, 8))
    expect(schemaId).toBe(42)
    expect(hex(payload)).toBe('01')
  })

  it('refuse a wrong magic byte, naming the byte', () => {
    expect(() => decodeWireFormat(fromHex('01 00 00 00 01 00'))).toThrow(SerdeError)
    expect(() => decodeWireFormat(fromHex('01 00 00 00 01 00'))).toThrow(
      'first byte is 0x01, not the magic byte 0x00',
    )
    expect(() => decodeWireFormat(new TextEncoder().encode('{"a":1}'))).toThrow('looks like plain JSON')
  })

  it('refuse input shorter than the header', () => {
    for (const bytes of [new Uint8Array(), fromHex('00'), fromHex('00 00 00 01')]) {
      expect(() => decodeWireFormat(bytes)).toThrow(SerdeError)
      expect(() => decodeWireFormat(bytes)).toThrow(
        `${bytes.byteLength} byte(s), fewer than the 5-byte header`,
      )
    }
  })

  it('refuse schema ids outside 0 to 2³¹−1', () => {
    for (const id of [-1, 1.5, maxSchemaId + 1, Number.NaN]) {
      expect(() => encodeWireFormat(id, new Uint8Array())).toThrow(SerdeError)
    }
  })
})

describe('message indexes', () => {
  const cases: Array<[number[], string]> = [
    [[0], '00'],
    [[1], '02 02'],
    [[0, 2], '04 00 04'],
    [[3, 1, 4], '06 06 02 08'],
    [[64], '02 80 01'],
    [[maxSchemaId], '02 fe ff ff ff 0f'],
  ]

  it.each(cases)('encode %j as zig-zag varints with [0] as the single byte 0', (indexes, expected) => {
    expect(hex(encodeMessageIndexes(indexes))).toBe(expected.replaceAll(' ', ''))
  })

  it.each(cases)('decode %j and report the bytes taken', (indexes, encoded) => {
    const bytes = fromHex(`${encoded} 0a 0b`)
    const read = decodeMessageIndexes(bytes)
    expect(read.indexes).toEqual(indexes)
    expect(read.byteLength).toBe(bytes.byteLength - 2)
  })

  it('decode the long form of [0] written by other serializers', () => {
    expect(decodeMessageIndexes(fromHex('02 00'))).toEqual({ indexes: [0], byteLength: 2 })
  })

  it('refuse to encode an empty path or invalid indexes', () => {
    expect(() => encodeMessageIndexes([])).toThrow('cannot be empty')
    expect(() => encodeMessageIndexes([0, -1])).toThrow('message index -1')
    expect(() => encodeMessageIndexes([0.5])).toThrow(SerdeError)
  })

  it('refuse truncated, negative, overlong and oversized input', () => {
    expect(() => decodeMessageIndexes(new Uint8Array())).toThrow('ends inside the count')
    expect(() => decodeMessageIndexes(fromHex('04 00'))).toThrow('a count of 2 with 1 byte(s) left')
    expect(() => decodeMessageIndexes(fromHex('04 00 80'))).toThrow('ends inside the index 1')
    // Zig-zag 1 is −1: a negative count or index is never written.
    expect(() => decodeMessageIndexes(fromHex('01'))).toThrow('a count of -1')
    expect(() => decodeMessageIndexes(fromHex('02 01'))).toThrow('index 0 is negative')
    expect(() => decodeMessageIndexes(fromHex('ff ff ff ff ff 01'))).toThrow('longer than a 32-bit varint')
    // A count far above what the remaining bytes can hold is refused before anything is allocated.
    expect(() => decodeMessageIndexes(fromHex('fe ff ff ff 0f 00'))).toThrow('with 1 byte(s) left')
  })
})
