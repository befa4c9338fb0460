import { ConfigError, SerdeError } from '@kstreams/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createSchemaRegistryClient,
  type RegisteredSchema,
  resolveSubject,
  resolveWriterSchemaId,
  type SchemaRegistryClient,
  WriterSchemaCache,
} from '../src/index.js'
import { type FakeSchemaRegistry, startFakeSchemaRegistry } from '../src/testing.js'

const context = { topic: 'orders', target: 'value' as const, headers: [] }

let fake: FakeSchemaRegistry
let registry: SchemaRegistryClient

beforeEach(async () => {
  fake = await startFakeSchemaRegistry()
  registry = createSchemaRegistryClient({ url: fake.url })
})

afterEach(async () => {
  await fake.close()
})

describe('resolveSubject', () => {
  it('uses the subject, or <topic>-value, or <topic>-key', () => {
    expect(resolveSubject({ subject: 'shop.Order' })).toBe('shop.Order')
    expect(resolveSubject({ topic: 'orders' })).toBe('orders-value')
    expect(resolveSubject({ topic: 'orders', target: 'key' })).toBe('orders-key')
  })

  it('refuses both, neither, an empty name or a bad target', () => {
    expect(() => resolveSubject({})).toThrow(ConfigError)
    expect(() => resolveSubject({ subject: 's', topic: 't' })).toThrow(
      'give exactly one of subject and topic',
    )
    expect(() => resolveSubject({ topic: '' })).toThrow('non-empty strings')
    expect(() => resolveSubject({ topic: 't', target: 'body' as 'key' })).toThrow(
      "target must be 'key' or 'value'",
    )
  })
})

describe('resolveWriterSchemaId', () => {
  const schema = { schema: '"string"' }

  it('registers, looks up, or skips for a read-only serde', async () => {
    expect(await resolveWriterSchemaId({ registry, readOnly: true }, 's', schema)).toBeUndefined()
    expect(fake.requests).toEqual([])
    const id = await resolveWriterSchemaId({ registry, autoRegister: true }, 's', schema)
    expect(await resolveWriterSchemaId({ registry }, 's', schema)).toBe(id)
    expect(fake.requests).toEqual(['POST /subjects/s/versions', 'POST /subjects/s'])
  })

  it('turns a schema missing from the subject into a ConfigError saying what to do', async () => {
    const error = await resolveWriterSchemaId({ registry }, 's', schema).catch((caught) => caught)
    expect(error).toBeInstanceOf(ConfigError)
    expect(error.message).toContain(`not registered under subject "s" in the schema registry at ${fake.url}`)
    expect(error.message).toContain("Subject 's' not found.")
  })

  it('passes on other registry failures', async () => {
    fake.failNext(500, { error_code: 50001, message: 'Error in the backend data store' })
    await expect(resolveWriterSchemaId({ registry }, 's', schema)).rejects.toMatchObject({ status: 500 })
  })
})

describe('WriterSchemaCache', () => {
  it('preloads every version of subjects and listed ids, and compiles each schema once, on first use', async () => {
    const v1 = fake.register('orders-value', { schema: '"string"' })
    const v2 = fake.register('orders-value', { schema: '"int"' })
    const other = fake.register('other', { schema: '"long"' })
    const compiled: number[] = []
    const cache = new WriterSchemaCache(registry, (schema: RegisteredSchema) => {
      compiled.push(schema.id)
      return `compiled ${schema.schema}`
    })
    await cache.preload({ subjects: ['orders-value'], schemaIds: [other] })
    expect(cache.ids()).toEqual([v1, v2, other])
    expect(compiled).toEqual([])
    expect(cache.get(v2)).toBe('compiled "int"')
    expect(cache.get(v2)).toBe('compiled "int"')
    expect(compiled).toEqual([v2])
    expect(cache.get(999)).toBeUndefined()
    expect(cache.schema(other)?.schema).toBe('"long"')
  })

  it('keeps a compile error and throws it again without compiling again', async () => {
    const id = fake.register('orders-value', { schema: '"string"' })
    let attempts = 0
    const cache = new WriterSchemaCache(registry, () => {
      attempts++
      throw new Error('cannot compile')
    })
    await cache.preload({ subjects: ['orders-value'] })
    expect(() => cache.get(id)).toThrow('cannot compile')
    expect(() => cache.get(id)).toThrow('cannot compile')
    expect(attempts).toBe(1)
  })

  it('skips subjects that may be missing, and refuses the others', async () => {
    const cache = new WriterSchemaCache(registry, () => 'compiled')
    await cache.preload({ subjects: ['new-value'] }, ['new-value'])
    expect(cache.ids()).toEqual([])
    await expect(cache.preload({ subjects: ['new-value'] })).rejects.toMatchObject({ errorCode: 40401 })
  })

  it('names an unknown id, what is loaded, and how to load it', () => {
    const cache = new WriterSchemaCache(registry, () => 'compiled')
    cache.add(3, 'own')
    const error = cache.unknownIdError(7, context)
    expect(error).toBeInstanceOf(SerdeError)
    expect(error.context).toEqual({ topic: 'orders', target: 'value', schemaId: 7 })
    expect(error.message).toContain(
      'cannot read value of topic "orders": it was written with schema id 7, which this serde has not loaded (loaded: 3)',
    )
    expect(error.message).toContain('await serde.preload({ schemaIds: [7] })')
  })
})
