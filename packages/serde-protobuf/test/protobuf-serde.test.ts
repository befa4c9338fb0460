import { ConfigError, type Serde, SerdeError } from '@kstreams/core'
import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import { loadProtobufType, protobufSerde } from '../src/index.js'
import { type Order, orderDefaults, orderType, shopProto } from './orders.js'

const context = { topic: 'orders', target: 'value' as const, headers: [] }
const roundTrip = <T>(serde: Serde<T>, value: T): T =>
  serde.deserialize(serde.serialize(value, context)!, context)
const hex = (bytes: Uint8Array | null) => Buffer.from(bytes!).toString('hex')

const fullOrder: Order = {
  ...orderDefaults,
  id: 'o-1',
  totalCents: 2n ** 63n - 1n,
  sequence: 2n ** 64n - 1n,
  delta: -(2n ** 63n),
  status: 'SHIPPED',
  lines: [
    { sku: 'apple', quantity: 3, price: { currency: 'EUR', units: -42n } },
    { sku: 'pear', quantity: 0, price: null },
  ],
  labels: { channel: 'web', 'spaces ok': 'yes' },
  cardLast4: '4242',
  signature: Buffer.from([0, 255, 1]),
  gift: true,
  weight: 1.25,
  note: '',
  checkpoints: [1n, -1n, 2n ** 40n],
  featured: { sku: 'melon', quantity: 1, price: { currency: 'USD', units: 0n } },
}

describe('protobufSerde', () => {
  const serde = protobufSerde<Order>({ type: orderType })

  it('round-trips scalars, nested and repeated messages, maps, oneofs, enums, bytes and 64-bit integers', () => {
    expect(roundTrip(serde, fullOrder)).toEqual(fullOrder)
    const { cardLast4: _card, ...withoutCard } = fullOrder
    const byIban = { ...withoutCard, iban: 'CH93 0076 2011 6238 5295 7' }
    expect(roundTrip(serde, byIban)).toEqual(byIban)
  })

  it('reads unset fields as their defaults, and leaves unset oneofs and optional fields out', () => {
    expect(roundTrip(serde, {} as Order)).toEqual(orderDefaults)
    expect(serde.serialize({} as Order, context)!.byteLength).toBe(0)
    expect(roundTrip(serde, {} as Order)).not.toHaveProperty('note')
    expect(roundTrip(serde, {} as Order)).not.toHaveProperty('cardLast4')
  })

  it('writes the standard Protobuf encoding', () => {
    // Field 1 (id), wire type 2: tag 0a, length 02, "o1"; field 5 (status) varint: tag 28, 01.
    expect(hex(serde.serialize({ id: 'o1', status: 'PLACED' } as Order, context))).toBe('0a026f312801')
  })

  it('accepts 64-bit integers as bigints, decimal strings or safe numbers, and enums as names or numbers', () => {
    const written = { id: 'x', totalCents: '-9223372036854775808', sequence: 7, status: 1 }
    expect(roundTrip(serde, written as unknown as Order)).toMatchObject({
      totalCents: -(2n ** 63n),
      sequence: 7n,
      status: 'PLACED',
    })
  })

  it('accepts messages built by protobufjs', () => {
    const message = orderType.fromObject({ id: 'built', totalCents: 5 })
    expect(roundTrip(serde, message as unknown as Order)).toMatchObject({ id: 'built', totalCents: 5n })
  })

  it('passes toObject options through: 64-bit integers as strings, enums as numbers', () => {
    const strings = protobufSerde<Record<string, unknown>>({
      type: orderType,
      toObject: { longs: String, enums: Number },
    })
    const read = roundTrip(strings, { id: 'x', totalCents: '123456789012345678', status: 'PLACED' })
    expect(read).toMatchObject({ totalCents: '123456789012345678', sequence: '0', status: 1, lines: [] })
  })

  it('round-trips a value of more than 1 MiB', () => {
    const big = {
      ...orderDefaults,
      id: 'é'.repeat(700 * 1024),
      signature: Buffer.alloc(1024 * 1024, 9),
      lines: Array.from({ length: 1000 }, (_, i) => ({ sku: `sku-${i}`, quantity: i, price: null })),
    }
    const bytes = serde.serialize(big, context)!
    expect(bytes.byteLength).toBeGreaterThan(2 * 1024 * 1024)
    expect(serde.deserialize(bytes, context)).toEqual(big)
  })

  it('works with types built by reflection', () => {
    const point = new protobuf.Type('Point')
      .add(new protobuf.Field('x', 1, 'sint32'))
      .add(new protobuf.Field('y', 2, 'sint32'))
    new protobuf.Root().add(point)
    const points = protobufSerde<{ x: number; y: number }>({ type: point })
    expect(roundTrip(points, { x: -3, y: 4 })).toEqual({ x: -3, y: 4 })
  })

  describe('errors', () => {
    const invalid: Array<[string, unknown]> = [
      ['totalCents: integer|Long expected', { totalCents: 'abc' }],
      ['id: string expected', { id: 5 }],
      ['gift: boolean expected', { gift: 'false' }],
      ['status: enum value expected', { status: 'LOST' }],
      ['lines.quantity: integer expected', { lines: [{ quantity: 'two' }] }],
      ['lines.price.units: integer|Long expected', { lines: [{ price: { units: 1.5 } }] }],
      ['labels: string{k:string} expected', { labels: { channel: 1 } }],
      ['sequence: -1 is out of range for uint64', { sequence: -1n }],
      ['checkpoints.1: 9223372036854775808 is out of range for int64', { checkpoints: [1n, 2n ** 63n] }],
      ['object expected', 'not an order'],
    ]

    it.each(invalid)('refuse an invalid value on serialize, naming the topic and “%s”', (problem, value) => {
      expect(() => serde.serialize(value as Order, context)).toThrow(SerdeError)
      expect(() => serde.serialize(value as Order, context)).toThrow(
        `cannot write value for topic "orders" as protobuf shop.v1.Order: ${problem}`,
      )
    })

    it('refuse truncated input, naming the topic and target', () => {
      const bytes = serde.serialize(fullOrder, context)!
      const key = { ...context, target: 'key' as const }
      expect(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 3), key)).toThrow(SerdeError)
      expect(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 3), key)).toThrow(
        /^cannot read key of topic "orders" as protobuf shop.v1.Order: index out of range/,
      )
      // A length-delimited field that claims more bytes than there are.
      expect(() => serde.deserialize(Uint8Array.of(0x0a, 0x05, 0x61), context)).toThrow('index out of range')
      // A varint that never ends.
      expect(() => serde.deserialize(Uint8Array.of(0x10, 0xff, 0xff), context)).toThrow(SerdeError)
    })

    it('refuse invalid wire types', () => {
      // Tag 0x0f: field 1 with wire type 7, which does not exist.
      expect(() => serde.deserialize(Uint8Array.of(0x0f), context)).toThrow('invalid wire type 7')
      // Wire type 4 (end group) without a start group.
      expect(() => serde.deserialize(Uint8Array.of(0x0c), context)).toThrow(SerdeError)
    })

    it('skip a known field written with another wire type, like an unknown field (as protoc does)', () => {
      // Field 1 (id, a string) as a varint, then field 11 (gift) as true.
      expect(serde.deserialize(Uint8Array.of(0x08, 0x05, 0x58, 0x01), context)).toEqual({
        ...orderDefaults,
        gift: true,
      })
    })

    it('cannot tell garbage that happens to parse: Protobuf carries no type information', () => {
      // Field 11 (gift) set: any message type with a varint field 11 reads these bytes.
      expect(serde.deserialize(Uint8Array.of(0x58, 0x01), context)).toMatchObject({ gift: true })
    })

    it('refuse something that is not a message type', () => {
      expect(() => protobufSerde({ type: {} as protobuf.Type })).toThrow(ConfigError)
      const enumType = new protobuf.Enum('Kind', { A: 0 })
      expect(() => protobufSerde({ type: enumType as unknown as protobuf.Type })).toThrow(
        'type must be a protobufjs message Type',
      )
    })
  })
})

