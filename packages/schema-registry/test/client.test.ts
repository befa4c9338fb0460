import { ConfigError, SerdeError } from '@kstreams/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createSchemaRegistryClient,
  RegistryErrorCodes,
  type SchemaRegistryClient,
  SchemaRegistryError,
  topicNameSubject,
} from '../src/index.js'
import { type FakeSchemaRegistry, startFakeSchemaRegistry } from '../src/testing.js'

const userV1 = JSON.stringify({ type: 'record', name: 'User', fields: [{ name: 'id', type: 'int' }] })
const userV2 = JSON.stringify({
  type: 'record',
  name: 'User',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'email', type: 'string', default: '' },
  ],
})
const proto = 'syntax = "proto3";\nmessage Ping { int32 id = 1; }\n'

let fake: FakeSchemaRegistry
let registry: SchemaRegistryClient

beforeEach(async () => {
  fake = await startFakeSchemaRegistry()
  registry = createSchemaRegistryClient({ url: fake.url })
})

afterEach(async () => {
  await fake.close()
})

describe('SchemaRegistryClient', () => {
  it('registers a schema and reads it back by id', async () => {
    const id = await registry.register('users-value', { schema: userV1 })
    expect(fake.requests).toEqual(['POST /subjects/users-value/versions'])
    expect(await registry.getSchemaById(id)).toEqual({
      id,
      schema: userV1,
      schemaType: 'AVRO',
      references: [],
    })
  })

  it('gets the same id for the same schema, and a new one for a new schema', async () => {
    const first = await registry.register('users-value', { schema: userV1 })
    const other = createSchemaRegistryClient({ url: fake.url })
    expect(await other.register('users-value', { schema: userV1 })).toBe(first)
    expect(await other.register('users-value', { schema: userV2 })).not.toBe(first)
  })

  it('sends and reads back schema types and references', async () => {
    const imported = await registry.register('common.proto', { schema: proto, schemaType: 'PROTOBUF' })
    const references = [{ name: 'common.proto', subject: 'common.proto', version: 1 }]
    const id = await registry.register('pings-value', {
      schema: 'syntax = "proto3";\nimport "common.proto";\nmessage Pong { Ping ping = 1; }\n',
      schemaType: 'PROTOBUF',
      references,
    })
    expect(id).not.toBe(imported)
    const read = await registry.getSchemaById(id)
    expect(read.schemaType).toBe('PROTOBUF')
    expect(read.references).toEqual(references)
  })

  it('looks a schema up under a subject without registering it', async () => {
    const id = fake.register('users-value', { schema: userV1 })
    fake.register('users-value', { schema: userV2 })
    expect(await registry.lookup('users-value', { schema: userV1 })).toEqual({
      subject: 'users-value',
      version: 1,
      id,
      schema: userV1,
      schemaType: 'AVRO',
      references: [],
    })
    const error = await registry
      .lookup('users-value', { schema: '{"type":"string"}' })
      .catch((caught) => caught)
    expect(error).toBeInstanceOf(SchemaRegistryError)
    expect(error.errorCode).toBe(RegistryErrorCodes.schemaNotFound)
    // Nothing was registered by the lookups.
    expect(await registry.getVersions('users-value')).toEqual([1, 2])
  })

  it('lists versions and reads the latest and a numbered one', async () => {
    const first = fake.register('users-value', { schema: userV1 })
    const second = fake.register('users-value', { schema: userV2 })
    expect(await registry.getVersions('users-value')).toEqual([1, 2])
    expect(await registry.getLatest('users-value')).toMatchObject({ version: 2, id: second, schema: userV2 })
    expect(await registry.getVersion('users-value', 1)).toMatchObject({
      version: 1,
      id: first,
      schema: userV1,
    })
  })

  it('encodes subjects in paths', async () => {
    const subject = 'com.example/User value'
    await registry.register(subject, { schema: userV1 })
    expect(fake.requests).toEqual(['POST /subjects/com.example%2FUser%20value/versions'])
    expect(await registry.getVersions(subject)).toEqual([1])
  })

  describe('caching', () => {
    it('answers a second lookup of an id, a registration or a version from its cache', async () => {
      const id = await registry.register('users-value', { schema: userV1 })
      await registry.getSchemaById(id)
      await registry.getVersion('users-value', 1)
      await registry.lookup('users-value', { schema: userV1 })
      const requests = fake.requests.length
      expect(await registry.register('users-value', { schema: userV1 })).toBe(id)
      expect((await registry.getSchemaById(id)).schema).toBe(userV1)
      expect((await registry.getVersion('users-value', 1)).id).toBe(id)
      expect((await registry.lookup('users-value', { schema: userV1 })).version).toBe(1)
      expect(fake.requests.length).toBe(requests)
    })

    it('fills the id cache from versions, so reading a version makes the id lookup free', async () => {
      const id = fake.register('users-value', { schema: userV1 })
      await registry.getVersion('users-value', 1)
      await registry.getSchemaById(id)
      expect(fake.requests).toEqual(['GET /subjects/users-value/versions/1'])
    })

    it('asks again for what changes: the latest version and the list of versions', async () => {
      fake.register('users-value', { schema: userV1 })
      expect((await registry.getLatest('users-value')).version).toBe(1)
      expect(await registry.getVersions('users-value')).toEqual([1])
      fake.register('users-value', { schema: userV2 })
      expect((await registry.getLatest('users-value')).version).toBe(2)
      expect(await registry.getVersions('users-value')).toEqual([1, 2])
      expect(fake.requests).toHaveLength(4)
    })

    it('sends concurrent identical requests once', async () => {
      const id = fake.register('users-value', { schema: userV1 })
      fake.setDelay(20)
      const reads = await Promise.all([
        registry.getSchemaById(id),
        registry.getSchemaById(id),
        registry.getSchemaById(id),
        registry.getLatest('users-value'),
        registry.getLatest('users-value'),
        registry.register('orders-value', { schema: userV2 }),
        registry.register('orders-value', { schema: userV2 }),
      ])
      expect(reads[0]).toBe(reads[1])
      expect(reads[5]).toBe(reads[6])
      expect(fake.requests.toSorted()).toEqual([
        `GET /schemas/ids/${id}`,
        'GET /subjects/users-value/versions/latest',
        'POST /subjects/orders-value/versions',
      ])
    })

    it('does not cache failures', async () => {
      fake.failNext(500, { error_code: 50001, message: 'Error in the backend data store' })
      const id = fake.register('users-value', { schema: userV1 })
      await expect(registry.getSchemaById(id)).rejects.toThrow('HTTP 500')
      expect((await registry.getSchemaById(id)).schema).toBe(userV1)
      expect(fake.requests).toHaveLength(2)
    })
  })

  describe('errors', () => {
    it('name the registry, the request and the error code for an unknown id', async () => {
      const error = await registry.getSchemaById(99).catch((caught) => caught)
      expect(error).toBeInstanceOf(SchemaRegistryError)
      expect(error).toBeInstanceOf(SerdeError)
      expect(error.message).toBe(
        `the schema registry at ${fake.url} refused GET /schemas/ids/99: HTTP 404, error code 40403: Schema not found`,
      )
      expect(error).toMatchObject({ status: 404, errorCode: 40403, retriable: false })
      expect(error.context).toEqual({
        registryUrl: fake.url,
        request: 'GET /schemas/ids/99',
        status: 404,
        errorCode: 40403,
      })
    })

    it('report unknown subjects and versions with their codes', async () => {
      await expect(registry.getVersions('nope')).rejects.toMatchObject({ errorCode: 40401 })
      await expect(registry.getLatest('nope')).rejects.toThrow("Subject 'nope' not found.")
      fake.register('users-value', { schema: userV1 })
      await expect(registry.getVersion('users-value', 5)).rejects.toMatchObject({ errorCode: 40402 })
    })

    it('pass on the registry’s refusal of an invalid schema', async () => {
      const error = await registry.register('users-value', { schema: '{not json' }).catch((caught) => caught)
      expect(error).toMatchObject({ status: 422, errorCode: RegistryErrorCodes.invalidSchema })
      expect(error.message).toContain('POST /subjects/users-value/versions')
    })

    it('mark server errors and rate limits retriable, and show a body that is not JSON', async () => {
      fake.failNext(503, 'upstream unavailable')
      const unavailable = await registry.getVersions('users-value').catch((caught) => caught)
      expect(unavailable).toMatchObject({ status: 503, retriable: true })
      expect(unavailable.message).toContain('upstream unavailable')
      fake.failNext(429, { error_code: 42901, message: 'Too many requests' })
      await expect(registry.getVersions('users-value')).rejects.toMatchObject({
        retriable: true,
        errorCode: 42901,
      })
    })

    it('refuse an answer of the wrong shape', async () => {
      fake.failNext(200, { unexpected: true })
      await expect(registry.getSchemaById(1)).rejects.toThrow(
        'answered GET /schemas/ids/1 with an unexpected body',
      )
    })

    it('name the URL when the registry is unreachable', async () => {
      await fake.close()
      const unreachable = createSchemaRegistryClient({ url: fake.url })
      const error = await unreachable.getSchemaById(1).catch((caught) => caught)
      expect(error).toBeInstanceOf(SchemaRegistryError)
      expect(error.message).toContain(`cannot reach the schema registry at ${fake.url} (GET /schemas/ids/1)`)
      expect(error.message).toContain('ECONNREFUSED')
      expect(error).toMatchObject({ retriable: true, status: undefined })
      fake = await startFakeSchemaRegistry()
    })

    it('time out a registry that does not answer', async () => {
      fake.setDelay(500)
      const slow = createSchemaRegistryClient({ url: fake.url, timeoutMs: 50 })
      await expect(slow.getSchemaById(1)).rejects.toThrow('no answer within 50 ms')
      fake.setDelay(0)
    })
  })

  describe('authentication', () => {
    it('sends basic credentials and bearer tokens', async () => {
      await fake.close()
      fake = await startFakeSchemaRegistry({ authorization: `Basic ${btoa('key:secret')}` })
      const anonymous = createSchemaRegistryClient({ url: fake.url })
      await expect(anonymous.getVersions('users-value')).rejects.toMatchObject({
        status: 401,
        errorCode: 40101,
      })
      const basic = createSchemaRegistryClient({
        url: fake.url,
        auth: { username: 'key', password: 'secret' },
      })
      await expect(basic.register('users-value', { schema: userV1 })).resolves.toBe(1)

      await fake.close()
      fake = await startFakeSchemaRegistry({ authorization: 'Bearer token-1' })
      const bearer = createSchemaRegistryClient({ url: `${fake.url}/`, auth: { bearerToken: 'token-1' } })
      await expect(bearer.register('users-value', { schema: userV1 })).resolves.toBe(1)
    })
  })

  describe('options', () => {
    it('refuse a bad URL, timeout or auth with a ConfigError naming the option', () => {
      expect(() => createSchemaRegistryClient({ url: 'localhost:8081' })).toThrow(ConfigError)
      expect(() => createSchemaRegistryClient({ url: 'not a url' })).toThrow('url must be')
      expect(() => createSchemaRegistryClient({ url: 'http://user:pw@localhost:8081' })).toThrow(
        'must not contain credentials',
      )
      expect(() => createSchemaRegistryClient({ url: 'http://localhost', timeoutMs: 0 })).toThrow('timeoutMs')
      expect(() =>
        createSchemaRegistryClient({ url: 'http://localhost', auth: { bearerToken: '' } }),
      ).toThrow(ConfigError)
    })

    it('refuse bad arguments before any request', async () => {
      await expect(registry.getSchemaById(-1)).rejects.toThrow(ConfigError)
      await expect(registry.register('', { schema: userV1 })).rejects.toThrow(
        'subject must be a non-empty string',
      )
      await expect(registry.getVersion('users-value', 0)).rejects.toThrow(ConfigError)
      expect(fake.requests).toEqual([])
    })
  })
})

describe('topicNameSubject', () => {
  it('appends -key or -value to the topic', () => {
    expect(topicNameSubject('orders', 'key')).toBe('orders-key')
    expect(topicNameSubject('orders', 'value')).toBe('orders-value')
  })
})
