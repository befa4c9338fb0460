// The query server (`app.serveQueries`): the stores over HTTP on node:http (or node:https with a
// TLS context). Opt-in, bound to 127.0.0.1 unless told otherwise, every request through the
// authorization hook when one is given, bounded in body size, URL length, page size and time.
// Routes: GET /health (the process answers), GET /ready (running, every owned task restored),
// GET /v1/metadata (live instances and store partition counts), GET /v1/stores, and the store
// routes of query-routes.ts. A key another instance owns is answered with a 307 redirect to the
// owner (a `Location` and an `owner` in the body), or proxied to it with `proxy: true`.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer, type ServerOptions as TlsOptions } from 'node:https'
import type { AddressInfo } from 'node:net'
import { ConfigError, KStreamsError, QueryError } from '../errors.js'
import { ownerOf } from './instance-registry.js'
import { badRequest, type RouteResult, runRoute } from './query-routes.js'
import type { QueryService } from './query-service.js'

/** What the authorization hook is asked about. */
export interface QueryRequestInfo {
  method: string
  path: string
  /** `health`, `ready`, `metadata`, `stores`, or a store operation (`get`, `range`, …). */
  operation: string
  store: string | undefined
  headers: IncomingMessage['headers']
  remoteAddress: string | undefined
  /** The request itself (for a TLS client certificate, say). */
  request: IncomingMessage
}

export interface ServeQueriesOptions {
  /** Interface to bind. @default '127.0.0.1' (nothing is exposed by accident) */
  host?: string
  /** Port; 0 picks a free one. @default 0 */
  port?: number
  /** The endpoint other instances and clients use, e.g. `https://orders-3.internal:7070`. @default `<scheme>://<host>:<port>` */
  advertisedEndpoint?: string
  /** Serve HTTPS with this TLS context (key, cert, ca, requestCert…). @default undefined (HTTP) */
  tls?: TlsOptions
  /** Allows or denies each request; a denied one gets 403. @default every request allowed */
  authorize?: (request: QueryRequestInfo) => boolean | Promise<boolean>
  /** Forward a request for a key another instance owns instead of redirecting to it. @default false */
  proxy?: boolean
  /** Largest request body. @default 65536 */
  maxBodyBytes?: number
  /** Longest URL. @default 8192 */
  maxUrlLength?: number
  /** Largest `limit` of a page (and most keys of a get-many). @default 1000 */
  maxPageSize?: number
  /** A request that takes longer is answered 504. @default 10000 */
  requestTimeoutMs?: number
  /** Heartbeat of this instance's entry in `<applicationId>-instances`. @default 3000 */
  heartbeatIntervalMs?: number
  /** @default 5 × heartbeatIntervalMs */
  instanceTimeoutMs?: number
}

export interface QueryServer {
  /** The advertised endpoint. */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** Application state the server reports on /health and /ready. */
export interface QueryServerHost {
  state(): string
  restoringTasks(): string[]
}

const RAW_JSON = 'application/vnd.kstreams.raw+json'
const PROXIED = 'x-kstreams-proxied'
const CLOSE_GRACE_MS = 2000

export async function startQueryServer(
  service: QueryService,
  host: QueryServerHost,
  options: ServeQueriesOptions = {},
): Promise<QueryServer> {
  const settings = {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    maxBodyBytes: integer(options.maxBodyBytes ?? 65_536, 'maxBodyBytes'),
    maxUrlLength: integer(options.maxUrlLength ?? 8192, 'maxUrlLength'),
    maxPageSize: integer(options.maxPageSize ?? 1000, 'maxPageSize'),
    requestTimeoutMs: integer(options.requestTimeoutMs ?? 10_000, 'requestTimeoutMs'),
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw new ConfigError('"authorize" must be a function of the request returning true or false', {
      context: { option: 'authorize' },
    })
  }
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    void handle(service, host, options, settings, request, response)
  }
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createHttpServer(handler)
  server.requestTimeout = settings.requestTimeoutMs + 5000
  server.headersTimeout = Math.min(server.requestTimeout, 30_000)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const scheme = options.tls ? 'https' : 'http'
  const shownHost = settings.host.includes(':') ? `[${settings.host}]` : settings.host
  const url = options.advertisedEndpoint ?? `${scheme}://${shownHost}:${port}`
  try {
    await service.advertise({
      endpoint: url,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      instanceTimeoutMs: options.instanceTimeoutMs,
    })
  } catch (error) {
    server.close()
    throw error
  }
  return {
    url,
    port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      // Requests under way get a moment to finish; then their connections are cut.
      const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS)
      await closed
      clearTimeout(timer)
    },
  }
}

