// An in-process fake of the Confluent Schema Registry REST API, for tests: a node:http server on
// 127.0.0.1 with a random port, implementing the endpoints this package's client uses, with the
// registry's own error bodies ({"error_code":40403,"message":"Schema not found"}). It counts
// requests, so tests can check what was cached. Unlike a real registry it compares schemas as
// exact text (a real one compares a normalized form) and checks no compatibility.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SchemaDefinition, SchemaReference, SchemaType } from './client.js'

export interface FakeSchemaRegistryOptions {
  /**
   * When set, every request must carry exactly this `Authorization` header, or gets HTTP 401
   * with error code 40101.
   * @default undefined (no authentication)
   * @example 'Basic dXNlcjpzZWNyZXQ='
   */
  authorization?: string
  /**
   * The first id handed out; later ones count up from it.
   * @default 1
   */
  firstId?: number
}

/** A running fake registry. */
export interface FakeSchemaRegistry {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Every request received so far, oldest first, as `"GET /schemas/ids/1"` (path not decoded). */
  readonly requests: string[]
  /**
   * Registers a schema under a subject without going through HTTP (and without counting a request),
   * as another application would have. Returns its id; an identical schema keeps its id.
   */
  register(subject: string, schema: SchemaDefinition): number
  /** Makes the next `count` requests fail with this HTTP status and body. */
  failNext(status: number, body: unknown, count?: number): void
  /** Delays every answer by `ms` milliseconds (0 to stop). */
  setDelay(ms: number): void
  /** Stops the server; connections still open are closed. */
  close(): Promise<void>
}

