// The store operations the query server answers, one route per operation and store kind:
//
//   key-value  GET  /v1/stores/:store/get?key=…          one key (owner only)
//              POST /v1/stores/:store/get-many {"keys":[…]}  keys this instance owns; others `moved`
//              GET  /v1/stores/:store/range?from=…&to=…&limit=…[&after=…]
//              GET  /v1/stores/:store/prefix?prefix=…&limit=…[&after=…]
//              GET  /v1/stores/:store/all?limit=…[&after=…]
//              GET  /v1/stores/:store/count
//   window     GET  /v1/stores/:store/fetch?key=…&from=…&to=…[&limit=…&after=…]   (owner only)
//              GET  /v1/stores/:store/fetch-all?from=…&to=…&limit=…[&after=…]
//   session    GET  /v1/stores/:store/sessions?key=…[&limit=…&after=…]            (owner only)
//
// Keys are wire JSON in the query string (`key=%22hello%22`), or their serialized bytes in hex
// (`keyBytes=68656c6c6f`). Scans answer this instance's partitions only (a client fans out to
// every instance and merges by `order`, the key bytes in hex) and page: `limit` is required, and
// `next`, when present, is the `after` of the next page.
import { QueryError } from '../errors.js'
import { bytes as bytesSerde } from '../serdes.js'
import type { KeyValue, KeyValueStore } from '../state/key-value-store.js'
import type { WindowedEntry, WindowStore } from '../windows/window-store.js'
import { type LocalStores, type OrderedEntry, type ReadOptions, windowOrder } from './local-stores.js'
import type { QueryableStore } from './store-partitioning.js'
import { fromHex, fromWire, toWire } from './wire-json.js'

export interface RouteRequest {
  store: QueryableStore
  operation: string
  params: URLSearchParams
  body: unknown
  /** Keys and values as base64 of their serialized bytes instead of JSON. */
  raw: boolean
  read: ReadOptions
  maxPageSize: number
  /** The store's partitions on this instance (scans answer them). */
  partitions(): number[]
}

export type RouteResult =
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'bytes'; body: Uint8Array }
  /** The key belongs to a partition this instance does not own. */
  | { kind: 'not-owner'; partition: number }

const KEY_VALUE = new Set(['get', 'get-many', 'range', 'prefix', 'all', 'count'])
const WINDOW = new Set(['fetch', 'fetch-all'])
const SESSION = new Set(['sessions'])

export function badRequest(message: string, store?: string): QueryError {
  return new QueryError(message, { context: { status: 400, ...(store ? { store } : {}) } })
}

