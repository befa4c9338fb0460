// The suite against every built-in serde of @kstreams/core. A case a built-in fails is left failing
// (core is not changed here); it is reported, not skipped.
import { serdes } from '@kstreams/core'
import { describe, it } from 'vitest'
import { randomGarbage, serdeTestSuite } from '../src/index.js'

const text = (value: string) => new TextEncoder().encode(value)
const megabyte = 1024 * 1024

/** `length` bytes with every byte value, in a pattern with no period of 256 (so a shift shows). */
function patternBytes(length: number): Uint8Array {
  const result = new Uint8Array(length)
  for (let index = 0; index < length; index += 1) result[index] = (index * 31 + (index >>> 8)) & 0xff
  return result
}

// Bytes no UTF-8 decoder accepts: the never-valid byte, a lone continuation byte, a lead byte
// without its continuation, an overlong encoding of '/', an encoded surrogate, a code point above
// U+10FFFF. A prefix of valid text is valid text, so the default truncations cannot be used here.
const invalidUtf8 = [
  Uint8Array.of(0xff),
  Uint8Array.of(0x80),
  Uint8Array.of(0x61, 0xc3),
  Uint8Array.of(0xc0, 0xaf),
  Uint8Array.of(0xed, 0xa0, 0x80),
  Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
]

describe('serdes.string()', () => {
  serdeTestSuite(it, () => serdes.string(), {
    name: 'string',
    samples: [
      '',
      'a',
      'hello world',
      'é',
      '日本語',
      '😀',
      '👩🏽‍💻 family: 👨‍👩‍👧',
      '\u0000',
      'line\nbreak',
      '\uffff',
    ],
    largeSample: 'x'.repeat(megabyte),
    garbage: [...randomGarbage(), ...invalidUtf8],
  })
})

describe('serdes.bytes()', () => {
  serdeTestSuite(it, () => serdes.bytes(), {
    name: 'bytes',
    // Core's bytes serde hands the value's own array to the producer, without a copy.
    zeroCopy: true,
    samples: [
      new Uint8Array(0),
      Uint8Array.of(0),
      Uint8Array.of(0xff),
      Uint8Array.of(0, 1, 0x7f, 0x80, 0xfe, 0xff),
    ],
    largeSample: patternBytes(megabyte),
    acceptsAnyBytes: true,
  })
})

describe('serdes.json()', () => {
  serdeTestSuite(it, () => serdes.json(), {
    name: 'json',
    samples: [
      {},
      [],
      { id: 1, name: 'widget', tags: ['a', 'b'], price: 9.99, active: true, parent: null },
      [1, 'two', { three: [3] }, null, false],
      { nested: { deeper: { deepest: [[], [{}], { empty: '' }] } } },
      { text: 'é 日本語 😀 "quoted" back\\slash \u0000 \n' },
      { numbers: [0, -1, 1.5, -2.25e-7, 1e21, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER] },
      'a string',
      '',
      0,
      -1.5,
      123456789,
      true,
      false,
      null,
    ],
    largeSample: {
      items: Array.from({ length: 20_000 }, (_, index) => ({
        index,
        label: `item-${index}-${'x'.repeat(32)}`,
      })),
    },
    // A prefix of a JSON number is a JSON number, so the default truncations cannot be used.
    garbage: [
      ...randomGarbage(),
      new Uint8Array(0),
      text('{'),
      text('{"id": 1'),
      text('[1, 2'),
      text('"unterminated'),
      text('{not json}'),
      text("{'single': 'quotes'}"),
      text('[1, 2,]'),
      text('{"a": 1} trailing'),
      text('undefined'),
      text('NaN'),
      Uint8Array.of(0x22, 0xc3, 0x22),
    ],
  })
})

describe('serdes.int32()', () => {
  serdeTestSuite(it, () => serdes.int32(), {
    name: 'int32',
    samples: [0, 1, -1, 255, 256, -(2 ** 31), 2 ** 31 - 1],
  })
})

describe('serdes.int64()', () => {
  serdeTestSuite(it, () => serdes.int64(), {
    name: 'int64',
    samples: [0n, 1n, -1n, 2n ** 32n, -(2n ** 63n), 2n ** 63n - 1n],
  })
})

describe('serdes.float64()', () => {
  // deepStrictEqual compares numbers with Object.is: NaN equals NaN and -0 differs from 0, which is
  // what an IEEE 754 serde must preserve, so both are samples.
  serdeTestSuite(it, () => serdes.float64(), {
    name: 'float64',
    samples: [
      0,
      -0,
      1.5,
      -1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      Number.EPSILON,
      Number.MAX_SAFE_INTEGER,
    ],
  })
})

describe('serdes.void()', () => {
  serdeTestSuite(it, () => serdes.void(), {
    name: 'void',
    samples: [null],
    serializesToNull: true,
    // The empty byte string is what a void serde reads, so it is not garbage here.
    garbage: [...randomGarbage(), Uint8Array.of(0), text('null')],
  })
})
