import { readFileSync } from 'node:fs'
import { ConfigError, SerdeError } from '@kstreams/core'
import {
  createSchemaRegistryClient,
  type SchemaRegistryClient,
  SchemaRegistryError,
} from '@kstreams/schema-registry'
import { type FakeSchemaRegistry, startFakeSchemaRegistry } from '@kstreams/schema-registry/testing'
import protobuf from 'protobufjs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRegistryProtobufSerde, loadProtobufType, protobufSerde } from '../src/index.js'
import { customerType, type Order, orderDefaults, orderType, pathsProto, shopProto } from './orders.js'

const context = { topic: 'orders', target: 'value' as const, headers: [] }
const hex = (bytes: Uint8Array | null) => Buffer.from(bytes!).toString('hex')
const shopSource = readFileSync(shopProto, 'utf8')
const moneySource = readFileSync(new URL('./fixtures/money.proto', import.meta.url), 'utf8')
const moneyReference = { name: 'money.proto', subject: 'money.proto', version: 1 }

let fake: FakeSchemaRegistry
let registry: SchemaRegistryClient

beforeEach(async () => {
  fake = await startFakeSchemaRegistry({ firstId: 300 })
  registry = createSchemaRegistryClient({ url: fake.url })
  // The imported file, registered under its own subject as Confluent serializers do.
  fake.register('money.proto', {
    schema: moneySource,
    schemaType: 'PROTOBUF',
  })
})

afterEach(async () => {
  await fake.close()
})

const orderSerde = (extra: Partial<Parameters<typeof createRegistryProtobufSerde>[0]> = {}) =>
  createRegistryProtobufSerde<Order>({
    registry,
    topic: 'orders',
    type: orderType,
    references: [moneyReference],
    autoRegister: true,
    ...extra,
  })