export async function runRoute(
  local: LocalStores,
  request: RouteRequest,
  wantsBytes: boolean,
): Promise<RouteResult> {
  const { store, operation } = request
  const allowed =
    store.info.kind === 'key-value' ? KEY_VALUE : store.info.kind === 'window' ? WINDOW : SESSION
  if (!allowed.has(operation)) {
    throw new QueryError(
      `store "${store.name}" is a ${store.info.kind} store: its operations are ${[...allowed].join(', ')}, not "${operation}"`,
      { context: { store: store.name, status: 404 } },
    )
  }
  switch (operation) {
    case 'get':
      return get(local, request, wantsBytes)
    case 'get-many':
      return getMany(local, request)
    case 'count': {
      const view = local.view(store.name, request.read)
      if (view.kind !== 'key-value') throw badRequest('count needs a key-value store', store.name)
      return { kind: 'json', status: 200, body: { count: await view.approximateCount() } }
    }
    case 'range': {
      const from = keyParam(request, 'from')
      const to = keyParam(request, 'to')
      return keyValuePage(local, request, (inner) => inner.range(from, to))
    }
    case 'prefix': {
      const prefix = keyBytesParam(request, 'prefix')
      return keyValuePage(local, request, (inner) => inner.prefixScan(prefix, bytesSerde()))
    }
    case 'all':
      return keyValuePage(local, request, (inner) => inner.all())
    case 'fetch': {
      const key = keyParam(request, 'key')
      const from = timeParam(request, 'from')
      const to = timeParam(request, 'to')
      return windowsOfKey(local, request, key, (inner) => inner.fetch(key, from, to))
    }
    case 'fetch-all': {
      const from = timeParam(request, 'from')
      const to = timeParam(request, 'to')
      const limit = limitParam(request, true)
      const entries = local.scanWindows(store.name, (inner) => inner.fetchAll(from, to), request.read)
      return windowPage(request, entries, limit)
    }
    default: {
      const key = keyParam(request, 'key')
      return windowsOfKey(local, request, key, (inner) =>
        inner.fetch(key, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      )
    }
  }
}

async function get(local: LocalStores, request: RouteRequest, wantsBytes: boolean): Promise<RouteResult> {
  const key = keyParam(request, 'key')
  const found = await local.get(request.store.name, key, request.read)
  const { partition } = found
  if (!found.owned) return { kind: 'not-owner', partition }
  if (wantsBytes) {
    if (found.value === undefined) {
      throw new QueryError(`store "${request.store.name}" has no value for this key`, {
        context: { store: request.store.name, status: 404, found: false },
      })
    }
    return { kind: 'bytes', body: local.valueBytes(request.store, found.value) }
  }
  const value =
    found.value === undefined
      ? undefined
      : request.raw
        ? base64(local.valueBytes(request.store, found.value))
        : toWire(found.value)
  return { kind: 'json', status: 200, body: { found: found.value !== undefined, partition, value } }
}

async function getMany(local: LocalStores, request: RouteRequest): Promise<RouteResult> {
  const body = request.body as { keys?: unknown } | undefined
  if (!body || !Array.isArray(body.keys))
    throw badRequest('get-many needs a JSON body {"keys": [...]}', request.store.name)
  if (body.keys.length > request.maxPageSize) {
    throw badRequest(
      `get-many takes at most ${request.maxPageSize} keys, got ${body.keys.length}`,
      request.store.name,
    )
  }
  const values = []
  for (const wire of body.keys) {
    const key = fromWire(wire)
    const found = await local.get(request.store.name, key, request.read)
    if (!found.owned)
      values.push({ moved: true, partition: await local.partitionOf(request.store.name, key) })
    else values.push({ found: found.value !== undefined, value: toWire(found.value) })
  }
  return { kind: 'json', status: 200, body: { values } }
}

async function keyValuePage(
  local: LocalStores,
  request: RouteRequest,
  scan: (store: KeyValueStore<unknown, unknown>) => AsyncIterableIterator<KeyValue<unknown, unknown>>,
): Promise<RouteResult> {
  const limit = limitParam(request, true)
  const after = afterParam(request)
  const entries: unknown[] = []
  let next: string | undefined
  let last = ''
  const source = local.scanKeyValue(request.store.name, scan, request.read)
  for await (const item of source) {
    if (after !== undefined && item.order <= after.order) continue
    if (entries.length === limit) {
      next = token({ order: last })
      break
    }
    entries.push(encodeEntry(local, request, item))
    last = item.order
  }
  return {
    kind: 'json',
    status: 200,
    body: { entries, ...(next ? { next } : {}), partitions: request.partitions() },
  }
}

async function windowsOfKey(
  local: LocalStores,
  request: RouteRequest,
  key: unknown,
  scan: (store: WindowStore<unknown, unknown>) => AsyncIterableIterator<WindowedEntry<unknown, unknown>>,
): Promise<RouteResult> {
  const partition = await local.partitionOf(request.store.name, key)
  const source = await local.fetchKey(request.store.name, key, scan, request.read)
  if (!source) return { kind: 'not-owner', partition }
  const keyBytes = keyBytesOf(request, key)
  const order = windowOrder(keyBytes)
  async function* withOrder(): AsyncGenerator<OrderedEntry<WindowedEntry<unknown, unknown>>> {
    for await (const entry of source!) yield { order, keyBytes, entry }
  }
  return windowPage(request, withOrder(), limitParam(request, false))
}

async function windowPage(
  request: RouteRequest,
  source: AsyncGenerator<OrderedEntry<WindowedEntry<unknown, unknown>>>,
  limit: number,
): Promise<RouteResult> {
  const after = afterParam(request)
  const entries: unknown[] = []
  let next: string | undefined
  let last: { order: string; start: number } | undefined
  for await (const item of source) {
    const start = item.entry.window.start
    if (
      after &&
      (item.order < after.order ||
        (item.order === after.order && start <= (after.start ?? Number.POSITIVE_INFINITY)))
    ) {
      continue
    }
    if (entries.length === limit) {
      next = token(last!)
      break
    }
    const { key, value, window } = item.entry
    entries.push({
      order: item.order,
      window: { start: window.start, end: window.end },
      ...(request.raw
        ? { keyBytes: base64(item.keyBytes), valueBytes: base64(valueBytesOf(request, value)) }
        : { key: toWire(key), value: toWire(value) }),
    })
    last = { order: item.order, start }
  }
  return {
    kind: 'json',
    status: 200,
    body: { entries, ...(next ? { next } : {}), partitions: request.partitions() },
  }
}

function encodeEntry(
  local: LocalStores,
  request: RouteRequest,
  item: OrderedEntry<KeyValue<unknown, unknown>>,
): unknown {
  return request.raw
    ? {
        order: item.order,
        keyBytes: base64(item.keyBytes),
        valueBytes: base64(local.valueBytes(request.store, item.entry.value)),
      }
    : { order: item.order, key: toWire(item.entry.key), value: toWire(item.entry.value) }
}

function keyBytesOf(request: RouteRequest, key: unknown): Uint8Array {
  const bytes = request.store.info.keySerde.serialize(key, {
    topic: request.store.topic,
    target: 'key',
    headers: [],
  })
  return bytes ?? new Uint8Array()
}

function valueBytesOf(request: RouteRequest, value: unknown): Uint8Array {
  return (
    request.store.info.valueSerde.serialize(value, {
      topic: request.store.topic,
      target: 'value',
      headers: [],
    }) ?? new Uint8Array()
  )
}

/** A key from `name` (wire JSON) or `nameBytes` (hex of its serialized bytes). */
function keyParam(request: RouteRequest, name: string): unknown {
  const { params, store } = request
  const text = params.get(name)
  const hex = params.get(`${name}Bytes`)
  if (text === null && hex === null) {
    throw badRequest(
      `missing "${name}": give the key as wire JSON (${name}=%22text%22) or hex bytes (${name}Bytes=…)`,
      store.name,
    )
  }
  if (text !== null) {
    try {
      return fromWire(JSON.parse(text))
    } catch (cause) {
      throw new QueryError(
        `"${name}" is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)} (strings need quotes: ${name}=%22text%22)`,
        {
          cause,
          context: { status: 400, store: store.name },
        },
      )
    }
  }
  const bytes = fromHex(hex!)
  if (!bytes) throw badRequest(`"${name}Bytes" must be hex`, store.name)
  try {
    return store.info.keySerde.deserialize(bytes, { topic: store.topic, target: 'key', headers: [] })
  } catch (cause) {
    throw new QueryError(
      `"${name}Bytes" does not deserialize with the store's key serde: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
        context: { status: 400, store: store.name },
      },
    )
  }
}

/** A key prefix as bytes: `prefix` (a key in wire JSON, serialized by the store's key serde) or `prefixBytes` (hex). */
function keyBytesParam(request: RouteRequest, name: string): Uint8Array {
  const hex = request.params.get(`${name}Bytes`)
  if (hex !== null) {
    const bytes = fromHex(hex)
    if (!bytes) throw badRequest(`"${name}Bytes" must be hex`, request.store.name)
    return bytes
  }
  const key = keyParam(request, name)
  try {
    return keyBytesOf(request, key)
  } catch (cause) {
    throw new QueryError(
      `"${name}" does not serialize with the store's key serde: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
        context: { status: 400, store: request.store.name },
      },
    )
  }
}