describe('loadProtobufType', () => {
  it('loads a message type and its imports, with lowerCamelCase field names', () => {
    expect(orderType.fullName).toBe('.shop.v1.Order')
    expect(Object.keys(orderType.fields)).toContain('totalCents')
    expect(orderType.fields.lines?.resolvedType?.fullName).toBe('.shop.v1.Order.Line')
  })

  it('keeps field names as written with keepCase', () => {
    const type = loadProtobufType(shopProto, 'shop.v1.Order', { keepCase: true })
    expect(Object.keys(type.fields)).toContain('total_cents')
    const serde = protobufSerde<Record<string, unknown>>({ type })
    expect(roundTrip(serde, { total_cents: 5n, card_last4: '1234' })).toMatchObject({
      total_cents: 5n,
      card_last4: '1234',
    })
  })

  it('refuses a missing file, an unknown type and a type that is not a message', () => {
    expect(() => loadProtobufType('no/such.proto', 'a.B')).toThrow(ConfigError)
    expect(() => loadProtobufType('no/such.proto', 'a.B')).toThrow('cannot load no/such.proto')
    expect(() => loadProtobufType(shopProto, 'shop.v1.Nope')).toThrow(
      /declares no message type "shop.v1.Nope" \(declared: .*shop.v1.Order.Line, shop.v1.Customer/,
    )
    expect(() => loadProtobufType(shopProto, 'shop.v1.Order.Status')).toThrow(
      'no message type "shop.v1.Order.Status"',
    )
  })
})
