// The shared serde conformance suite, for the plain and the registry Avro serdes.
import { isDeepStrictEqual } from 'node:util'
import { createSchemaRegistryClient } from '@kstreams/schema-registry'
import { startFakeSchemaRegistry } from '@kstreams/schema-registry/testing'
import { serdeTestSuite } from '@kstreams/serde-test-suite'
import { afterAll, it } from 'vitest'
import { avroSerde, createRegistryAvroSerde } from '../src/index.js'
import { alice, type User, userSchema } from './users.js'

// avsc reads records as instances of a class it generates for each parsed schema, so records read
// by two serdes have different prototypes: compare their structure (structuredClone keeps the
// fields and drops the prototypes, of both sides alike).
const sameStructure = (actual: unknown, expected: unknown) =>
  isDeepStrictEqual(structuredClone(actual), structuredClone(expected))

const samples: User[] = [
  alice,
  {
    ...alice,
    id: 0,
    name: '',
    nickname: '',
    role: 'GUEST',
    tags: [],
    scores: {},
    address: { street: 'Rue de l’Église 😀', zip: -(2 ** 31) },
    active: false,
    ratio: -0.25,
    avatar: Buffer.alloc(0),
    contact: null,
    payment: { 'com.example.Iban': { country: 'CH' } },
  },
  {
    ...alice,
    id: Number.MAX_SAFE_INTEGER,
    nickname: 'ünïcødé',
    tags: ['', '\u0000', 'x'.repeat(300)],
    scores: { '': Number.MAX_VALUE, min: Number.MIN_VALUE, neg: -1e300 },
    address: { street: '', zip: 2 ** 31 - 1 },
    contact: 'mail@example.com',
  },
  { ...alice, id: Number.MIN_SAFE_INTEGER, contact: -1 },
]
const largeSample: User = { ...alice, name: 'x'.repeat(1024 * 1024 + 1) }

serdeTestSuite(it, () => avroSerde<User>({ schema: userSchema }), {
  name: 'avroSerde (record)',
  samples,
  largeSample,
  equals: sameStructure,
})

serdeTestSuite(it, () => avroSerde<string>({ schema: 'string' }), {
  name: 'avroSerde (string)',
  samples: ['', 'a', 'é😀', '\u0000'.repeat(10)],
  largeSample: 'y'.repeat(1024 * 1024),
  // A truncated string is refused; short garbage may be a valid string, so these are chosen.
  garbage: [
    Uint8Array.of(0x0a, 0x61),
    Uint8Array.of(0x01),
    Uint8Array.of(0x02, 0x61, 0x62),
    new Uint8Array(),
  ],
})

const fake = await startFakeSchemaRegistry()
afterAll(() => fake.close())
const registry = createSchemaRegistryClient({ url: fake.url })
// Two serdes over one registry, handed out in turn, so that what one writes the other reads.
const registrySerdes = [
  await createRegistryAvroSerde<User>({ registry, topic: 'users', schema: userSchema, autoRegister: true }),
  await createRegistryAvroSerde<User>({ registry, topic: 'users', schema: userSchema }),
]
let next = 0

serdeTestSuite(it, () => registrySerdes[next++ % registrySerdes.length]!, {
  name: 'createRegistryAvroSerde',
  samples,
  largeSample,
  equals: sameStructure,
})
