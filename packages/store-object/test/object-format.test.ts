import { describe, expect, it } from 'vitest'
import { decodeObject, encodeObject, ObjectFormatError, type ObjectRecord } from '../src/index.js'

const bytes = (text: string) => new Uint8Array(Buffer.from(text))
const records: ObjectRecord[] = [
  { key: bytes('a'), value: bytes('1') },
  { key: bytes('deleted'), value: null },
  { key: Uint8Array.of(0, 0xff), value: new Uint8Array(0) },
  { key: bytes('large'), value: new Uint8Array(70_000).fill(7) },
]

function pairs(decoded: ObjectRecord[]) {
  return decoded.map(({ key, value }) => [
    Buffer.from(key).toString('hex'),
    value === null ? null : Buffer.from(value).toString('hex'),
  ])
}

describe('segment and snapshot format', () => {
  it('decodes what it encodes, tombstones and empty values included', () => {
    const encoded = encodeObject('segment', records)
    expect(encoded.subarray(0, 4).toString('latin1')).toBe('KSOB')
    expect(pairs(decodeObject('segment', encoded))).toEqual(pairs(records))
    expect(decodeObject('segment', encodeObject('segment', []))).toEqual([])
  })

  it('reports a flipped byte as a checksum mismatch', () => {
    const encoded = encodeObject('segment', records)
    encoded[20] = encoded[20]! ^ 0x01
    expect(() => decodeObject('segment', encoded)).toThrow(/checksum mismatch/)
  })

  it('reports a truncated object', () => {
    const encoded = encodeObject('segment', records)
    expect(() => decodeObject('segment', encoded.subarray(0, encoded.length - 10))).toThrow(ObjectFormatError)
    expect(() => decodeObject('segment', encoded.subarray(0, 8))).toThrow(/too few/)
  })

  it('rejects another kind, another version and a foreign object', () => {
    const snapshot = encodeObject('snapshot', [{ key: bytes('k'), value: bytes('v') }])
    expect(() => decodeObject('segment', snapshot)).toThrow(/kind 2, expected 1/)
    const newer = Buffer.from(snapshot)
    newer[4] = 2
    expect(() => decodeObject('snapshot', newer)).toThrow(/format version 2/)
    expect(() => decodeObject('segment', Buffer.from('{"not":"a segment at all"}'))).toThrow(/KSOB/)
  })

  it('refuses a tombstone in a snapshot', () => {
    const encoded = encodeObject('snapshot', [{ key: bytes('k'), value: null }])
    expect(() => decodeObject('snapshot', encoded)).toThrow(/tombstone/)
  })
})