interface StoredSchema {
  id: number
  schema: string
  schemaType: SchemaType
  references: SchemaReference[]
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Starts a fake Schema Registry on 127.0.0.1 with a random port.
 *
 * Endpoints: `POST /subjects/{subject}/versions`, `POST /subjects/{subject}`,
 * `GET /schemas/ids/{id}`, `GET /subjects/{subject}/versions`,
 * `GET /subjects/{subject}/versions/{version|latest}`. Avro schemas that are not JSON are refused
 * with 42201, as a real registry would.
 *
 * @example
 * const fake = await startFakeSchemaRegistry()
 * afterAll(() => fake.close())
 * const registry = createSchemaRegistryClient({ url: fake.url })
 */
export async function startFakeSchemaRegistry(
  options: FakeSchemaRegistryOptions = {},
): Promise<FakeSchemaRegistry> {
  const schemas: StoredSchema[] = []
  const subjects = new Map<string, number[]>()
  const requests: string[] = []
  const failures: Array<{ status: number; body: unknown }> = []
  let nextId = options.firstId ?? 1
  let delayMs = 0

  const register = (subject: string, definition: SchemaDefinition): number => {
    const schemaType = definition.schemaType ?? 'AVRO'
    const references = definition.references ?? []
    if (schemaType === 'AVRO' && !isJson(definition.schema)) {
      throw new HttpError(422, 42201, 'Invalid schema: the Avro schema is not valid JSON')
    }
    const key = JSON.stringify([schemaType, definition.schema, references])
    let stored = schemas.find(
      (schema) => JSON.stringify([schema.schemaType, schema.schema, schema.references]) === key,
    )
    if (stored === undefined) {
      stored = { id: nextId++, schema: definition.schema, schemaType, references }
      schemas.push(stored)
    }
    const versions = subjects.get(subject) ?? []
    if (!versions.includes(stored.id)) versions.push(stored.id)
    subjects.set(subject, versions)
    return stored.id
  }

  const versionsOf = (subject: string): number[] => {
    const versions = subjects.get(subject)
    if (versions === undefined) throw new HttpError(404, 40401, `Subject '${subject}' not found.`)
    return versions
  }

  const subjectVersion = (subject: string, version: number) => {
    const id = versionsOf(subject)[version - 1]
    if (id === undefined) throw new HttpError(404, 40402, `Version ${version} not found.`)
    return { subject, version, ...exported(schemas.find((schema) => schema.id === id)!) }
  }

  const route = (method: string, path: string, body: unknown): unknown => {
    const segments = path.split('/').slice(1).map(decodeURIComponent)
    const [first, second, third, fourth] = segments
    if (
      method === 'GET' &&
      first === 'schemas' &&
      second === 'ids' &&
      third !== undefined &&
      segments.length === 3
    ) {
      const schema = schemas.find((candidate) => String(candidate.id) === third)
      if (schema === undefined) throw new HttpError(404, 40403, 'Schema not found')
      return exported(schema)
    }
    if (first === 'subjects' && second !== undefined) {
      if (method === 'POST' && segments.length === 3 && third === 'versions') {
        return { id: register(second, readDefinition(body)) }
      }
      if (method === 'POST' && segments.length === 2) {
        const definition = readDefinition(body)
        const versions = versionsOf(second)
        const key = JSON.stringify([
          definition.schemaType ?? 'AVRO',
          definition.schema,
          definition.references ?? [],
        ])
        const index = versions.findIndex((id) => {
          const schema = schemas.find((candidate) => candidate.id === id)!
          return JSON.stringify([schema.schemaType, schema.schema, schema.references]) === key
        })
        if (index === -1) throw new HttpError(404, 40403, 'Schema not found')
        return subjectVersion(second, index + 1)
      }
      if (method === 'GET' && segments.length === 3 && third === 'versions') {
        return versionsOf(second).map((_, index) => index + 1)
      }
      if (method === 'GET' && segments.length === 4 && third === 'versions' && fourth !== undefined) {
        if (fourth === 'latest') return subjectVersion(second, versionsOf(second).length)
        const version = Number(fourth)
        if (!Number.isInteger(version) || version < 1) {
          throw new HttpError(
            422,
            42202,
            `The specified version '${fourth}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
          )
        }
        return subjectVersion(second, version)
      }
    }
    throw new HttpError(404, 404, 'HTTP 404 Not Found')
  }

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET'
    const path = request.url ?? '/'
    requests.push(`${method} ${path}`)
    const text = await readBody(request)
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    const failure = failures.shift()
    if (failure !== undefined) return send(response, failure.status, failure.body)
    if (options.authorization !== undefined && request.headers.authorization !== options.authorization) {
      return send(response, 401, { error_code: 40101, message: 'Unauthorized' })
    }
    try {
      const body = text === '' ? undefined : JSON.parse(text)
      send(response, 200, route(method, path.split('?')[0]!, body))
    } catch (error) {
      if (error instanceof HttpError)
        send(response, error.status, { error_code: error.errorCode, message: error.message })
      else if (error instanceof SyntaxError)
        send(response, 400, { error_code: 400, message: 'Unrecognized request body' })
      else
        send(response, 500, {
          error_code: 50001,
          message: `Error in the backend data store: ${String(error)}`,
        })
    }
  }

  const server = createServer((request, response) => {
    void handle(request, response)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    register: (subject, schema) => {
      try {
        return register(subject, schema)
      } catch (error) {
        throw error instanceof HttpError ? new Error(error.message) : error
      }
    },
    failNext: (status, body, count = 1) => {
      for (let i = 0; i < count; i++) failures.push({ status, body })
    },
    setDelay: (ms) => {
      delayMs = ms
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}

// As the registry answers: schemaType and references are left out when they are the defaults.
function exported(schema: StoredSchema): Record<string, unknown> {
  return {
    id: schema.id,
    schema: schema.schema,
    ...(schema.schemaType === 'AVRO' ? {} : { schemaType: schema.schemaType }),
    ...(schema.references.length === 0 ? {} : { references: schema.references }),
  }
}

function readDefinition(body: unknown): SchemaDefinition {
  const fields = (body ?? {}) as Partial<SchemaDefinition>
  if (typeof fields.schema !== 'string') throw new HttpError(422, 42201, 'Invalid schema: no schema given')
  return fields as SchemaDefinition
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/vnd.schemaregistry.v1+json',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}