describe('createRegistryProtobufSerde', () => {
  it('registers the .proto file of its type and writes magic byte, id, message indexes and message', async () => {
    const serde = await orderSerde()
    expect(serde.subject).toBe('orders-value')
    expect(serde.schemaId).toBe(301)
    const registered = await registry.getSchemaById(301)
    expect(registered).toEqual({
      id: 301,
      schema: shopSource,
      schemaType: 'PROTOBUF',
      references: [moneyReference],
    })

    const order = { ...orderDefaults, id: 'o-1', totalCents: 1999n, status: 'PLACED' as const }
    const bytes = serde.serialize(order, context)!
    const message = protobufSerde<Order>({ type: orderType }).serialize(order, context)!
    // Order is the first message of shop.proto: its indexes [0] are the single byte 00.
    expect(hex(bytes)).toBe(`000000012d00${hex(message)}`)
    expect(serde.deserialize(bytes, context)).toEqual(order)
  })

  it('writes the path of a nested message type: [3, 1, 4]', async () => {
    const deep = loadProtobufType(pathsProto, 'paths.D.D1.X4')
    const serde = await createRegistryProtobufSerde<{ text: string }>({
      registry,
      subject: 'paths.D.D1.X4',
      type: deep,
      autoRegister: true,
    })
    const bytes = serde.serialize({ text: 'hi' }, context)!
    expect(hex(bytes.subarray(5, 9))).toBe('06060208')
    expect(hex(bytes.subarray(9))).toBe('0a026869')
    expect(serde.deserialize(bytes, context)).toEqual({ text: 'hi' })
  })

  it('writes [1] for the second top-level message', async () => {
    const serde = await createRegistryProtobufSerde<{ name: string }>({
      registry,
      topic: 'customers',
      type: customerType,
      references: [moneyReference],
      autoRegister: true,
    })
    const bytes = serde.serialize({ name: 'Ada' }, context)!
    expect(hex(bytes.subarray(5, 7))).toBe('0202')
    expect(serde.deserialize(bytes, context)).toEqual({ name: 'Ada' })
  })

  it('looks up an already registered schema by default, and refuses one that is not registered', async () => {
    await expect(orderSerde({ autoRegister: false })).rejects.toThrow(ConfigError)
    await expect(orderSerde({ autoRegister: false })).rejects.toThrow(
      'not registered under subject "orders-value"',
    )
    const id = fake.register('orders-value', {
      schema: shopSource,
      schemaType: 'PROTOBUF',
      references: [moneyReference],
    })
    const serde = await orderSerde({ autoRegister: false })
    expect(serde.schemaId).toBe(id)
    expect(fake.requests).not.toContain('POST /subjects/orders-value/versions')
  })

  it('takes the schema text explicitly, for types that have no file', async () => {
    const source = 'syntax = "proto3";\npackage inline;\nmessage Ping { int64 at = 1; }\n'
    const ping = protobuf.parse(source).root.lookupType('inline.Ping')
    await expect(
      createRegistryProtobufSerde({ registry, topic: 'pings', type: ping, autoRegister: true }),
    ).rejects.toThrow('schema (the .proto source declaring inline.Ping) is needed')
    const serde = await createRegistryProtobufSerde<{ at: bigint }>({
      registry,
      topic: 'pings',
      type: ping,
      schema: source,
      autoRegister: true,
    })
    expect(serde.deserialize(serde.serialize({ at: -5n }, context)!, context)).toEqual({ at: -5n })
  })

  it('makes no HTTP request while serializing and deserializing', async () => {
    const serde = await orderSerde()
    const requests = fake.requests.length
    for (let i = 0; i < 100; i++) {
      serde.deserialize(serde.serialize({ ...orderDefaults, id: `o-${i}` }, context)!, context)
    }
    expect(fake.requests.length).toBe(requests)
  })

  it('round-trips a value of more than 1 MiB', async () => {
    const serde = await orderSerde()
    const order = { ...orderDefaults, signature: Buffer.alloc(1024 * 1024 + 5, 3) }
    expect(serde.deserialize(serde.serialize(order, context)!, context)).toEqual(order)
  })

  describe('reading what others wrote', () => {
    it('reads records of every version of its subject: a newer writer’s extra fields are skipped', async () => {
      const v2Source = shopSource.replace(
        'Line featured = 15;',
        'Line featured = 15;\n  string channel = 16;',
      )
      // Both files parsed into one root: parse records imports without loading them.
      const v2Root = new protobuf.Root()
      protobuf.parse(moneySource, v2Root)
      protobuf.parse(v2Source, v2Root)
      const v2Type = v2Root.lookupType('shop.v1.Order')
      const writer = await createRegistryProtobufSerde<Order & { channel: string }>({
        registry,
        topic: 'orders',
        type: v2Type,
        schema: v2Source,
        references: [moneyReference],
        autoRegister: true,
      })
      const reader = await orderSerde()
      expect(reader.loadedSchemaIds()).toEqual([writer.schemaId, reader.schemaId])
      const written = writer.serialize({ ...orderDefaults, id: 'o-2', channel: 'app' }, context)!
      expect(reader.deserialize(written, context)).toEqual({ ...orderDefaults, id: 'o-2' })
    })

    it('refuses a record whose message indexes name another message type', async () => {
      const customers = await createRegistryProtobufSerde<{ name: string }>({
        registry,
        topic: 'orders',
        type: customerType,
        references: [moneyReference],
        autoRegister: true,
      })
      const written = customers.serialize({ name: 'Ada' }, context)!
      const orders = await orderSerde()
      expect(() => orders.deserialize(written, context)).toThrow(SerdeError)
      expect(() => orders.deserialize(written, context)).toThrow(
        `cannot read value of topic "orders" written with schema id ${customers.schemaId} as protobuf shop.v1.Order: its message indexes [1] name shop.v1.Customer`,
      )
      const nowhere = Uint8Array.of(0, 0, 0, 1, customers.schemaId! % 256, 0x02, 0x0e)
      expect(() => orders.deserialize(nowhere, context)).toThrow(
        'its message indexes [7] name no message type',
      )
    })

    it('throws a SerdeError naming an id it has not loaded, and reads after preload()', async () => {
      const elsewhere = await orderSerde({ topic: 'archive' })
      const written = elsewhere.serialize({ ...orderDefaults, id: 'o-3' }, context)!
      // The same file under another subject has the same id: register something else there.
      const other = 'syntax = "proto3";\npackage shop.v1;\nmessage Order { string id = 1; }\n'
      const otherId = fake.register('legacy-orders-value', { schema: other, schemaType: 'PROTOBUF' })
      const serde = await createRegistryProtobufSerde<Order>({
        registry,
        topic: 'fresh',
        type: orderType,
        readOnly: true,
      })
      expect(() => serde.deserialize(written, context)).toThrow(
        `written with schema id ${elsewhere.schemaId}, which this serde has not loaded (loaded: none)`,
      )
      await serde.preload({ subjects: ['archive-value'], schemaIds: [otherId] })
      expect(serde.deserialize(written, context)).toMatchObject({ id: 'o-3' })
      const legacy = Uint8Array.of(0, 0, 0, 1, otherId % 256, 0x00, 0x0a, 0x01, 0x78)
      expect(serde.deserialize(legacy, context)).toMatchObject({ id: 'x' })
    })

    it('refuses a writer schema that is not Protobuf', async () => {
      const id = fake.register('orders-value', { schema: '{"type":"string"}' })
      const serde = await createRegistryProtobufSerde<Order>({
        registry,
        topic: 'orders',
        type: orderType,
        readOnly: true,
      })
      expect(() => serde.deserialize(Uint8Array.of(0, 0, 0, 1, id % 256, 0), context)).toThrow(
        'its schema type is AVRO, not PROTOBUF',
      )
    })
  })

  describe('message types nested below a message with map fields', () => {
    const line = orderType.lookupType('Line')

    it('refuse to compute their indexes', async () => {
      const creating = createRegistryProtobufSerde({
        registry,
        topic: 'lines',
        type: line,
        references: [moneyReference],
      })
      await expect(creating).rejects.toThrow(ConfigError)
      await expect(
        createRegistryProtobufSerde({ registry, topic: 'lines', type: line, references: [moneyReference] }),
      ).rejects.toThrow('it is nested in shop.v1.Order, which has map fields')
    })

    it('use explicit messageIndexes, and accept records at exactly that path', async () => {
      // protoc declares Line before the map field labels, so LabelsEntry comes after it: [0, 0].
      const serde = await createRegistryProtobufSerde<{ sku: string }>({
        registry,
        topic: 'lines',
        type: line,
        references: [moneyReference],
        messageIndexes: [0, 0],
        autoRegister: true,
      })
      const bytes = serde.serialize({ sku: 'apple' }, context)!
      expect(hex(bytes.subarray(5, 8))).toBe('040000')
      expect(serde.deserialize(bytes, context)).toMatchObject({ sku: 'apple' })
      const elsewhere = Uint8Array.of(...bytes.subarray(0, 5), 0x04, 0x00, 0x02, ...bytes.subarray(8))
      expect(() => serde.deserialize(elsewhere, context)).toThrow(
        'go below shop.v1.Order, which has map fields',
      )
    })

    it('refuse explicit messageIndexes that contradict a computable path', async () => {
      await expect(orderSerde({ messageIndexes: [1] })).rejects.toThrow(
        'messageIndexes [1] disagree with the position of shop.v1.Order in schema, [0]',
      )
    })
  })

  describe('errors', () => {
    it('refuse bytes that are not in the wire format or have broken message indexes', async () => {
      const serde = await orderSerde()
      expect(() => serde.deserialize(Uint8Array.of(0x0a, 0x01, 0x61), context)).toThrow(
        'cannot read value of topic "orders": not in the schema registry wire format',
      )
      expect(() => serde.deserialize(Uint8Array.of(0, 0, 0, 1, 0x2d), context)).toThrow(
        'invalid message indexes: the input ends inside the count',
      )
      expect(() => serde.deserialize(Uint8Array.of(0, 0, 0, 1, 0x2d, 0x7e), context)).toThrow(SerdeError)
    })

    it('refuse a truncated message and invalid values like the plain serde', async () => {
      const serde = await orderSerde()
      const bytes = serde.serialize({ ...orderDefaults, id: 'o-4' }, context)!
      expect(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 1), context)).toThrow(
        'cannot read value of topic "orders" written with schema id 301 as protobuf shop.v1.Order: index out of range',
      )
      expect(() => serde.serialize({ id: 4 } as unknown as Order, context)).toThrow('id: string expected')
    })

    it('refuse a schema that does not declare the type, or is not .proto source', async () => {
      await expect(orderSerde({ schema: 'syntax = "proto3";\nmessage Other {}\n' })).rejects.toThrow(
        'schema does not declare the message type shop.v1.Order',
      )
      await expect(orderSerde({ schema: 'message {' })).rejects.toThrow('schema is not valid .proto source')
    })

    it('refuse writes from a read-only serde, and contradictory options', async () => {
      const serde = await orderSerde({ autoRegister: false, readOnly: true })
      expect(serde.schemaId).toBeUndefined()
      expect(() => serde.serialize(orderDefaults, context)).toThrow(/readOnly: true/)
      await expect(orderSerde({ readOnly: true })).rejects.toThrow(
        'autoRegister and readOnly exclude each other',
      )
      await expect(orderSerde({ type: {} as protobuf.Type })).rejects.toThrow(ConfigError)
    })

    it('report an unreachable registry with its URL', async () => {
      await fake.close()
      await expect(orderSerde()).rejects.toThrow(SchemaRegistryError)
      await expect(orderSerde()).rejects.toThrow(`cannot reach the schema registry at ${fake.url}`)
      fake = await startFakeSchemaRegistry()
    })
  })
})