type Settings = { maxBodyBytes: number; maxUrlLength: number; maxPageSize: number; requestTimeoutMs: number }

async function handle(
  service: QueryService,
  host: QueryServerHost,
  options: ServeQueriesOptions,
  settings: Settings,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new QueryError(`the request took longer than ${settings.requestTimeoutMs} ms (requestTimeoutMs)`, {
            retriable: true,
            context: { status: 504 },
          }),
        ),
      settings.requestTimeoutMs,
    )
  })
  try {
    await Promise.race([answer(service, host, options, settings, request, response), timeout])
  } catch (error) {
    sendError(response, error)
  } finally {
    clearTimeout(timer)
  }
}

async function answer(
  service: QueryService,
  host: QueryServerHost,
  options: ServeQueriesOptions,
  settings: Settings,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const target = request.url ?? '/'
  if (target.length > settings.maxUrlLength) {
    throw new QueryError(`the URL is longer than ${settings.maxUrlLength} characters (maxUrlLength)`, {
      context: { status: 414 },
    })
  }
  const url = new URL(target, 'http://query')
  const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
  const storeName = segments[0] === 'v1' && segments[1] === 'stores' ? segments[2] : undefined
  const operation =
    storeName !== undefined
      ? (segments[3] ?? '')
      : segments.length === 1
        ? segments[0]!
        : segments.slice(1).join('/')
  const method = request.method ?? 'GET'
  if (options.authorize) {
    const allowed = await options.authorize({
      method,
      path: url.pathname,
      operation,
      store: storeName,
      headers: request.headers,
      remoteAddress: request.socket.remoteAddress,
      request,
    })
    if (allowed !== true) {
      throw new QueryError('the authorization hook denied this request', { context: { status: 403 } })
    }
  }
  const body = await readBody(request, settings.maxBodyBytes)
  if (url.pathname === '/health') {
    const state = host.state()
    const up = state !== 'error' && state !== 'not-running'
    return sendJson(response, up ? 200 : 503, { status: up ? 'up' : 'down', state })
  }
  if (url.pathname === '/ready') {
    const state = host.state()
    const restoring = host.restoringTasks()
    const ready = state === 'running' && restoring.length === 0
    return sendJson(response, ready ? 200 : 503, { ready, state, restoring })
  }
  if (method !== 'GET' && !(method === 'POST' && operation === 'get-many')) {
    throw new QueryError(`${method} is not served here (queries are GET; get-many is POST)`, {
      context: { status: 405 },
    })
  }
  if (url.pathname === '/v1/metadata') {
    return sendJson(response, 200, { instances: service.metadata(), stores: await service.storePartitions() })
  }
  if (url.pathname === '/v1/stores') {
    return sendJson(response, 200, {
      stores: [...service.local.stores.values()].map((store) => ({
        name: store.name,
        kind: store.info.kind,
      })),
    })
  }
  if (storeName === undefined || segments.length !== 4) {
    throw new QueryError(`no route ${url.pathname} (see /v1/stores/<store>/<operation>)`, {
      context: { status: 404 },
    })
  }
  const store = service.local.store(storeName)
  const accept = request.headers.accept ?? ''
  let parsedBody: unknown
  if (body.length > 0) {
    try {
      parsedBody = JSON.parse(body.toString('utf8'))
    } catch (cause) {
      throw badRequest(
        `the body is not JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
        storeName,
      )
    }
  }
  const result: RouteResult = await runRoute(
    service.local,
    {
      store,
      operation,
      params: url.searchParams,
      body: parsedBody,
      raw: accept.includes(RAW_JSON),
      read: { allowRestoring: url.searchParams.get('allowRestoring') === 'true' },
      maxPageSize: settings.maxPageSize,
      partitions: () => service.local.tasksOf(store, { allowRestoring: true }).map((task) => task.partition),
    },
    accept.includes('application/octet-stream'),
  )
  if (result.kind === 'json') return sendJson(response, result.status, result.body)
  if (result.kind === 'bytes') {
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': result.body.byteLength,
    })
    response.end(result.body)
    return
  }
  const owner = ownerOf(service.metadata(), store.subtopology.id, result.partition)
  const endpoint = owner && !owner.instance.self ? owner.instance.endpoint : undefined
  const context = { store: storeName, partition: result.partition, ...(endpoint ? { owner: endpoint } : {}) }
  if (!endpoint || request.headers[PROXIED]) {
    throw new QueryError(
      `partition ${result.partition} of store "${storeName}" is not on this instance, and no other live instance is known to own it (a rebalance may be moving it); retry`,
      { retriable: true, context: { ...context, status: 503 } },
    )
  }
  const location = new URL(`${url.pathname}${url.search}`, endpoint).toString()
  if (options.proxy) return proxy(location, request, body, response)
  response.writeHead(307, { location, 'content-type': 'application/json' })
  response.end(
    JSON.stringify({
      error: {
        code: 'KSTREAMS_QUERY',
        message: `partition ${result.partition} of store "${storeName}" is owned by instance ${owner!.instance.instanceId} at ${endpoint}`,
        retriable: true,
        ...context,
      },
    }),
  )
}

async function proxy(
  location: string,
  request: IncomingMessage,
  body: Buffer,
  response: ServerResponse,
): Promise<void> {
  const headers: { [name: string]: string } = { [PROXIED]: '1' }
  for (const name of ['accept', 'content-type', 'authorization']) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const forwarded = await fetch(location, {
    method: request.method,
    headers,
    redirect: 'manual',
    ...(body.length > 0 ? { body } : {}),
  })
  const payload = Buffer.from(await forwarded.arrayBuffer())
  response.writeHead(forwarded.status, {
    'content-type': forwarded.headers.get('content-type') ?? 'application/json',
    'content-length': payload.byteLength,
  })
  response.end(payload)
}

function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0)
  if (declared > maxBytes) {
    request.resume()
    return Promise.reject(tooLarge(maxBytes))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.byteLength
      if (size > maxBytes) {
        request.removeAllListeners('data')
        request.resume()
        reject(tooLarge(maxBytes))
      } else chunks.push(chunk)
    })
    request.on('end', () => resolve(Buffer.concat(chunks)))
    request.on('error', reject)
  })
}

function tooLarge(maxBytes: number): QueryError {
  return new QueryError(`the request body is larger than ${maxBytes} bytes (maxBodyBytes)`, {
    context: { status: 413 },
  })
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}

function sendError(response: ServerResponse, error: unknown): void {
  if (KStreamsError.isInstance(error)) {
    const { status, ...context } = error.context as { status?: number; [key: string]: unknown }
    const restoring = error.code === 'KSTREAMS_STORE' && context.restoring === true
    const code = typeof status === 'number' ? status : restoring || error.retriable ? 503 : 500
    sendJson(response, code, {
      error: { code: error.code, message: error.message, retriable: error.retriable, ...jsonSafe(context) },
    })
    return
  }
  const message = error instanceof Error ? error.message : String(error)
  sendJson(response, 500, { error: { code: 'KSTREAMS_QUERY', message, retriable: false } })
}

function jsonSafe(context: { [key: string]: unknown }): { [key: string]: unknown } {
  const out: { [key: string]: unknown } = {}
  for (const [key, value] of Object.entries(context))
    out[key] = typeof value === 'bigint' ? value.toString() : value
  return out
}

function integer(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`"${option}" must be a positive integer, got ${String(value)}`, {
      context: { option },
    })
  }
  return value
}
