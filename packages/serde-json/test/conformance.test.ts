import { randomGarbage, serdeTestSuite } from '@kstreams/serde-test-suite'
import * as v from 'valibot'
import { describe, it } from 'vitest'
import { z } from 'zod'
import { jsonSerde } from '../src/index.js'

const text = (value: string) => new TextEncoder().encode(value)

// Malformed JSON and invalid UTF-8. A prefix of a JSON number is a JSON number, so the suite's
// default truncations do not fit a serde that accepts numbers; these do.
const malformed = [
  ...randomGarbage(),
  new Uint8Array(0),
  text('   '),
  text('{'),
  text('{"id": "a1"'),
  text('[1, 2'),
  text('"unterminated'),
  text('{not json}'),
  text("{'single': 'quotes'}"),
  text('[1, 2,]'),
  text('{"a": 1} trailing'),
  text('undefined'),
  text('NaN'),
  Uint8Array.of(0x22, 0xc3, 0x22),
]

const largeOrder = {
  id: 'large',
  customer: { name: 'Zoë', tier: 'gold' as const },
  items: Array.from({ length: 16_000 }, (_, index) => ({
    sku: `sku-${index}-${'x'.repeat(40)}`,
    quantity: index,
    price: index / 4,
  })),
  note: null,
}

const orderSamples = [
  { id: '', customer: { name: '', tier: 'basic' as const }, items: [], note: null },
  {
    id: 'a1',
    customer: { name: 'Zoë 日本 😀', tier: 'gold' as const },
    items: [
      { sku: 'x', quantity: 0, price: 0 },
      { sku: 'y', quantity: 2_147_483_647, price: 9.99 },
    ],
    note: 'deliver "fast" \\ now\n',
  },
]

// Objects whose JSON is valid but that the schemas reject.
const invalidOrders = [
  text('null'),
  text('[]'),
  text('{}'),
  text('{"id": 5, "customer": {"name": "a", "tier": "gold"}, "items": [], "note": null}'),
  text('{"id": "a", "customer": {"name": "a", "tier": "platinum"}, "items": [], "note": null}'),
  text(
    '{"id": "a", "customer": {"name": "a", "tier": "gold"}, "items": [{"sku": "x", "quantity": 1.5, "price": 1}], "note": null}',
  ),
]

describe('jsonSerde() without a schema', () => {
  serdeTestSuite(it, () => jsonSerde(), {
    name: 'json',
    samples: [
      {},
      [],
      { id: 1, name: 'widget', tags: ['a', 'b'], price: 9.99, active: true, parent: null },
      [1, 'two', { three: [3] }, null, false],
      { nested: { deeper: { deepest: [[], [{}], { empty: '' }] } } },
      { text: 'é 日本語 😀 "quoted" back\\slash \u0000 \n', 'odd key': 1, '': 'empty key' },
      { numbers: [0, -1, 1.5, -2.25e-7, 1e21, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER] },
      'a string',
      '',
      0,
      -1.5,
      true,
      false,
      null,
    ],
    largeSample: largeOrder,
    garbage: malformed,
  })
})

describe('jsonSerde() with a zod schema', () => {
  const Order = z.object({
    id: z.string(),
    customer: z.object({ name: z.string(), tier: z.enum(['basic', 'gold']) }),
    items: z.array(z.object({ sku: z.string(), quantity: z.number().int(), price: z.number() })),
    note: z.string().nullable(),
  })
  serdeTestSuite(it, () => jsonSerde({ schema: Order }), {
    name: 'json with zod',
    samples: orderSamples,
    largeSample: largeOrder,
    garbage: [...malformed, ...invalidOrders],
  })
  serdeTestSuite(it, () => jsonSerde({ schema: Order, validateOnSerialize: true }), {
    name: 'json with zod, validateOnSerialize',
    samples: orderSamples,
    garbage: invalidOrders,
  })
})

describe('jsonSerde() with a valibot schema', () => {
  const Order = v.object({
    id: v.string(),
    customer: v.object({ name: v.string(), tier: v.picklist(['basic', 'gold']) }),
    items: v.array(
      v.object({ sku: v.string(), quantity: v.pipe(v.number(), v.integer()), price: v.number() }),
    ),
    note: v.nullable(v.string()),
  })
  serdeTestSuite(it, () => jsonSerde({ schema: Order }), {
    name: 'json with valibot',
    samples: orderSamples,
    largeSample: largeOrder,
    garbage: [...malformed, ...invalidOrders],
  })
})

describe('jsonSerde() with a schema that transforms', () => {
  // Dates travel as ISO text and are read back as Date objects: the schema's output is what the
  // serde returns, and JSON.stringify writes a Date as the text the schema reads.
  const Event = z.object({ at: z.iso.datetime().transform((value) => new Date(value)), count: z.number() })
  serdeTestSuite(it, () => jsonSerde({ schema: Event }), {
    name: 'json with a zod transform',
    samples: [
      { at: new Date('2024-02-29T12:34:56.789Z'), count: 0 },
      { at: new Date(0), count: -1 },
    ],
    garbage: [...malformed, text('{"at": "yesterday", "count": 1}'), text('{"at": 0, "count": 1}')],
  })
})
