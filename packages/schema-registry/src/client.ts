// A Confluent Schema Registry client on the global fetch. Schemas are immutable once registered:
// an id always names the same schema and a subject's version always the same id, so those answers
// are cached for the life of the client. Answers that change (a subject's latest version, its list
// of versions) are fetched every time. Concurrent identical requests share one HTTP request.
import { ConfigError, SerdeError } from '@kstreams/core'
import { maxSchemaId } from './wire-format.js'

/** The schema languages a registry knows. */
export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON'

/** A named reference from one schema to another (a Protobuf import, an Avro named type). */
export interface SchemaReference {
  /** The name the referring schema uses: the import path for Protobuf, the full type name for Avro. */
  name: string
  subject: string
  version: number
}

/** A schema as sent to the registry. */
export interface SchemaDefinition {
  /** The schema text: Avro JSON, .proto source or JSON Schema. */
  schema: string
  /** @default 'AVRO' (the registry's own default) */
  schemaType?: SchemaType
  /** @default [] */
  references?: SchemaReference[]
}

/** A schema as the registry returns it, with its defaults filled in. */
export interface RegisteredSchema {
  id: number
  schema: string
  schemaType: SchemaType
  references: SchemaReference[]
}

/** One version of a subject. */
export interface SubjectVersion extends RegisteredSchema {
  subject: string
  version: number
}

/** HTTP basic authentication (Confluent Cloud: the API key and secret). */
export interface BasicAuth {
  username: string
  password: string
}

/** A bearer token sent as `Authorization: Bearer <token>`. */
export interface BearerAuth {
  bearerToken: string
}

export interface SchemaRegistryClientOptions {
  /**
   * The registry's base URL, with a path prefix if it has one.
   * @example 'http://localhost:8081'
   */
  url: string
  /**
   * Credentials sent with every request.
   * @default undefined (no Authorization header)
   */
  auth?: BasicAuth | BearerAuth
  /**
   * How long one request may take, response body included, before it fails.
   * @default 10000
   */
  timeoutMs?: number
}

/**
 * A failed registry request: the registry is unreachable, timed out, or answered with an error.
 * The message names the registry URL, the request, and the registry's `error_code` and message.
 * `retriable` is true for network failures, timeouts, HTTP 429 and 5xx.
 */
export class SchemaRegistryError extends SerdeError {
  /** The HTTP status, or undefined when no response came. */
  readonly status: number | undefined
  /**
   * The registry's `error_code` (40401 subject not found, 40402 version not found, 40403 schema
   * not found, 42201 invalid schema, 409 incompatible schema…), or undefined.
   */
  readonly errorCode: number | undefined

  constructor(
    message: string,
    options: {
      cause?: unknown
      retriable: boolean
      url: string
      request: string
      status?: number
      errorCode?: number
    },
  ) {
    super(message, {
      cause: options.cause,
      retriable: options.retriable,
      context: {
        registryUrl: options.url,
        request: options.request,
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.errorCode === undefined ? {} : { errorCode: options.errorCode }),
      },
    })
    this.status = options.status
    this.errorCode = options.errorCode
  }
}

/** The registry's error codes that a caller may want to tell apart. */
export const RegistryErrorCodes = {
  subjectNotFound: 40401,
  versionNotFound: 40402,
  schemaNotFound: 40403,
  invalidSchema: 42201,
  incompatibleSchema: 409,
} as const

