import { ConfigError, SerdeError } from '@kstreams/core'
import {
  createSchemaRegistryClient,
  type SchemaRegistryClient,
  SchemaRegistryError,
} from '@kstreams/schema-registry'
import { type FakeSchemaRegistry, startFakeSchemaRegistry } from '@kstreams/schema-registry/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { avroSerde, createRegistryAvroSerde } from '../src/index.js'

const context = { topic: 'orders', target: 'value' as const, headers: [] }
const hex = (bytes: Uint8Array | null) => Buffer.from(bytes!).toString('hex')

const orderV1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
}
const orderV2 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'currency', type: 'string', default: 'EUR' },
  ],
}
const orderV1Text = JSON.stringify(orderV1)
const orderV2Text = JSON.stringify(orderV2)

interface Order {
  id: string
  amount: number
  currency?: string
}

let fake: FakeSchemaRegistry
let registry: SchemaRegistryClient

beforeEach(async () => {
  fake = await startFakeSchemaRegistry({ firstId: 100 })
  registry = createSchemaRegistryClient({ url: fake.url })
})

afterEach(async () => {
  await fake.close()
})

describe('createRegistryAvroSerde', () => {
  it('registers its schema under <topic>-value and writes magic byte, id and Avro payload', async () => {
    const serde = await createRegistryAvroSerde<Order>({
      registry,
      topic: 'orders',
      schema: orderV1,
      autoRegister: true,
    })
    expect(serde.subject).toBe('orders-value')
    expect(serde.schemaId).toBe(100)
    expect(fake.requests[0]).toBe('POST /subjects/orders-value/versions')
    const order = { id: 'o-1', amount: 9.5 }
    const bytes = serde.serialize(order, context)!
    const payload = avroSerde<Order>({ schema: orderV1 }).serialize(order, context)!
    expect(hex(bytes)).toBe(`0000000064${hex(payload)}`)
    expect(serde.deserialize(bytes, context)).toEqual(order)
  })

  it('looks up an already registered schema by default, and registers nothing', async () => {
    const id = fake.register('orders-value', { schema: orderV1Text })
    const serde = await createRegistryAvroSerde<Order>({ registry, topic: 'orders', schema: orderV1Text })
    expect(serde.schemaId).toBe(id)
    expect(fake.requests[0]).toBe('POST /subjects/orders-value')
    expect(await registry.getVersions('orders-value')).toEqual([1])
  })

  it('refuses a schema that is not registered, saying what to do', async () => {
    const creating = createRegistryAvroSerde<Order>({ registry, topic: 'orders', schema: orderV1 })
    await expect(creating).rejects.toThrow(ConfigError)
    await expect(
      createRegistryAvroSerde<Order>({ registry, topic: 'orders', schema: orderV1 }),
    ).rejects.toThrow(
      /not registered under subject "orders-value".*register it first, pass autoRegister: true, or readOnly: true/,
    )
  })

  it('uses an explicit subject, or the -key subject for keys', async () => {
    const bySubject = await createRegistryAvroSerde<Order>({
      registry,
      subject: 'shop.Order',
      schema: orderV1,
      autoRegister: true,
    })
    expect(bySubject.subject).toBe('shop.Order')
    const keys = await createRegistryAvroSerde<string>({
      registry,
      topic: 'orders',
      target: 'key',
      schema: 'string',
      autoRegister: true,
    })
    expect(keys.subject).toBe('orders-key')
    expect((await registry.getSchemaById(keys.schemaId!)).schema).toBe('"string"')
    const key = { ...context, target: 'key' as const }
    expect(keys.deserialize(keys.serialize('o-1', key)!, key)).toBe('o-1')
  })

  it('makes no HTTP request while serializing and deserializing', async () => {
    const serde = await createRegistryAvroSerde<Order>({
      registry,
      topic: 'orders',
      schema: orderV1,
      autoRegister: true,
    })
    const requests = fake.requests.length
    for (let i = 0; i < 100; i++) {
      serde.deserialize(serde.serialize({ id: `o-${i}`, amount: i }, context)!, context)
    }
    expect(fake.requests.length).toBe(requests)
  })

  it('round-trips a value of more than 1 MiB', async () => {
    const serde = await createRegistryAvroSerde<Order>({
      registry,
      topic: 'orders',
      schema: orderV1,
      autoRegister: true,
    })
    const order = { id: 'x'.repeat(1024 * 1024 + 3), amount: 1 }
    expect(serde.deserialize(serde.serialize(order, context)!, context)).toEqual(order)
  })

  describe('schema evolution', () => {
    it('reads records written with every version of its subject as its own schema', async () => {
      const producerV1 = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
      })
      const written = producerV1.serialize({ id: 'o-1', amount: 3 }, context)!
      const consumerV2 = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV2,
        autoRegister: true,
      })
      expect(consumerV2.loadedSchemaIds()).toEqual([100, 101])
      expect(consumerV2.deserialize(written, context)).toEqual({ id: 'o-1', amount: 3, currency: 'EUR' })
      // The other way: v2 was registered after the v1 serde was created, so it must load it first;
      // then v2 records read as v1 drop the new field.
      const newer = consumerV2.serialize({ id: 'o-2', amount: 4, currency: 'USD' }, context)!
      expect(() => producerV1.deserialize(newer, context)).toThrow(
        'schema id 101, which this serde has not loaded',
      )
      await producerV1.preload({ subjects: ['orders-value'] })
      expect(producerV1.deserialize(newer, context)).toEqual({ id: 'o-2', amount: 4 })
    })

    it('reads with a reader schema that was never registered when readOnly', async () => {
      fake.register('orders-value', { schema: orderV1Text })
      const writer = await createRegistryAvroSerde<Order>({ registry, topic: 'orders', schema: orderV1Text })
      const reader = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV2,
        readOnly: true,
      })
      expect(reader.schemaId).toBeUndefined()
      expect(reader.deserialize(writer.serialize({ id: 'o-3', amount: 1 }, context)!, context)).toEqual({
        id: 'o-3',
        amount: 1,
        currency: 'EUR',
      })
      expect(() => reader.serialize({ id: 'o-4', amount: 1 }, context)).toThrow(/readOnly: true/)
    })

    it('fails a writer schema it cannot resolve with a SerdeError naming the id, once compiled', async () => {
      const incompatible = JSON.stringify({ type: 'record', name: 'Order', namespace: 'shop', fields: [] })
      const id = fake.register('orders-value', { schema: incompatible })
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
      })
      const bytes = Uint8Array.of(0, 0, 0, 0, id)
      expect(() => serde.deserialize(bytes, context)).toThrow(SerdeError)
      expect(() => serde.deserialize(bytes, context)).toThrow(
        `cannot read value of topic "orders" written with schema id ${id} as Avro shop.Order: no matching field for default-less shop.Order.id`,
      )
    })
  })

  describe('writer schemas it has not loaded', () => {
    it('throws a SerdeError naming the id and how to load it, and reads after preload()', async () => {
      const elsewhere = await createRegistryAvroSerde<Order>({
        registry,
        subject: 'archive-value',
        schema: orderV2,
        autoRegister: true,
      })
      const written = elsewhere.serialize({ id: 'o-5', amount: 2, currency: 'CHF' }, context)!
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
      })
      const error = (() => {
        try {
          serde.deserialize(written, context)
        } catch (caught) {
          return caught as SerdeError
        }
      })()
      expect(error).toBeInstanceOf(SerdeError)
      expect(error?.context).toEqual({ topic: 'orders', target: 'value', schemaId: elsewhere.schemaId })
      expect(error?.message).toContain(
        `written with schema id ${elsewhere.schemaId}, which this serde has not loaded`,
      )
      expect(error?.message).toContain('knownSchemaIds')
      expect(error?.message).toContain('preloadSubjects')

      await serde.preload({ schemaIds: [elsewhere.schemaId!] })
      expect(serde.deserialize(written, context)).toEqual({ id: 'o-5', amount: 2 })
    })

    it('loads knownSchemaIds and preloadSubjects up front', async () => {
      const archiveId = fake.register('archive-value', { schema: orderV2Text })
      const otherId = fake.register('other-value', { schema: JSON.stringify({ ...orderV2, doc: 'other' }) })
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
        knownSchemaIds: [archiveId],
        preloadSubjects: ['other-value'],
      })
      expect(serde.loadedSchemaIds()).toEqual([archiveId, otherId, serde.schemaId])
      const writer = avroSerde<Order>({ schema: orderV2 })
      const payload = writer.serialize({ id: 'o-6', amount: 1, currency: 'GBP' }, context)!
      for (const id of [archiveId, otherId]) {
        const framed = new Uint8Array([0, 0, 0, 0, id, ...payload])
        expect(serde.deserialize(framed, context)).toEqual({ id: 'o-6', amount: 1 })
      }
    })

    it('refuses a preloaded subject that does not exist, but not its own', async () => {
      await expect(
        createRegistryAvroSerde<Order>({
          registry,
          topic: 'orders',
          schema: orderV1,
          readOnly: true,
          preloadSubjects: ['missing-value'],
        }),
      ).rejects.toMatchObject({ errorCode: 40401 })
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        readOnly: true,
      })
      expect(serde.loadedSchemaIds()).toEqual([])
    })

    it('refuses a writer schema that is not Avro', async () => {
      const id = fake.register('orders-value', { schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' })
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        readOnly: true,
      })
      expect(() => serde.deserialize(Uint8Array.of(0, 0, 0, 0, id, 0), context)).toThrow(
        'its schema type is PROTOBUF, not AVRO',
      )
    })
  })

  describe('errors', () => {
    it('refuse bytes that are not in the wire format, naming topic and target', async () => {
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
      })
      const key = { ...context, target: 'key' as const }
      expect(() => serde.deserialize(Uint8Array.of(1, 0, 0, 0, 100, 0), key)).toThrow(
        'cannot read key of topic "orders": not in the schema registry wire format: the first byte is 0x01',
      )
      expect(() => serde.deserialize(Uint8Array.of(0, 0, 0), context)).toThrow('fewer than the 5-byte header')
      const plain = avroSerde<Order>({ schema: orderV1 }).serialize({ id: 'o', amount: 1 }, context)!
      expect(() => serde.deserialize(plain, context)).toThrow(SerdeError)
    })

    it('refuse a truncated payload and invalid values like the plain serde', async () => {
      const serde = await createRegistryAvroSerde<Order>({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
      })
      const bytes = serde.serialize({ id: 'o-7', amount: 5 }, context)!
      expect(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 1), context)).toThrow(
        `cannot read value of topic "orders" written with schema id 100 as Avro shop.Order: truncated buffer`,
      )
      expect(() => serde.serialize({ id: 7 } as unknown as Order, context)).toThrow(
        'id: expected string, got a number; amount: expected double, got undefined (missing)',
      )
    })

    it('refuse contradictory options and a missing subject', async () => {
      await expect(
        createRegistryAvroSerde({
          registry,
          topic: 'orders',
          schema: orderV1,
          autoRegister: true,
          readOnly: true,
        }),
      ).rejects.toThrow('autoRegister and readOnly exclude each other')
      await expect(createRegistryAvroSerde({ registry, schema: orderV1 })).rejects.toThrow(
        'give exactly one of subject and topic',
      )
      await expect(
        createRegistryAvroSerde({ registry, topic: 'o', subject: 's', schema: orderV1 }),
      ).rejects.toThrow(ConfigError)
      await expect(
        createRegistryAvroSerde({ registry, topic: 'o', schema: { type: 'nope' } }),
      ).rejects.toThrow('schema is not a valid Avro schema')
    })

    it('report an unreachable registry with its URL', async () => {
      await fake.close()
      const creating = createRegistryAvroSerde({
        registry,
        topic: 'orders',
        schema: orderV1,
        autoRegister: true,
      })
      await expect(creating).rejects.toThrow(SchemaRegistryError)
      await expect(
        createRegistryAvroSerde({ registry, topic: 'orders', schema: orderV1, autoRegister: true }),
      ).rejects.toThrow(`cannot reach the schema registry at ${fake.url}`)
      fake = await startFakeSchemaRegistry()
    })
  })
})
