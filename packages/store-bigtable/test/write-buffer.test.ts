import { describe, expect, it } from 'vitest'
import { WriteBuffer } from '../src/write-buffer.js'

const bytes = (...values: number[]) => Uint8Array.from(values)
const hexKeys = (entries: Array<{ key: Uint8Array }>) =>
  entries.map(({ key }) => Buffer.from(key).toString('hex'))

describe('write buffer', () => {
  it('keeps the latest write of each key, tombstones included', () => {
    const buffer = new WriteBuffer()
    buffer.set(bytes(1), bytes(10))
    buffer.set(bytes(1), bytes(11))
    buffer.set(bytes(2), null)
    expect(buffer.get(bytes(1))?.value).toEqual(bytes(11))
    expect(buffer.get(bytes(2))).toEqual({ key: bytes(2), value: null })
    expect(buffer.get(bytes(3))).toBeUndefined()
    expect(buffer.size).toBe(2)
  })

  it('ranges in unsigned byte order, shorter key first, forward and reverse, from included and to excluded', () => {
    const buffer = new WriteBuffer()
    for (const key of [
      bytes(0xff),
      bytes(0x00, 0x00),
      bytes(0x00),
      bytes(0x80),
      bytes(0x7f),
      bytes(0x00, 0xff),
    ]) {
      buffer.set(key, key)
    }
    expect(hexKeys(buffer.range(undefined, undefined, false))).toEqual([
      '00',
      '0000',
      '00ff',
      '7f',
      '80',
      'ff',
    ])
    expect(hexKeys(buffer.range(bytes(0x00, 0x00), bytes(0x80), false))).toEqual(['0000', '00ff', '7f'])
    expect(hexKeys(buffer.range(bytes(0x00, 0x00), bytes(0x80), true))).toEqual(['7f', '00ff', '0000'])
    expect(hexKeys(buffer.range(bytes(0x81), undefined, false))).toEqual(['ff'])
  })

  it('a range is a snapshot: later writes do not change it', () => {
    const buffer = new WriteBuffer()
    buffer.set(bytes(1), bytes(1))
    const snapshot = buffer.range(undefined, undefined, false)
    buffer.set(bytes(0), bytes(0))
    buffer.set(bytes(1), null)
    expect(snapshot).toEqual([{ key: bytes(1), value: bytes(1) }])
    expect(hexKeys(buffer.range(undefined, undefined, false))).toEqual(['00', '01'])
  })

  it('forgets written entries, but not a key written again while they were being written', () => {
    const buffer = new WriteBuffer()
    buffer.set(bytes(1), bytes(1))
    buffer.set(bytes(2), bytes(2))
    const written = buffer.entries()
    buffer.set(bytes(2), bytes(22))
    buffer.forget(written)
    expect(buffer.get(bytes(1))).toBeUndefined()
    expect(buffer.get(bytes(2))?.value).toEqual(bytes(22))
    expect(buffer.size).toBe(1)
  })

  it('counts the bytes it holds, and gives them back when entries are overwritten or forgotten', () => {
    const buffer = new WriteBuffer()
    buffer.set(bytes(1), new Uint8Array(1000))
    const one = buffer.bytes
    expect(one).toBeGreaterThanOrEqual(1001)
    buffer.set(bytes(1), new Uint8Array(10))
    expect(buffer.bytes).toBe(one - 990)
    buffer.forget(buffer.entries())
    expect(buffer.bytes).toBe(0)
  })
})
