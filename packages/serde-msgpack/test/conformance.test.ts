import { randomGarbage, serdeTestSuite } from '@kstreams/serde-test-suite'
import { Packr } from 'msgpackr'
import { describe, it } from 'vitest'
import { msgpackSerde } from '../src/index.js'

const megabyte = 1024 * 1024
const standard = new Packr({ useRecords: false })

/** `length` bytes with every byte value, in a pattern with no period of 256 (so a shift shows). */
function patternBytes(length: number): Buffer {
  const result = Buffer.alloc(length)
  for (let index = 0; index < length; index += 1) result[index] = (index * 31 + (index >>> 8)) & 0xff
  return result
}

// Byte strings that are not one MessagePack value, for every configuration. A truncated
// MessagePack value is always incomplete (the format is self-delimiting), so truncations are
// garbage; some of msgpackr's own leniencies are covered too.
const garbage = [
  ...randomGarbage(),
  new Uint8Array(0),
  // a value followed by more bytes: two values, or a value and a stray byte
  Uint8Array.of(0x01, 0x02),
  Uint8Array.of(0x81, 0xa1, 0x61, 0x01, 0x00),
  // 0xc1, never used in MessagePack, alone and inside an array and a map
  Uint8Array.of(0xc1),
  Uint8Array.of(0x92, 0x01, 0xc1),
  Uint8Array.of(0x81, 0xa1, 0x61, 0xc1),
  // truncations: a string, an array, a map, a float64, a uint64, a bin 8 header
  standard.pack('hello').subarray(0, -1),
  standard.pack([1, 2, 3]).subarray(0, -1),
  standard.pack({ id: 'a', total: 12.5 }).subarray(0, -1),
  Uint8Array.of(0xcb, 0x3f, 0xf8),
  Uint8Array.of(0xcf, 0x00, 0x00),
  Uint8Array.of(0xc4),
  // lengths far beyond the bytes there are: str 32, array 32, map 32
  Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61),
  Uint8Array.of(0xdd, 0x7f, 0xff, 0xff, 0xff, 0x01),
  Uint8Array.of(0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 0x61),
  // an extension type nobody registered
  Uint8Array.of(0xd4, 0x05, 0x00),
]

const plainSamples = [
  null,
  true,
  false,
  0,
  -1,
  1,
  127,
  128,
  -32,
  -33,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  1.5,
  -2.25e-7,
  Number.MAX_VALUE,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  0n,
  -1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 64n - 1n,
  '',
  'a',
  'é 日本語 😀 👩🏽‍💻',
  'x'.repeat(300),
  new Date(0),
  new Date('2024-02-29T12:34:56.789Z'),
  new Date(-1000),
  new Date(8.64e15),
  Buffer.alloc(0),
  Buffer.from([0, 0xc1, 0xff]),
  [],
  {},
  [1, 'two', [3, [4, [5]]], null, { six: 6 }],
  {
    id: 'o-1',
    items: [{ sku: 'a', quantity: 2, price: 9.99 }],
    customer: { name: 'Zoë', address: { city: 'Paris', lines: ['1 rue', ''] } },
    paidAt: new Date('2024-01-01T00:00:00.000Z'),
    attachment: Buffer.from('pdf'),
    amountInCents: 12_345_678_901_234n,
    note: null,
    missing: undefined,
  },
  { '': 'empty key', 'with space': 1, '1': 'numeric-looking key' },
]

const largeSample = {
  blob: patternBytes(megabyte),
  rows: Array.from({ length: 2000 }, (_, index) => ({ index, label: `row-${index}` })),
}

describe('msgpackSerde() (standard MessagePack)', () => {
  serdeTestSuite(it, () => msgpackSerde(), {
    name: 'msgpack',
    samples: plainSamples,
    largeSample,
    garbage,
  })
})

describe('msgpackSerde() with the suite’s default garbage', () => {
  // The generic garbage fits MessagePack: random bytes starting with 0xff leave bytes over after
  // the value -1, and every truncation ends inside a value.
  serdeTestSuite(it, () => msgpackSerde(), { name: 'msgpack, default garbage', samples: plainSamples })
})

describe('msgpackSerde({ useRecords: true })', () => {
  serdeTestSuite(it, () => msgpackSerde({ useRecords: true }), {
    name: 'msgpack with records',
    samples: [
      ...plainSamples,
      new Map<unknown, unknown>([
        [1, 'one'],
        ['two', new Map([['nested', [1, 2]]])],
      ]),
      { lookup: new Map([['a', { b: new Map([[3, 'c']]) }]]) },
      Array.from({ length: 5 }, (_, index) => ({ id: index, name: `n${index}`, tags: [] })),
    ],
    largeSample,
    garbage,
  })
})

describe('msgpackSerde({ structuredClone: true })', () => {
  const shared = { name: 'shared' }
  const cyclic: { name: string; self?: unknown } = { name: 'cyclic' }
  cyclic.self = cyclic
  serdeTestSuite(it, () => msgpackSerde({ structuredClone: true }), {
    name: 'msgpack with structured clones',
    samples: [
      ...plainSamples,
      new Map<unknown, unknown>([[1, new Set(['a', 'b'])]]),
      new Set([1, 'two', 3n]),
      Uint8Array.of(1, 2, 3),
      Float64Array.of(1.5, -0, Number.NaN),
      { twice: [shared, shared] },
      cyclic,
      /^re(gexp)?$/giu,
    ],
    largeSample,
    garbage,
  })
})