/** A Confluent Schema Registry client. Create one with {@link createSchemaRegistryClient}. */
export interface SchemaRegistryClient {
  /** The base URL every request goes to, without a trailing slash. */
  readonly url: string
  /**
   * Registers `schema` under `subject` (`POST /subjects/{subject}/versions`), or finds it if it is
   * already there, and returns its id. Cached per subject and schema.
   * @throws SchemaRegistryError when the registry refuses it (invalid, incompatible) or fails
   */
  register(subject: string, schema: SchemaDefinition): Promise<number>
  /**
   * Finds `schema` among the versions of `subject` without registering it (`POST /subjects/{subject}`).
   * Cached per subject and schema.
   * @throws SchemaRegistryError with errorCode 40401 or 40403 when the subject or schema is unknown
   */
  lookup(subject: string, schema: SchemaDefinition): Promise<SubjectVersion>
  /**
   * The schema with id `id` (`GET /schemas/ids/{id}`). Cached.
   * @throws SchemaRegistryError with errorCode 40403 when no schema has that id
   */
  getSchemaById(id: number): Promise<RegisteredSchema>
  /** The latest version of `subject` (`GET /subjects/{subject}/versions/latest`). Never cached. */
  getLatest(subject: string): Promise<SubjectVersion>
  /** The version numbers of `subject`, oldest first (`GET /subjects/{subject}/versions`). Never cached. */
  getVersions(subject: string): Promise<number[]>
  /**
   * One version of `subject` (`GET /subjects/{subject}/versions/{version}`). Cached, except `'latest'`.
   * @throws SchemaRegistryError with errorCode 40401 or 40402 when the subject or version is unknown
   */
  getVersion(subject: string, version: number | 'latest'): Promise<SubjectVersion>
}

/**
 * Creates a Schema Registry client on the global `fetch`. Creating it makes no request.
 *
 * @throws ConfigError when `url` is not an http(s) URL, `timeoutMs` is not positive, or `auth`
 *   has neither a username and password nor a bearer token
 *
 * @example
 * const registry = createSchemaRegistryClient({
 *   url: 'https://psrc-xxxxx.europe-west3.gcp.confluent.cloud',
 *   auth: { username: process.env.SR_KEY!, password: process.env.SR_SECRET! },
 * })
 * const id = await registry.register('orders-value', { schema: JSON.stringify(orderSchema) })
 */
export function createSchemaRegistryClient(options: SchemaRegistryClientOptions): SchemaRegistryClient {
  return new HttpSchemaRegistryClient(options)
}

const contentType = 'application/vnd.schemaregistry.v1+json'
const accept = 'application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json'

class HttpSchemaRegistryClient implements SchemaRegistryClient {
  readonly url: string
  readonly #timeoutMs: number
  readonly #authorization: string | undefined
  readonly #inFlight = new Map<string, Promise<unknown>>()
  readonly #schemasById = new Map<number, RegisteredSchema>()
  readonly #registeredIds = new Map<string, number>()
  readonly #lookedUp = new Map<string, SubjectVersion>()
  readonly #versions = new Map<string, SubjectVersion>()

  constructor(options: SchemaRegistryClientOptions) {
    this.url = checkUrl(options.url)
    this.#timeoutMs = options.timeoutMs ?? 10_000
    if (!(this.#timeoutMs > 0) || !Number.isFinite(this.#timeoutMs)) {
      throw new ConfigError(`timeoutMs must be a positive number of milliseconds, got ${options.timeoutMs}`, {
        context: { option: 'timeoutMs' },
      })
    }
    this.#authorization = authorizationHeader(options.auth)
  }

  async register(subject: string, schema: SchemaDefinition): Promise<number> {
    const key = `${checkSubject(subject)}\u0000${definitionKey(schema)}`
    const cached = this.#registeredIds.get(key)
    if (cached !== undefined) return cached
    const path = `/subjects/${encodeURIComponent(subject)}/versions`
    return this.#once(`POST ${path} ${key}`, async () => {
      const body = await this.#send('POST', path, requestBody(schema))
      const id = readId(body, () => this.#malformed('POST', path, body))
      this.#registeredIds.set(key, id)
      return id
    })
  }

