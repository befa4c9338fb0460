import { ConfigError, KStreamsError, type SerdeContext, SerdeError, serdes } from '@kstreams/core'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { formatPath, jsonSerde } from '../src/index.js'

const valueContext: SerdeContext = { topic: 'orders', target: 'value', headers: [] }
const keyContext: SerdeContext = { topic: 'orders', target: 'key', headers: [] }
// Bytes as the serde writes them (a Buffer, a Uint8Array of Node's pool).
const text = (value: string) => Buffer.from(value, 'utf8')
const json = (value: unknown) => text(JSON.stringify(value))

/** The error `fn` throws; fails when it throws nothing. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(Error)
    return error as Error
  }
  return expect.fail('expected a throw')
}

const Order = z.object({
  id: z.string(),
  items: z.array(z.object({ sku: z.string(), price: z.number() })),
  shipping: z.object({ address: z.object({ 'postal code': z.string() }) }),
})

const validOrder = {
  id: 'o-1',
  items: [
    { sku: 'a', price: 1 },
    { sku: 'b', price: 2 },
    { sku: 'c', price: 3 },
  ],
  shipping: { address: { 'postal code': '75001' } },
}

describe('jsonSerde', () => {
  it('writes the same bytes as serdes.json() and reads them back', () => {
    const serde = jsonSerde()
    const value = { a: [1, 'é', null], b: { c: true } }
    expect(serde.serialize(value, valueContext)).toEqual(serdes.json().serialize(value, valueContext))
    expect(serde.deserialize(serdes.json().serialize(value, valueContext)!, valueContext)).toEqual(value)
  })

  it('returns the schema output: transforms, coercions and defaults apply', () => {
    const Schema = z.object({
      amount: z.coerce.number(),
      currency: z.string().default('EUR'),
      tags: z.array(z.string()).transform((tags) => new Set(tags)),
      name: z.string().trim(),
    })
    const serde = jsonSerde({ schema: Schema })
    const value = serde.deserialize(
      json({ amount: '12.5', tags: ['a', 'b', 'a'], name: '  Zoë ' }),
      valueContext,
    )
    expect(value).toEqual({ amount: 12.5, currency: 'EUR', tags: new Set(['a', 'b']), name: 'Zoë' })

    const Valibot = v.object({ count: v.pipe(v.string(), v.transform(Number)) })
    expect(jsonSerde({ schema: Valibot }).deserialize(json({ count: '7' }), valueContext)).toEqual({
      count: 7,
    })
  })

  it('names the topic, the target and the path of the first issues, and keeps all issues in the context', () => {
    const serde = jsonSerde({ schema: Order })
    expect(serde.deserialize(json(validOrder), valueContext)).toEqual(validOrder)
    const bad = {
      id: 5,
      items: [
        { sku: 'a', price: 1 },
        { sku: 'b', price: 2 },
        { sku: 'c', price: 'free' },
      ],
      shipping: { address: { 'postal code': 75001 } },
      extra: true,
    }
    const error = thrownBy(() => serde.deserialize(json(bad), valueContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_SERDE')
    expect(error.message).toMatch(/^value of topic "orders" does not match the schema: /)
    expect(error.message).toContain('$.id: Invalid input: expected string, received number')
    expect(error.message).toContain('$.items[2].price: Invalid input: expected number, received string')
    expect(error.message).toContain('$.shipping.address["postal code"]: Invalid input: expected string')
    const context = (error as SerdeError).context
    expect(context).toMatchObject({ topic: 'orders', target: 'value' })
    const issues = context.issues as StandardSchemaV1.Issue[]
    expect(issues.map((issue) => formatPath(issue.path))).toEqual([
      '$.id',
      '$.items[2].price',
      '$.shipping.address["postal code"]',
    ])

    const keyError = thrownBy(() => jsonSerde({ schema: z.string() }).deserialize(json(1), keyContext))
    expect(keyError.message).toBe(
      'key of topic "orders" does not match the schema: $: Invalid input: expected string, received number',
    )
  })

  it('shows the first three issues in the message and counts the others', () => {
    const serde = jsonSerde({ schema: z.array(z.number()) })
    const error = thrownBy(() => serde.deserialize(json(['a', 'b', 'c', 'd', 'e']), valueContext))
    expect(error.message).toContain('$[0]: ')
    expect(error.message).toContain('$[2]: ')
    expect(error.message).not.toContain('$[3]: ')
    expect(error.message).toMatch(/\(and 2 more issues\)$/)
    expect((error as SerdeError).context.issues).toHaveLength(5)

    const one = thrownBy(() => serde.deserialize(json(['a', 'b', 'c', 'd']), valueContext))
    expect(one.message).toMatch(/\(and 1 more issue\)$/)
  })

  it('formats the paths of valibot issues the same way', () => {
    const Schema = v.object({ items: v.array(v.object({ price: v.number() })), 'odd key': v.string() })
    const error = thrownBy(() =>
      jsonSerde({ schema: Schema }).deserialize(
        json({ items: [{ price: 1 }, { price: '2' }], 'odd key': 3 }),
        valueContext,
      ),
    )
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.message).toContain('$.items[1].price: Invalid type: Expected number')
    expect(error.message).toContain('$["odd key"]: Invalid type: Expected string')
  })

  it('formats paths as JSONPath', () => {
    expect(formatPath(undefined)).toBe('$')
    expect(formatPath([])).toBe('$')
    expect(formatPath(['a', 0, 'b_c', '$d'])).toBe('$.a[0].b_c.$d')
    expect(formatPath([{ key: 'items' }, { key: 2 }])).toBe('$.items[2]')
    expect(formatPath(['with space', '2', '', 'quote"'])).toBe('$["with space"]["2"][""]["quote\\""]')
    expect(formatPath([Symbol('tag')])).toBe('$[Symbol(tag)]')
  })

  it('rejects malformed JSON with the parser’s message', () => {
    const serde = jsonSerde({ schema: Order })
    const error = thrownBy(() => serde.deserialize(text('{"id": "o-1",'), keyContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.message).toMatch(/^cannot read key of topic "orders" as JSON: .*JSON/)
    expect(error.cause).toBeInstanceOf(SyntaxError)
    expect(error.message).toContain((error.cause as Error).message)
    expect((error as SerdeError).context).toMatchObject({ topic: 'orders', target: 'key' })

    const empty = thrownBy(() => serde.deserialize(new Uint8Array(0), valueContext))
    expect(empty.message).toMatch(/^cannot read value of topic "orders" as JSON: /)
  })

  it('rejects invalid UTF-8 instead of reading replacement characters', () => {
    const error = thrownBy(() => jsonSerde().deserialize(Uint8Array.of(0x22, 0xff, 0x22), valueContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.message).toBe(
      'cannot read value of topic "orders" as JSON: the 3 byte(s) are not valid UTF-8',
    )
  })

  it('rejects an async validator with a ConfigError, and never leaves its promise unhandled', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const Async = z.object({ id: z.string() }).refine(async () => false)
      const error = thrownBy(() => jsonSerde({ schema: Async }).deserialize(json({ id: 'a' }), valueContext))
      expect(error).toBeInstanceOf(ConfigError)
      expect(KStreamsError.isInstance(error) && error.code).toBe('KSTREAMS_CONFIG')
      expect(error.message).toContain('the schema of the value of topic "orders" validates asynchronously')
      expect(error.message).toContain('zod returned a Promise')
      expect((error as ConfigError).context).toMatchObject({
        topic: 'orders',
        target: 'value',
        option: 'schema',
      })

      const rejecting: StandardSchemaV1<unknown, string> = {
        '~standard': { version: 1, vendor: 'custom', validate: () => Promise.reject(new Error('boom')) },
      }
      expect(() => jsonSerde({ schema: rejecting }).deserialize(json('a'), keyContext)).toThrow(ConfigError)
      expect(() =>
        jsonSerde({ schema: rejecting, validateOnSerialize: true }).serialize('a', keyContext),
      ).toThrow(/validates asynchronously/)
      await new Promise((resolve) => setTimeout(resolve, 10))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('wraps a validator that throws in a SerdeError', () => {
    const throwing: StandardSchemaV1<unknown, string> = {
      '~standard': {
        version: 1,
        vendor: 'custom',
        validate: () => {
          throw new RangeError('validator bug')
        },
      },
    }
    const error = thrownBy(() => jsonSerde({ schema: throwing }).deserialize(json('a'), valueContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.message).toBe(
      'the schema of the value of topic "orders" threw while validating: validator bug',
    )
    expect(error.cause).toBeInstanceOf(RangeError)
  })

  it('validates on serialize only when asked, the way deserialize will', () => {
    const Schema = z.object({ at: z.iso.datetime(), count: z.number() })
    const lax = jsonSerde({ schema: Schema })
    const strict = jsonSerde({ schema: Schema, validateOnSerialize: true })
    const bad = { at: 'yesterday', count: 1 }
    expect(lax.serialize(bad, valueContext)).toEqual(json(bad))
    const error = thrownBy(() => strict.serialize(bad, valueContext))
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.message).toBe(
      'value of topic "orders" does not match the schema (checked before writing, validateOnSerialize): ' +
        '$.at: Invalid ISO datetime',
    )
    // What is validated is the JSON as a reader parses it: undefined fields are gone.
    const Optional = z.object({ a: z.number().optional() })
    const strictOptional = jsonSerde({ schema: Optional, validateOnSerialize: true })
    expect(strictOptional.serialize({ a: undefined }, valueContext)).toEqual(text('{}'))
    expect(strict.serialize({ at: '2024-01-01T00:00:00Z', count: 1 }, valueContext)).toEqual(
      json({ at: '2024-01-01T00:00:00Z', count: 1 }),
    )
  })

  it('refuses to write values JSON cannot hold, naming the topic and the problem', () => {
    const serde = jsonSerde<unknown>()
    const bigint = thrownBy(() => serde.serialize({ id: 1n }, valueContext))
    expect(bigint).toBeInstanceOf(SerdeError)
    expect(bigint.message).toMatch(
      /^cannot write value for topic "orders" as JSON: .*BigInt.*bigint is not JSON/,
    )

    const cycle: { self?: unknown } = {}
    cycle.self = cycle
    expect(() => serde.serialize(cycle, keyContext)).toThrow(
      /^cannot write key for topic "orders" as JSON: .*circular/i,
    )

    expect(() => serde.serialize(undefined, valueContext)).toThrow(
      'cannot write value for topic "orders" as JSON: a value of type undefined has no JSON form',
    )
    expect(() => serde.serialize(() => 1, valueContext)).toThrow(/a value of type function has no JSON form/)
  })

  it('uses the replacer and the reviver, so bigints can travel as strings', () => {
    const serde = jsonSerde<{ id: bigint; name: string }>({
      replacer: (_key, value) => (typeof value === 'bigint' ? `${value}n` : value),
      reviver: (_key, value) =>
        typeof value === 'string' && /^-?\d+n$/.test(value) ? BigInt(value.slice(0, -1)) : value,
    })
    const bytes = serde.serialize({ id: 2n ** 64n, name: 'a' }, valueContext)!
    expect(new TextDecoder().decode(bytes)).toBe('{"id":"18446744073709551616n","name":"a"}')
    expect(serde.deserialize(bytes, valueContext)).toEqual({ id: 2n ** 64n, name: 'a' })

    const failing = jsonSerde({
      reviver: () => {
        throw new Error('reviver bug')
      },
    })
    expect(() => failing.deserialize(json(1), valueContext)).toThrow(
      'cannot read value of topic "orders" as JSON: the reviver threw: reviver bug',
    )
  })

  it('carries bigints as strings with a replacer and a schema (the README example)', () => {
    const Account = z.object({
      id: z.string(),
      balance: z
        .string()
        .regex(/^-?\d+$/)
        .transform(BigInt),
    })
    const accountSerde = jsonSerde({
      schema: Account,
      replacer: (_key, value) => (typeof value === 'bigint' ? value.toString() : value),
    })
    const account = { id: 'a', balance: -(2n ** 70n) }
    const bytes = accountSerde.serialize(account, valueContext)!
    expect(new TextDecoder().decode(bytes)).toBe(`{"id":"a","balance":"${-(2n ** 70n)}"}`)
    expect(accountSerde.deserialize(bytes, valueContext)).toEqual(account)
  })

  it('rejects valibot async schemas the same way', () => {
    const Async = v.objectAsync({ id: v.string() })
    expect(() => jsonSerde({ schema: Async }).deserialize(json({ id: 'a' }), valueContext)).toThrow(
      /validates asynchronously \(valibot returned a Promise from validate\)/,
    )
  })

  it('reads through the reviver before validating', () => {
    const Schema = z.object({ at: z.date() })
    const serde = jsonSerde({
      schema: Schema,
      reviver: (key, value) => (key === 'at' && typeof value === 'string' ? new Date(value) : value),
    })
    expect(serde.deserialize(json({ at: '2024-01-01T00:00:00.000Z' }), valueContext)).toEqual({
      at: new Date('2024-01-01T00:00:00.000Z'),
    })
  })
})
