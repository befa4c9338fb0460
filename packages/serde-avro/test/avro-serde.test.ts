import { ConfigError, type Serde, SerdeError } from '@kstreams/core'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { avroSerde, TimestampMillisType } from '../src/index.js'
import { alice, type User, userSchema } from './users.js'

const context = { topic: 'users', target: 'value' as const, headers: [] }
// The zig-zag varint of a 64-bit integer, as the Avro specification defines it.
const zigZagVarint = (value: bigint): Uint8Array => {
  let rest = value >= 0n ? value * 2n : -value * 2n - 1n
  const out: number[] = []
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80)
    rest >>= 7n
  }
  out.push(Number(rest))
  return Uint8Array.from(out)
}
const roundTrip = <T>(serde: Serde<T>, value: T): T =>
  serde.deserialize(serde.serialize(value, context)!, context)

describe('avroSerde', () => {
  it('round-trips records with nested records, unions, enums, arrays, maps, bytes and fixed', () => {
    const serde = avroSerde<User>({ schema: userSchema })
    expect(roundTrip(serde, alice)).toEqual(alice)
    const bob: User = {
      ...alice,
      nickname: 'bobby',
      tags: [],
      scores: {},
      contact: 'bob@example.com',
      payment: { 'com.example.Iban': { country: 'CH' } },
    }
    expect(roundTrip(serde, bob)).toEqual(bob)
    expect(roundTrip(serde, { ...alice, contact: null })).toEqual({ ...alice, contact: null })
  })

  it('writes the plain Avro binary encoding, without any header', () => {
    const serde = avroSerde<{ id: number; name: string }>({
      schema: {
        type: 'record',
        name: 'Pair',
        fields: [
          { name: 'id', type: 'int' },
          { name: 'name', type: 'string' },
        ],
      },
    })
    // zig-zag 1 = 02, then the string length (zig-zag 2 = 04) and "hi".
    expect(Buffer.from(serde.serialize({ id: 1, name: 'hi' }, context)!).toString('hex')).toBe('02046869')
  })

  it('takes the schema as JSON text, a bare primitive name, or an avsc Type', () => {
    expect(roundTrip(avroSerde<User>({ schema: JSON.stringify(userSchema) }), alice)).toEqual(alice)
    expect(roundTrip(avroSerde<string>({ schema: 'string' }), 'héllo')).toBe('héllo')
    expect(roundTrip(avroSerde<string>({ schema: '"string"' }), 'x')).toBe('x')
    expect(roundTrip(avroSerde<number>({ schema: avro.Type.forSchema('double') }), 1.25)).toBe(1.25)
  })

  it('reads from a Uint8Array that is a view into a larger buffer', () => {
    const serde = avroSerde<User>({ schema: userSchema })
    const bytes = serde.serialize(alice, context)!
    const padded = new Uint8Array(bytes.byteLength + 6)
    padded.set(bytes, 3)
    expect(serde.deserialize(padded.subarray(3, 3 + bytes.byteLength), context)).toEqual(alice)
  })

  it('round-trips a value of more than 1 MiB', () => {
    const serde = avroSerde<{ blob: Buffer; text: string }>({
      schema: {
        type: 'record',
        name: 'Big',
        fields: [
          { name: 'blob', type: 'bytes' },
          { name: 'text', type: 'string' },
        ],
      },
    })
    const value = { blob: Buffer.alloc(1536 * 1024, 7), text: 'é'.repeat(600 * 1024) }
    const bytes = serde.serialize(value, context)!
    expect(bytes.byteLength).toBeGreaterThan(2 * 1024 * 1024)
    expect(serde.deserialize(bytes, context)).toEqual(value)
  })

  describe('longs', () => {
    // avsc 5.7's own long arithmetic is exact only to 2⁵²: it writes −2⁵² − 1 as the bytes of
    // +2⁵², and reads those bytes from other clients as a positive number. These values check
    // the serde's exact long type against the zig-zag varints every Avro implementation writes.
    const values = [
      0,
      -1,
      2 ** 31,
      2 ** 52,
      -(2 ** 52),
      2 ** 52 + 1,
      -(2 ** 52) - 1,
      -(2 ** 53) + 3,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ]

    it.each(values)('write %d as the standard zig-zag varint and read it back exactly', (value) => {
      const longs = avroSerde<number>({ schema: 'long' })
      const bytes = longs.serialize(value, context)!
      expect(Buffer.from(bytes).toString('hex')).toBe(
        Buffer.from(zigZagVarint(BigInt(value))).toString('hex'),
      )
      expect(longs.deserialize(zigZagVarint(BigInt(value)), context)).toBe(value)
    })

    it('give way to a long type of the caller in typeOptions.registry', () => {
      const bigints = avro.types.LongType.__with({
        fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
        toBuffer: (value: bigint) => {
          const buffer = Buffer.alloc(8)
          buffer.writeBigInt64LE(value)
          return buffer
        },
        fromJSON: BigInt,
        toJSON: Number,
        isValid: (value: unknown) => typeof value === 'bigint',
        compare: (left: bigint, right: bigint) => (left === right ? 0 : left < right ? -1 : 1),
      })
      const longs = avroSerde<bigint>({ schema: 'long', typeOptions: { registry: { long: bigints } } })
      expect(longs.deserialize(zigZagVarint(-(2n ** 63n)), context)).toBe(-(2n ** 63n))
      expect(longs.serialize(2n ** 62n, context)).toEqual(zigZagVarint(2n ** 62n))
    })

    it('apply inside records, unions, arrays, maps and when promoting an int', () => {
      const schema = {
        type: 'record',
        name: 'Longs',
        fields: [
          { name: 'plain', type: { type: 'long' } },
          { name: 'optional', type: ['null', 'long'] },
          { name: 'list', type: { type: 'array', items: 'long' } },
          { name: 'byName', type: { type: 'map', values: 'long' } },
        ],
      }
      const low = -(2 ** 52) - 7
      const value = { plain: low, optional: low, list: [low, 1], byName: { a: low } }
      expect(roundTrip(avroSerde<typeof value>({ schema }), value)).toEqual(value)
      const promoted = avroSerde<{ plain: number }>({
        writerSchema: { type: 'record', name: 'Longs', fields: [{ name: 'plain', type: 'int' }] },
        readerSchema: { type: 'record', name: 'Longs', fields: [{ name: 'plain', type: 'long' }] },
      })
      const written = avroSerde<{ plain: number }>({
        schema: { type: 'record', name: 'Longs', fields: [{ name: 'plain', type: 'int' }] },
      }).serialize({ plain: -5 }, context)!
      expect(promoted.deserialize(written, context)).toEqual({ plain: -5 })
    })
  })

  describe('logical types', () => {
    const eventSchema = {
      type: 'record',
      name: 'Event',
      fields: [{ name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }],
    }

    it('reads timestamp-millis as a Date with TimestampMillisType', () => {
      const serde = avroSerde<{ at: Date }>({
        schema: eventSchema,
        typeOptions: { logicalTypes: { 'timestamp-millis': TimestampMillisType } },
      })
      const at = new Date('2024-02-29T12:34:56.789Z')
      expect(roundTrip(serde, { at })).toEqual({ at })
      // The encoding is the plain long of milliseconds, so readers without the class see a number.
      const plain = avroSerde<{ at: number }>({ schema: eventSchema })
      expect(plain.deserialize(serde.serialize({ at }, context)!, context)).toEqual({ at: at.getTime() })
      expect(() => serde.serialize({ at: new Date(Number.NaN) }, context)).toThrow(SerdeError)
      expect(() => serde.serialize({ at: 'yesterday' as unknown as Date }, context)).toThrow('at: expected')
    })

    it('reads a plain long written by an older schema as a Date', () => {
      const serde = avroSerde<{ at: Date }>({
        writerSchema: { type: 'record', name: 'Event', fields: [{ name: 'at', type: 'long' }] },
        readerSchema: eventSchema,
        typeOptions: { logicalTypes: { 'timestamp-millis': TimestampMillisType } },
      })
      const v1 = avroSerde<{ at: number }>({
        schema: { type: 'record', name: 'Event', fields: [{ name: 'at', type: 'long' }] },
      })
      expect(serde.deserialize(v1.serialize({ at: 86_400_000 }, context)!, context)).toEqual({
        at: new Date('1970-01-02T00:00:00Z'),
      })
    })
  })

  describe('schema evolution', () => {
    const v1 = {
      type: 'record',
      name: 'Customer',
      fields: [
        { name: 'id', type: 'int' },
        { name: 'name', type: 'string' },
        { name: 'legacyCode', type: 'string' },
      ],
    }
    const v2 = {
      type: 'record',
      name: 'Customer',
      fields: [
        { name: 'id', type: 'int' },
        { name: 'name', type: 'string' },
        { name: 'email', type: 'string', default: 'unknown@example.com' },
        { name: 'tier', type: ['null', 'int'], default: null },
      ],
    }
    const old = { id: 7, name: 'Ada', legacyCode: 'X1' }

    it('reads records written with v1 as v2: new fields get defaults, removed fields are skipped', () => {
      const written = avroSerde<typeof old>({ schema: v1 }).serialize(old, context)!
      const serde = avroSerde({ writerSchema: v1, readerSchema: v2 })
      expect(serde.deserialize(written, context)).toEqual({
        id: 7,
        name: 'Ada',
        email: 'unknown@example.com',
        tier: null,
      })
    })

    it('reads records written with a newer schema as an older one (forward compatibility)', () => {
      const newer = { id: 8, name: 'Bo', email: 'bo@example.com', tier: 2 }
      const written = avroSerde<typeof newer>({ schema: v2 }).serialize(newer, context)!
      const reader = { type: 'record', name: 'Customer', fields: [{ name: 'id', type: 'int' }] }
      expect(avroSerde({ writerSchema: v2, readerSchema: reader }).deserialize(written, context)).toEqual({
        id: 8,
      })
    })

    it('writes with the writer schema, so the serde reads its own output', () => {
      const serde = avroSerde<Record<string, unknown>>({ writerSchema: v1, readerSchema: v2 })
      const bytes = serde.serialize(old, context)!
      expect(avroSerde({ schema: v1 }).deserialize(bytes, context)).toEqual(old)
      expect(serde.deserialize(bytes, context)).toMatchObject({ id: 7, email: 'unknown@example.com' })
    })

    it('refuses a reader schema that cannot read the writer’s records', () => {
      const strict = {
        type: 'record',
        name: 'Customer',
        fields: [{ name: 'vat', type: 'string' }],
      }
      expect(() => avroSerde({ writerSchema: v1, readerSchema: strict })).toThrow(ConfigError)
      expect(() => avroSerde({ writerSchema: v1, readerSchema: strict })).toThrow(
        'readerSchema cannot read what writerSchema writes: no matching field for default-less Customer.vat',
      )
    })
  })

  describe('errors', () => {
    const serde = avroSerde<User>({ schema: userSchema })

    it('name the topic and the failing field path of an invalid value', () => {
      const invalid = { ...alice, address: { street: 'Main St', zip: 'nope' } } as unknown as User
      const error = (() => {
        try {
          serde.serialize(invalid, context)
        } catch (caught) {
          return caught as SerdeError
        }
      })()
      expect(error).toBeInstanceOf(SerdeError)
      expect(error?.message).toBe(
        'cannot write value for topic "users" as Avro com.example.User: address.zip: expected int, got a string',
      )
      expect(error?.context).toMatchObject({ topic: 'users', target: 'value', path: 'address.zip' })
      // The message names kinds of values, never the values: records may hold personal data.
      expect(error?.message).not.toContain('nope')
    })

    it('report several problems, missing fields, array items, enum symbols and unions', () => {
      const invalid = { ...alice, id: 1.5, name: undefined, role: 'OWNER', tags: ['ok', 3] }
      expect(() => serde.serialize(invalid as unknown as User, context)).toThrow(
        'id: expected long, got a number with a fraction; name: expected string, got undefined (missing); role: expected enum com.example.Role (ADMIN, MEMBER, GUEST), got a string that is not one of its symbols',
      )
      const union = { ...alice, nickname: 5 } as unknown as User
      expect(() => serde.serialize(union, context)).toThrow(
        'nickname: expected one of null, string, got a number',
      )
      const item = { ...alice, tags: ['ok', 3] } as unknown as User
      expect(() => serde.serialize(item, context)).toThrow('tags.1: expected string, got a number')
      expect(() => serde.serialize('not a user' as unknown as User, context)).toThrow(
        'the value itself: expected com.example.User, got a string',
      )
    })

    it('refuse truncated input, naming the topic and target', () => {
      const bytes = serde.serialize(alice, context)!
      const key = { ...context, target: 'key' as const }
      expect(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 2), key)).toThrow(SerdeError)
      expect(() => serde.deserialize(bytes.subarray(0, bytes.byteLength - 2), key)).toThrow(
        /cannot read key of topic "users" as Avro com.example.User: truncated buffer/,
      )
      expect(() => serde.deserialize(new Uint8Array(), context)).toThrow('truncated buffer')
    })

    it('refuse trailing bytes', () => {
      const bytes = serde.serialize(alice, context)!
      const longer = new Uint8Array(bytes.byteLength + 1)
      longer.set(bytes)
      expect(() => serde.deserialize(longer, context)).toThrow('trailing data')
    })

    it('refuse garbage that does not decode', () => {
      // An enum index far past the three symbols.
      const garbage = Uint8Array.of(0x02, 0x02, 0x61, 0x00, 0x7e)
      expect(() => serde.deserialize(garbage, context)).toThrow(SerdeError)
      const union = avroSerde<string | null>({ schema: ['null', 'string'] })
      expect(() => union.deserialize(Uint8Array.of(0x08), context)).toThrow(SerdeError)
    })

    it('refuse a long that a number cannot hold exactly', () => {
      const longs = avroSerde<number>({ schema: 'long' })
      expect(() => longs.serialize(2 ** 60, context)).toThrow(
        'expected long, got an integer outside the range of long',
      )
      expect(() => longs.serialize(2 ** 53, context)).toThrow(SerdeError)
      // 2⁵³ + 1 as a zig-zag varint, written by a client with 64-bit longs.
      expect(() => longs.deserialize(zigZagVarint(2n ** 53n + 1n), context)).toThrow(
        'long 9007199254740993 does not fit in a JavaScript number without losing precision',
      )
      expect(() => longs.deserialize(zigZagVarint(-(2n ** 63n)), context)).toThrow(SerdeError)
    })

    it('refuse invalid options with a ConfigError naming the option', () => {
      expect(() => avroSerde({ schema: { type: 'record', name: 'X' } })).toThrow(ConfigError)
      expect(() => avroSerde({ schema: { type: 'record', name: 'X' } })).toThrow(
        'schema is not a valid Avro schema',
      )
      expect(() => avroSerde({ schema: 'not-a-type' })).toThrow('schema is not a valid Avro schema')
      expect(() => avroSerde({} as never)).toThrow('give either schema, or writerSchema and readerSchema')
      expect(() => avroSerde({ writerSchema: 'int' } as never)).toThrow(
        'needs both writerSchema and readerSchema',
      )
      expect(() => avroSerde({ schema: 'int', writerSchema: 'int', readerSchema: 'int' } as never)).toThrow(
        ConfigError,
      )
    })
  })
})
