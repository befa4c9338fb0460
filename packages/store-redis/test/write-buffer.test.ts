import { describe, expect, it } from 'vitest'
import { WriteBuffer } from '../src/write-buffer.js'

const key = (...bytes: number[]) => Buffer.from(bytes)
const hexes = (writes: Array<{ key: Buffer }>) => writes.map((write) => write.key.toString('hex'))

describe('WriteBuffer', () => {
  it('keeps the latest write per key, tombstones included', () => {
    const buffer = new WriteBuffer()
    buffer.set(key(1), Buffer.from('a'))
    buffer.set(key(1), Buffer.from('bb'))
    buffer.set(key(2), Buffer.from('c'))
    buffer.set(key(2), null)
    expect(buffer.size).toBe(2)
    expect(buffer.lookup(key(1))?.value?.toString()).toBe('bb')
    expect(buffer.lookup(key(2))).toEqual({ key: key(2), value: null })
    expect(buffer.lookup(key(3))).toBeUndefined()
  })

  it('counts the bytes it holds, shrinking when a value gets shorter', () => {
    const buffer = new WriteBuffer()
    buffer.set(key(1, 2), Buffer.alloc(100))
    const afterFirst = buffer.bytes
    expect(afterFirst).toBeGreaterThanOrEqual(102)
    buffer.set(key(1, 2), Buffer.alloc(10))
    expect(buffer.bytes).toBe(afterFirst - 90)
    buffer.set(key(1, 2), null)
    expect(buffer.bytes).toBe(afterFirst - 100)
  })

  it('lists keys in unsigned byte order, shorter first, within [from, to), forward and reverse', () => {
    const buffer = new WriteBuffer()
    for (const bytes of [[0xff], [0x01, 0x00], [0x01], [0x80], [0x00], [0x7f, 0xff]])
      buffer.set(key(...bytes), null)
    expect(hexes(buffer.between(undefined, undefined, false))).toEqual([
      '00',
      '01',
      '0100',
      '7fff',
      '80',
      'ff',
    ])
    expect(hexes(buffer.between(key(0x01), key(0x80), false))).toEqual(['01', '0100', '7fff'])
    expect(hexes(buffer.between(key(0x01, 0x00), undefined, true))).toEqual(['ff', '80', '7fff', '0100'])
    expect(buffer.between(key(0x80), key(0x01), false)).toEqual([])
  })

  it('returns a snapshot that later writes do not change, and sees keys added after it', () => {
    const buffer = new WriteBuffer()
    buffer.set(key(2), Buffer.from('x'))
    const before = buffer.between(undefined, undefined, false)
    buffer.set(key(1), Buffer.from('y'))
    buffer.set(key(2), Buffer.from('z'))
    expect(hexes(before)).toEqual(['02'])
    expect(before[0]!.value!.toString()).toBe('x')
    expect(hexes(buffer.between(undefined, undefined, false))).toEqual(['01', '02'])
  })

  it('puts failed writes back under newer ones', () => {
    const failed = new WriteBuffer()
    failed.set(key(1), Buffer.from('old'))
    failed.set(key(2), Buffer.from('kept'))
    const buffer = new WriteBuffer()
    buffer.set(key(1), Buffer.from('new'))
    buffer.set(key(3), null)
    buffer.restoreUnder(failed)
    expect(buffer.size).toBe(3)
    expect(buffer.lookup(key(1))?.value?.toString()).toBe('new')
    expect(buffer.lookup(key(2))?.value?.toString()).toBe('kept')
    expect(hexes(buffer.between(undefined, undefined, false))).toEqual(['01', '02', '03'])
    const fresh = new WriteBuffer()
    fresh.set(key(1), Buffer.from('new'))
    fresh.set(key(3), null)
    fresh.set(key(2), Buffer.from('kept'))
    expect(buffer.bytes).toBe(fresh.bytes)
  })
})

describe('WriteBuffer order under many additions', () => {
  it('stays in byte order when keys arrive between scans, in random order', () => {
    const buffer = new WriteBuffer()
    const expected: string[] = []
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed
    }
    for (let round = 0; round < 20; round += 1) {
      for (let index = 0; index < 50; index += 1) {
        const bytes = Buffer.from(Array.from({ length: 1 + (random() % 4) }, () => random() % 256))
        if (buffer.lookup(bytes) === undefined) expected.push(bytes.toString('hex'))
        buffer.set(bytes, null)
      }
      const sorted = [...expected].sort((left, right) =>
        Buffer.compare(Buffer.from(left, 'hex'), Buffer.from(right, 'hex')),
      )
      expect(hexes(buffer.between(undefined, undefined, false))).toEqual(sorted)
    }
  })
})
