// The shared serde conformance suite, for the plain and the registry Protobuf serdes.
import { createSchemaRegistryClient } from '@kstreams/schema-registry'
import { startFakeSchemaRegistry } from '@kstreams/schema-registry/testing'
import { serdeTestSuite } from '@kstreams/serde-test-suite'
import { afterAll, it } from 'vitest'
import { createRegistryProtobufSerde, protobufSerde } from '../src/index.js'
import { type Order, orderDefaults, orderType } from './orders.js'

// Samples in the shape the serde reads: every field that has a default is present.
const samples: Order[] = [
  orderDefaults,
  {
    ...orderDefaults,
    id: 'o-1 😀',
    totalCents: 2n ** 63n - 1n,
    sequence: 2n ** 64n - 1n,
    delta: -(2n ** 63n),
    status: 'SHIPPED',
    lines: [
      { sku: '', quantity: 4_294_967_295, price: { currency: 'EUR', units: -1n } },
      { sku: 'ünïcødé', quantity: 0, price: null },
    ],
    labels: { '': '', channel: 'web' },
    cardLast4: '4242',
    signature: Buffer.from([0, 255, 128]),
    gift: true,
    weight: -0.5,
    note: '',
    checkpoints: [0n, -(2n ** 40n)],
    featured: { sku: 'x', quantity: 1, price: { currency: '', units: 0n } },
  },
  { ...orderDefaults, iban: 'CH93 0076 2011 6238 5295 7', weight: Number.MAX_VALUE, status: 'PLACED' },
]
const largeSample: Order = { ...orderDefaults, id: 'z'.repeat(1024 * 1024 + 1) }

serdeTestSuite(it, () => protobufSerde<Order>({ type: orderType }), {
  name: 'protobufSerde',
  samples,
  largeSample,
  // Truncated messages are often valid shorter ones, and many byte strings are valid messages:
  // these are not.
  garbage: [
    Uint8Array.of(0x0f), // field 1 with wire type 7, which does not exist
    Uint8Array.of(0x0c), // an end-group marker without a start
    Uint8Array.of(0x0a, 0x05, 0x61), // a 5-byte string with 1 byte
    Uint8Array.of(0x10, 0xff, 0xff), // a varint that never ends
    Uint8Array.of(0x32, 0x04, 0x0a, 0x09, 0x61, 0x62), // a line whose sku is longer than the line
  ],
})

const fake = await startFakeSchemaRegistry()
afterAll(() => fake.close())
const registry = createSchemaRegistryClient({ url: fake.url })
fake.register('money.proto', {
  schema: 'syntax = "proto3";\npackage shop.v1;\nmessage Money { string currency = 1; int64 units = 2; }\n',
  schemaType: 'PROTOBUF',
})
const references = [{ name: 'money.proto', subject: 'money.proto', version: 1 }]
// Two serdes over one registry, handed out in turn, so that what one writes the other reads.
const registrySerdes = [
  await createRegistryProtobufSerde<Order>({
    registry,
    topic: 'orders',
    type: orderType,
    references,
    autoRegister: true,
  }),
  await createRegistryProtobufSerde<Order>({ registry, topic: 'orders', type: orderType, references }),
]
let next = 0

serdeTestSuite(it, () => registrySerdes[next++ % registrySerdes.length]!, {
  name: 'createRegistryProtobufSerde',
  samples,
  largeSample,
})
