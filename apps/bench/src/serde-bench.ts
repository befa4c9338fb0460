// Serde throughput: each kstreams serde next to the library it wraps, called directly, on the same
// record (an order with three items), in the same process. No broker involved.
import { type Serde, type SerdeContext, serdes } from '@kstreams/core'
import { avroSerde } from '@kstreams/serde-avro'
import { jsonSerde } from '@kstreams/serde-json'
import { msgpackSerde } from '@kstreams/serde-msgpack'
import { protobufSerde } from '@kstreams/serde-protobuf'
import avro from 'avsc'
import { Packr, Unpackr } from 'msgpackr'
import protobuf from 'protobufjs'
import { z } from 'zod'

interface Order {
  id: string
  customer: string
  amountCents: number
  currency: string
  items: Array<{ sku: string; quantity: number; priceCents: number }>
  createdAt: number
}

const order: Order = {
  id: 'order-00042',
  customer: 'customer-1234',
  amountCents: 12_345,
  currency: 'EUR',
  items: [
    { sku: 'sku-1', quantity: 1, priceCents: 4_000 },
    { sku: 'sku-22', quantity: 2, priceCents: 3_000 },
    { sku: 'sku-333', quantity: 1, priceCents: 2_345 },
  ],
  createdAt: 1_790_000_000_000,
}

const context: SerdeContext = { topic: 'orders', target: 'value', headers: [] }
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const avroSchema = {
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'amountCents', type: 'int' },
    { name: 'currency', type: 'string' },
    {
      name: 'items',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Item',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'quantity', type: 'int' },
            { name: 'priceCents', type: 'int' },
          ],
        },
      },
    },
    { name: 'createdAt', type: 'double' },
  ],
}

const root = protobuf.parse(`
syntax = "proto3";
message Item { string sku = 1; int32 quantity = 2; int32 priceCents = 3; }
message Order {
  string id = 1; string customer = 2; int32 amountCents = 3; string currency = 4;
  repeated Item items = 5; double createdAt = 6;
}`).root
const orderType = root.lookupType('Order')

const zodOrder = z.object({
  id: z.string(),
  customer: z.string(),
  amountCents: z.number().int(),
  currency: z.string(),
  items: z.array(z.object({ sku: z.string(), quantity: z.number().int(), priceCents: z.number().int() })),
  createdAt: z.number(),
})

/** A side: serialize and deserialize of one format, through kstreams or the library directly. */
interface Side {
  format: string
  side: string
  serialize: () => Uint8Array
  deserialize: (bytes: Uint8Array) => unknown
}

function viaSerde(format: string, serde: Serde<Order>, side = 'kstreams serde'): Side {
  return {
    format,
    side,
    serialize: () => serde.serialize(order, context)!,
    deserialize: (bytes) => serde.deserialize(bytes, context),
  }
}

const avroType = avro.Type.forSchema(avroSchema as avro.Schema)
const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false })

const sides: Side[] = [
  {
    format: 'json',
    side: 'JSON.stringify/parse + TextEncoder',
    serialize: () => encoder.encode(JSON.stringify(order)),
    deserialize: (bytes) => JSON.parse(decoder.decode(bytes)),
  },
  viaSerde('json', serdes.json<Order>(), 'core serdes.json()'),
  viaSerde('json', jsonSerde<Order>(), '@kstreams/serde-json'),
  viaSerde('json', jsonSerde({ schema: zodOrder }), '@kstreams/serde-json + zod validation'),
  {
    format: 'avro',
    side: 'avsc toBuffer/fromBuffer',
    serialize: () => avroType.toBuffer(order),
    deserialize: (bytes) =>
      avroType.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
  },
  viaSerde('avro', avroSerde<Order>({ schema: avroSchema })),
  {
    format: 'protobuf',
    side: 'protobufjs encode/decode/toObject',
    serialize: () => orderType.encode(orderType.fromObject(order)).finish(),
    deserialize: (bytes) => orderType.toObject(orderType.decode(bytes)),
  },
  viaSerde('protobuf', protobufSerde<Order>({ type: orderType })),
  {
    format: 'msgpack',
    side: 'msgpackr pack/unpack',
    serialize: () => packr.pack(order),
    deserialize: (bytes) => unpackr.unpack(bytes as Buffer),
  },
  viaSerde('msgpack', msgpackSerde<Order>()),
]

/** Operations per second of `operation`, after a warm-up, over at least `minimumMs`. */
function opsPerSecond(operation: () => unknown, minimumMs = 1500): number {
  for (let index = 0; index < 20_000; index += 1) operation()
  let operations = 0
  const started = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < minimumMs) {
    for (let index = 0; index < 10_000; index += 1) operation()
    operations += 10_000
    elapsed = Number(process.hrtime.bigint() - started) / 1e6
  }
  return operations / (elapsed / 1000)
}

export interface SerdeBenchResult {
  format: string
  side: string
  bytes: number
  serializeOpsPerSecond: number
  deserializeOpsPerSecond: number
  serializeMegabytesPerSecond: number
  deserializeMegabytesPerSecond: number
}

export function runSerdeBench(): SerdeBenchResult[] {
  return sides.map((side) => {
    const bytes = side.serialize()
    const serializeOps = opsPerSecond(side.serialize)
    const deserializeOps = opsPerSecond(() => side.deserialize(bytes))
    return {
      format: side.format,
      side: side.side,
      bytes: bytes.byteLength,
      serializeOpsPerSecond: serializeOps,
      deserializeOpsPerSecond: deserializeOps,
      serializeMegabytesPerSecond: (serializeOps * bytes.byteLength) / 1e6,
      deserializeMegabytesPerSecond: (deserializeOps * bytes.byteLength) / 1e6,
    }
  })
}