function timeParam(request: RouteRequest, name: string): number {
  const text = request.params.get(name)
  const value = Number(text)
  if (text === null || text === '' || !Number.isSafeInteger(value)) {
    throw badRequest(
      `"${name}" must be a time in epoch milliseconds (an integer), got ${JSON.stringify(text)}`,
      request.store.name,
    )
  }
  return value
}

function limitParam(request: RouteRequest, required: boolean): number {
  const text = request.params.get('limit')
  if (text === null) {
    if (!required) return request.maxPageSize
    throw badRequest(
      `"${request.operation}" needs "limit" (1 to ${request.maxPageSize}); page on with "after" set to the answer's "next"`,
      request.store.name,
    )
  }
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1 || value > request.maxPageSize) {
    throw badRequest(
      `"limit" must be an integer from 1 to ${request.maxPageSize}, got ${JSON.stringify(text)}`,
      request.store.name,
    )
  }
  return value
}

function afterParam(request: RouteRequest): { order: string; start?: number } | undefined {
  const text = request.params.get('after')
  if (text === null) return undefined
  try {
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString()) as {
      order?: unknown
      start?: unknown
    }
    if (typeof parsed.order === 'string' && fromHex(parsed.order)) {
      return { order: parsed.order, ...(typeof parsed.start === 'number' ? { start: parsed.start } : {}) }
    }
  } catch {}
  throw badRequest(
    '"after" is not a continuation token this server gave (use the "next" of the previous page)',
    request.store.name,
  )
}

function token(position: { order: string; start?: number }): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url')
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}
