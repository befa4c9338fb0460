// Type-level tests, checked by `npm run typecheck`; at run time they only build serdes.
import type { Serde, SerdeType } from '@kstreams/core'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import * as v from 'valibot'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { jsonSerde } from '../src/index.js'

describe('jsonSerde types', () => {
  it('infers the output type of a zod schema', () => {
    const schema = z.object({ id: z.string(), total: z.number(), tags: z.array(z.string()).optional() })
    const serde = jsonSerde({ schema })
    expectTypeOf(serde).toEqualTypeOf<Serde<z.output<typeof schema>>>()
    expectTypeOf<SerdeType<typeof serde>>().toEqualTypeOf<{
      id: string
      total: number
      tags?: string[] | undefined
    }>()
  })

  it('infers the output, not the input, of a schema that transforms', () => {
    const schema = z.object({
      at: z.string().transform((value) => new Date(value)),
      count: z.coerce.number(),
    })
    const serde = jsonSerde({ schema })
    expectTypeOf(serde).toEqualTypeOf<Serde<{ at: Date; count: number }>>()
    expectTypeOf(serde.deserialize).returns.toEqualTypeOf<{ at: Date; count: number }>()
  })

  it('infers the output type of a valibot schema', () => {
    const schema = v.object({ id: v.string(), count: v.pipe(v.string(), v.transform(Number)) })
    const serde = jsonSerde({ schema, validateOnSerialize: true })
    expectTypeOf(serde).toEqualTypeOf<Serde<v.InferOutput<typeof schema>>>()
    expectTypeOf<SerdeType<typeof serde>>().toEqualTypeOf<{ id: string; count: number }>()
  })

  it('infers from any Standard Schema', () => {
    const schema = {} as StandardSchemaV1<string, { parsed: true }>
    expectTypeOf(jsonSerde({ schema })).toEqualTypeOf<Serde<{ parsed: true }>>()
  })

  it('is unknown without a schema, or the type given', () => {
    expectTypeOf(jsonSerde()).toEqualTypeOf<Serde<unknown>>()
    expectTypeOf(jsonSerde({ replacer: (_key, value) => value })).toEqualTypeOf<Serde<unknown>>()
    expectTypeOf(jsonSerde<{ id: string }>()).toEqualTypeOf<Serde<{ id: string }>>()
  })

  it('refuses values and schemas of the wrong type', () => {
    const context = { topic: 't', target: 'value', headers: [] } as const
    const serde = jsonSerde({ schema: z.object({ id: z.string() }) })
    // @ts-expect-error id must be a string
    expect(() => serde.serialize({ id: 1 }, context)).not.toThrow()
    // @ts-expect-error a field is missing
    expect(() => serde.serialize({}, context)).not.toThrow()
    // @ts-expect-error the schema's output is not the type given
    jsonSerde<{ id: number }>({ schema: z.object({ id: z.string() }) })
    // @ts-expect-error a schema must be a Standard Schema
    jsonSerde({ schema: { parse: (value: unknown) => value } })
    // @ts-expect-error validateOnSerialize is a boolean
    jsonSerde({ validateOnSerialize: 'yes' })
  })
})
