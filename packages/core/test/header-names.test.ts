import { describe, expect, it } from 'vitest'
import { decodeHeaderName, encodeHeaderName } from '../src/kafka/header-names.js'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

describe('header names', () => {
  it('decodes valid UTF-8 as it is', () => {
    for (const name of ['trace-id', 'é', '日本', '😀 emoji', ''])
      expect(decodeHeaderName(new TextEncoder().encode(name))).toBe(name)
  })

  it.each([
    ['a lone continuation byte', [0x74, 0x80, 0x78]],
    ['bytes that never appear in UTF-8', [0xff, 0xfe]],
    ['a truncated sequence', [0x61, 0xe6, 0x97]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['valid text around invalid bytes', [0xc3, 0xa9, 0xff, 0xf0, 0x9f, 0x98, 0x80, 0xc3]],
  ])('keeps %s byte for byte', (_name, input) => {
    const bytes = Uint8Array.from(input)
    const name = decodeHeaderName(bytes)
    expect(name).not.toContain('\ufffd')
    expect(hex(encodeHeaderName(name))).toBe(hex(bytes))
  })

  it('round trips every pseudo-random byte string', () => {
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let run = 0; run < 2000; run += 1) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 12) }, () => Math.floor(random() * 256))
      expect(hex(encodeHeaderName(decodeHeaderName(bytes)))).toBe(hex(bytes))
    }
  })

  it('encodes a real astral character, not its low surrogate, as UTF-8', () => {
    // U+1F600 is \ud83d\ude00; U+10000 + 0x... with a low surrogate in DC80–DCFF: U+10080.
    expect(hex(encodeHeaderName('\u{10080}'))).toBe(hex(new TextEncoder().encode('\u{10080}')))
  })
})
