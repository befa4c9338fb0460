// Binary-string keys: one char per byte, made from any view (a plain Uint8Array at an offset in
// its buffer, a Buffer, a small array whose bytes live on V8's heap; short and long keys take
// different paths), back to the same bytes, and ordered as the bytes are.
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { fromKey, toKey } from '../src/state/sorted-key-map.js'

it('toKey: one char per byte of the view (not of its whole buffer), fromKey gives the bytes back, order is byte order', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 160 }),
      fc.uint8Array({ maxLength: 160 }),
      fc.nat({ max: 8 }),
      (left, right, padding) => {
        // The key sits inside a larger buffer, as a serializer's output or a fetched record's does.
        const backing = new Uint8Array(padding + left.length + 3).fill(0xee)
        backing.set(left, padding)
        const view = backing.subarray(padding, padding + left.length)
        const key = toKey(view)
        expect(key.length).toBe(left.length)
        expect([...key].map((char) => char.charCodeAt(0))).toEqual([...left])
        expect(toKey(Buffer.from(left))).toBe(key)
        expect(toKey(Buffer.from(backing.buffer, padding, left.length))).toBe(key)
        expect(toKey(Uint8Array.from(left))).toBe(key)
        expect(new Uint8Array(fromKey(key))).toEqual(left)
        const byteOrder = Buffer.compare(Buffer.from(left), Buffer.from(right))
        const keyOrder = key < toKey(right) ? -1 : key > toKey(right) ? 1 : 0
        expect(keyOrder).toBe(byteOrder)
      },
    ),
  )
})