  async lookup(subject: string, schema: SchemaDefinition): Promise<SubjectVersion> {
    const key = `${checkSubject(subject)}\u0000${definitionKey(schema)}`
    const cached = this.#lookedUp.get(key)
    if (cached !== undefined) return cached
    const path = `/subjects/${encodeURIComponent(subject)}`
    return this.#once(`POST ${path} ${key}`, async () => {
      const body = await this.#send('POST', path, requestBody(schema))
      const version = this.#readSubjectVersion('POST', path, body, schema)
      this.#lookedUp.set(key, version)
      return version
    })
  }

  async getSchemaById(id: number): Promise<RegisteredSchema> {
    if (!Number.isInteger(id) || id < 0 || id > maxSchemaId) {
      throw new ConfigError(`schema id must be an integer from 0 to ${maxSchemaId}, got ${id}`)
    }
    const cached = this.#schemasById.get(id)
    if (cached !== undefined) return cached
    const path = `/schemas/ids/${id}`
    return this.#once(`GET ${path}`, async () => {
      const body = await this.#send('GET', path)
      const schema = readSchema(body, id, () => this.#malformed('GET', path, body))
      this.#schemasById.set(id, schema)
      return schema
    })
  }

  getLatest(subject: string): Promise<SubjectVersion> {
    return this.getVersion(subject, 'latest')
  }

  async getVersions(subject: string): Promise<number[]> {
    const path = `/subjects/${encodeURIComponent(checkSubject(subject))}/versions`
    return this.#once(`GET ${path}`, async () => {
      const body = await this.#send('GET', path)
      if (!Array.isArray(body) || !body.every((version) => Number.isInteger(version))) {
        throw this.#malformed('GET', path, body)
      }
      return body as number[]
    })
  }

  async getVersion(subject: string, version: number | 'latest'): Promise<SubjectVersion> {
    if (version !== 'latest' && (!Number.isInteger(version) || version < 1)) {
      throw new ConfigError(`version must be 'latest' or an integer from 1, got ${version}`)
    }
    const cached = this.#versions.get(`${checkSubject(subject)}\u0000${version}`)
    if (cached !== undefined) return cached
    const path = `/subjects/${encodeURIComponent(subject)}/versions/${version}`
    return this.#once(`GET ${path}`, async () => {
      const body = await this.#send('GET', path)
      const read = this.#readSubjectVersion('GET', path, body)
      // 'latest' moves; a numbered version never changes, so the latest answer is cached under its number.
      this.#versions.set(`${subject}\u0000${read.version}`, read)
      return read
    })
  }

  // Concurrent calls for the same thing share one request and get the same answer object.
  #once<T>(key: string, run: () => Promise<T>): Promise<T> {
    const pending = this.#inFlight.get(key)
    if (pending !== undefined) return pending as Promise<T>
    const started = run().finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, started)
    return started
  }

  #readSubjectVersion(method: string, path: string, body: unknown, sent?: SchemaDefinition): SubjectVersion {
    const fields = body as Partial<Record<keyof SubjectVersion, unknown>> | null
    // Some registries leave the schema out of a lookup answer: it is then the one that was sent.
    const withSchema =
      sent !== undefined && typeof fields === 'object' && fields !== null && fields.schema === undefined
        ? { ...fields, schema: sent.schema, schemaType: sent.schemaType, references: sent.references }
        : body
    const schema = readSchema(withSchema, undefined, () => this.#malformed(method, path, body))
    const { subject, version } = fields ?? {}
    if (typeof subject !== 'string' || !Number.isInteger(version)) throw this.#malformed(method, path, body)
    this.#schemasById.set(schema.id, schema)
    return { ...schema, subject, version: version as number }
  }

  async #send(method: 'GET' | 'POST', path: string, json?: unknown): Promise<unknown> {
    const request = `${method} ${path}`
    const body = json === undefined ? undefined : JSON.stringify(json)
    const headers: Record<string, string> = { accept }
    if (body !== undefined) headers['content-type'] = contentType
    if (this.#authorization !== undefined) headers.authorization = this.#authorization
    let status: number
    let text: string
    try {
      const response = await fetch(this.url + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      status = response.status
      text = await response.text()
    } catch (cause) {
      const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError'
      const reason = timedOut ? `no answer within ${this.#timeoutMs} ms` : describeNetworkError(cause)
      throw new SchemaRegistryError(
        `cannot reach the schema registry at ${this.url} (${request}): ${reason}`,
        {
          cause,
          retriable: true,
          url: this.url,
          request,
        },
      )
    }
    const parsed = parseJson(text)
    if (status >= 200 && status < 300) {
      if (parsed === undefined) throw this.#malformed(method, path, text)
      return parsed.value
    }
    const { error_code: errorCode, message } = (parsed?.value ?? {}) as {
      error_code?: unknown
      message?: unknown
    }
    const code = typeof errorCode === 'number' ? errorCode : undefined
    const said = typeof message === 'string' ? message : text.slice(0, 200) || '(empty body)'
    throw new SchemaRegistryError(
      `the schema registry at ${this.url} refused ${request}: HTTP ${status}${code === undefined ? '' : `, error code ${code}`}: ${said}`,
      {
        retriable: status === 429 || status >= 500,
        url: this.url,
        request,
        status,
        ...(code === undefined ? {} : { errorCode: code }),
      },
    )
  }

  #malformed(method: string, path: string, body: unknown): SchemaRegistryError {
    const shown = typeof body === 'string' ? body : JSON.stringify(body)
    return new SchemaRegistryError(
      `the schema registry at ${this.url} answered ${method} ${path} with an unexpected body: ${String(shown).slice(0, 200)}`,
      { retriable: false, url: this.url, request: `${method} ${path}` },
    )
  }
}

function checkUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new ConfigError(`url must be the schema registry's http(s) URL, got "${url}"`, {
      cause,
      context: { option: 'url' },
    })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`url must be an http or https URL, got "${url}"`, { context: { option: 'url' } })
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // fetch refuses URLs with credentials; saying so here is clearer than its TypeError later.
    throw new ConfigError('url must not contain credentials: pass them as auth: { username, password }', {
      context: { option: 'url' },
    })
  }
  return url.replace(/\/+$/, '')
}

function authorizationHeader(auth: SchemaRegistryClientOptions['auth']): string | undefined {
  if (auth === undefined) return undefined
  if ('bearerToken' in auth && typeof auth.bearerToken === 'string' && auth.bearerToken !== '') {
    return `Bearer ${auth.bearerToken}`
  }
  if ('username' in auth && typeof auth.username === 'string' && typeof auth.password === 'string') {
    return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
  }
  throw new ConfigError('auth must be { username, password } or { bearerToken }', {
    context: { option: 'auth' },
  })
}

function checkSubject(subject: string): string {
  if (typeof subject !== 'string' || subject === '') {
    throw new ConfigError(`subject must be a non-empty string, got ${JSON.stringify(subject)}`)
  }
  return subject
}

// The registry's own default type, AVRO, is left out of requests: older registries reject the field.
function requestBody(schema: SchemaDefinition): Record<string, unknown> {
  return {
    schema: schema.schema,
    ...(schema.schemaType === undefined || schema.schemaType === 'AVRO'
      ? {}
      : { schemaType: schema.schemaType }),
    ...(schema.references === undefined || schema.references.length === 0
      ? {}
      : { references: schema.references }),
  }
}

function definitionKey(schema: SchemaDefinition): string {
  return JSON.stringify([schema.schemaType ?? 'AVRO', schema.schema, schema.references ?? []])
}

function readId(body: unknown, malformed: () => Error): number {
  const id = (body as { id?: unknown } | null)?.id
  if (typeof id !== 'number' || !Number.isInteger(id)) throw malformed()
  return id
}

function readSchema(body: unknown, id: number | undefined, malformed: () => Error): RegisteredSchema {
  if (typeof body !== 'object' || body === null) throw malformed()
  const fields = body as Record<string, unknown>
  const schemaId = id ?? fields.id
  if (typeof schemaId !== 'number' || !Number.isInteger(schemaId) || typeof fields.schema !== 'string') {
    throw malformed()
  }
  const schemaType = fields.schemaType ?? 'AVRO'
  if (schemaType !== 'AVRO' && schemaType !== 'PROTOBUF' && schemaType !== 'JSON') throw malformed()
  const references = fields.references ?? []
  if (!Array.isArray(references)) throw malformed()
  return { id: schemaId, schema: fields.schema, schemaType, references: references as SchemaReference[] }
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}

// fetch reports every network failure as "TypeError: fetch failed"; the useful part is the cause
// chain (an AggregateError of a refused connection has no message, only a code).
function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const parts: string[] = []
  for (let current: unknown = error; current instanceof Error && parts.length < 4; current = current.cause) {
    const code = (current as { code?: unknown }).code
    parts.push(current.message || (typeof code === 'string' ? code : current.name))
  }
  return parts.join(': ')
}
