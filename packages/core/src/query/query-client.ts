// The typed query client: `createQueryClient<typeof topology>({ endpoints })`. Store names and key
// and value types come from the topology's type. It reads /v1/metadata from any instance, sends a
// point read to the key's owner (computed from the topology's serdes and partitioners when the
// topology value is given; otherwise any instance answers or redirects to the owner), retries
// after a backoff when a task moved (a redirect to a gone owner, 503 restoring or not owned,
// a refused connection), refreshing the metadata, and fans scans out to every instance, merging
// their pages in key byte order.
import { QueryError } from '../errors.js'
import type { KeyValue, KeyValueStore } from '../state/key-value-store.js'
import type { Topology } from '../topology.js'
import type { SessionStore, WindowedEntry, WindowStore } from '../windows/window-store.js'
import type { InstanceMetadata } from './instance-registry.js'
import { ownerOf } from './instance-registry.js'
import { compareStrings, mergeOrdered } from './local-stores.js'
import type { StoreNameOf, StoresOf } from './query-types.js'
import { partitionOf, queryableStores } from './store-partitioning.js'
import { fromWire, stringifyWire, toWire } from './wire-json.js'

export interface QueryClientOptions<T extends Topology = Topology> {
  /** Query servers to ask for metadata first (any instance of the application). */
  endpoints: readonly string[]
  /** The topology value: point reads then go straight to the key's owner. @default undefined */
  topology?: T
  /** Headers of every request (an Authorization header, say). @default {} */
  headers?: { [name: string]: string }
  /** Per request. @default 5000 */
  requestTimeoutMs?: number
  /** Attempts per read before it fails (a moved task takes a few). @default 10 */
  maxAttempts?: number
  /** First wait between attempts, doubled up to 1 s. @default 50 */
  retryBackoffMs?: number
  /** Metadata older than this is read again. @default 10000 */
  metadataMaxAgeMs?: number
  /** Entries per page of a scan. @default 500 */
  pageSize?: number
  /** @default globalThis.fetch */
  fetch?: typeof fetch
}

export interface ClusterMetadata {
  instances: InstanceMetadata[]
  stores: { [store: string]: { kind: string; partitions: number; subtopology: number } }
}

export interface KeyValueStoreClient<K, V> {
  get(key: K): Promise<V | undefined>
  getMany(keys: readonly K[]): Promise<Array<V | undefined>>
  /** Entries with `from <= key <= to` from every instance, in key byte order. */
  range(from: K, to: K): AsyncIterableIterator<KeyValue<K, V>>
  /** Entries whose serialized key starts with the serialized `prefix` (a key of the store's type). */
  prefixScan(prefix: K): AsyncIterableIterator<KeyValue<K, V>>
  all(): AsyncIterableIterator<KeyValue<K, V>>
  approximateCount(): Promise<number>
}

export interface WindowStoreClient<K, V> {
  fetch(key: K, from: number, to: number): Promise<Array<WindowedEntry<K, V>>>
  fetchAll(from: number, to: number): AsyncIterableIterator<WindowedEntry<K, V>>
}

export interface SessionStoreClient<K, V> {
  fetch(key: K): Promise<Array<WindowedEntry<K, V>>>
}

export type StoreClientOf<S> =
  S extends SessionStore<infer K, infer V>
    ? SessionStoreClient<K, V>
    : S extends WindowStore<infer K, infer V>
      ? WindowStoreClient<K, V>
      : S extends KeyValueStore<infer K, infer V>
        ? KeyValueStoreClient<K, V>
        :
            | KeyValueStoreClient<unknown, unknown>
            | WindowStoreClient<unknown, unknown>
            | SessionStoreClient<unknown, unknown>

export interface QueryClient<T extends Topology> {
  store<N extends StoreNameOf<T>>(name: N): StoreClientOf<StoresOf<T>[N]>
  /** Live instances and store partition counts, read again now. */
  metadata(): Promise<ClusterMetadata>
}

const GET_MANY_PAGE = 100

interface Answer {
  status: number
  body: { [key: string]: unknown }
}

/**
 * A client of an application's query servers, typed by its topology.
 *
 * @example
 * const client = createQueryClient<typeof topology>({ endpoints: ['http://127.0.0.1:7070'] })
 * const count = await client.store('counts').get('kafka') // bigint | undefined
 */
export function createQueryClient<T extends Topology>(options: QueryClientOptions<T>): QueryClient<T> {
  return new HttpQueryClient(options) as unknown as QueryClient<T>
}

class HttpQueryClient<T extends Topology> {
  readonly #options: Required<Omit<QueryClientOptions<T>, 'topology'>> & { topology: T | undefined }
  readonly #stores
  #metadata: { value: ClusterMetadata; at: number } | undefined
  #reading: Promise<ClusterMetadata> | undefined
  #turn = 0

  constructor(options: QueryClientOptions<T>) {
    if (!options || !Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new QueryError('createQueryClient needs "endpoints": at least one query server URL', {
        context: { option: 'endpoints' },
      })
    }
    this.#options = {
      headers: {},
      requestTimeoutMs: 5000,
      maxAttempts: 10,
      retryBackoffMs: 50,
      metadataMaxAgeMs: 10_000,
      pageSize: 500,
      fetch: globalThis.fetch,
      ...options,
      topology: options.topology,
    }
    this.#stores = options.topology ? queryableStores(options.topology) : undefined
  }

  store(name: string): unknown {
    const path = `/v1/stores/${encodeURIComponent(name)}`
    return {
      get: async (key: unknown) => {
        const body = await this.#point(name, key, `${path}/get?key=${wireParam(key)}`)
        return body.found ? fromWire(body.value) : undefined
      },
      getMany: (keys: readonly unknown[]) => this.#getMany(name, path, keys),
      range: (from: unknown, to: unknown) =>
        this.#scan(name, `${path}/range?from=${wireParam(from)}&to=${wireParam(to)}`, decodeKeyValue),
      prefixScan: (prefix: unknown) =>
        this.#scan(name, `${path}/prefix?prefix=${wireParam(prefix)}`, decodeKeyValue),
      all: () => this.#scan(name, `${path}/all?`, decodeKeyValue),
      approximateCount: async () => {
        let count = 0
        for (const endpoint of await this.#endpoints()) {
          count += Number((await this.#retrying(() => this.#request(endpoint, `${path}/count`))).body.count)
        }
        return count
      },
      fetch: async (key: unknown, from?: number, to?: number) => {
        const route =
          from === undefined
            ? `${path}/sessions?key=${wireParam(key)}`
            : `${path}/fetch?key=${wireParam(key)}&from=${from}&to=${to}`
        const entries: unknown[] = []
        let after: string | undefined
        do {
          const body = await this.#point(name, key, `${route}${after ? `&after=${after}` : ''}`)
          for (const entry of body.entries as WireEntry[]) entries.push(decodeWindowed(entry))
          after = body.next as string | undefined
        } while (after)
        return entries
      },
      fetchAll: (from: number, to: number) =>
        this.#scan(name, `${path}/fetch-all?from=${from}&to=${to}`, decodeWindowed),
    }
  }

  /**
   * Keys grouped by the instance they are sent to (the owner when the topology is known), one
   * get-many per group and page; a key answered `moved` (its task moved, or the guess was wrong)
   * is read on its own, with redirects and retries.
   */
  async #getMany(store: string, path: string, keys: readonly unknown[]): Promise<unknown[]> {
    const groups = new Map<string, number[]>()
    for (let index = 0; index < keys.length; index += 1) {
      const endpoint = await this.#target(store, keys[index])
      const group = groups.get(endpoint) ?? []
      group.push(index)
      groups.set(endpoint, group)
    }
    const values: unknown[] = new Array(keys.length)
    const single = async (index: number) => {
      const body = await this.#point(store, keys[index], `${path}/get?key=${wireParam(keys[index])}`)
      values[index] = body.found ? fromWire(body.value) : undefined
    }
    await Promise.all(
      [...groups].flatMap(([endpoint, indexes]) => {
        const pages: number[][] = []
        // Pages small enough for the server's default body limit with keys of a few hundred bytes.
        for (let start = 0; start < indexes.length; start += GET_MANY_PAGE) {
          pages.push(indexes.slice(start, start + GET_MANY_PAGE))
        }
        return pages.map(async (page) => {
          const body = JSON.stringify({ keys: page.map((index) => toWire(keys[index])) })
          let answer: Answer
          try {
            answer = await this.#retrying(() => this.#request(endpoint, `${path}/get-many`, body))
          } catch (error) {
            if (error instanceof QueryError && !error.retriable) throw error
            // The instance is gone: each key finds its owner on its own.
            await Promise.all(page.map(single))
            return
          }
          const answers = answer.body.values as Array<{ found?: boolean; value?: unknown; moved?: boolean }>
          await Promise.all(
            page.map(async (index, position) => {
              const entry = answers[position]!
              if (entry.moved) await single(index)
              else values[index] = entry.found ? fromWire(entry.value) : undefined
            }),
          )
        })
      }),
    )
    return values
  }

  async metadata(): Promise<ClusterMetadata> {
    this.#reading ??= this.#readMetadata().finally(() => {
      this.#reading = undefined
    })
    return this.#reading
  }

  async #readMetadata(): Promise<ClusterMetadata> {
    const known = new Set<string>(this.#options.endpoints)
    for (const instance of this.#metadata?.value.instances ?? [])
      if (instance.endpoint) known.add(instance.endpoint)
    let last: unknown
    for (const endpoint of known) {
      try {
        const answer = await this.#request(endpoint, '/v1/metadata')
        if (answer.status !== 200) throw answerError(answer)
        const value = answer.body as unknown as ClusterMetadata
        this.#metadata = { value, at: Date.now() }
        return value
      } catch (error) {
        last = error
      }
    }
    throw new QueryError(`no query server answered /v1/metadata (tried ${[...known].join(', ')})`, {
      cause: last,
      retriable: true,
    })
  }

  async #current(): Promise<ClusterMetadata> {
    const cached = this.#metadata
    if (cached && Date.now() - cached.at < this.#options.metadataMaxAgeMs) return cached.value
    return this.metadata()
  }

  async #endpoints(): Promise<string[]> {
    const metadata = await this.#current()
    return [
      ...new Set(metadata.instances.flatMap((instance) => (instance.endpoint ? [instance.endpoint] : []))),
    ]
  }

  /** A read of one key, sent to its owner (or to any instance, which redirects). */
  async #point(store: string, key: unknown, route: string): Promise<{ [key: string]: unknown }> {
    return (
      await this.#retrying(async () => {
        let endpoint = await this.#target(store, key)
        for (let hop = 0; hop < 3; hop += 1) {
          const answer = await this.#request(endpoint, route)
          if (answer.status !== 307) return answer
          endpoint = new URL(String(answer.body.location)).origin
        }
        throw new QueryError('too many redirects', { retriable: true })
      })
    ).body
  }

  async #target(store: string, key: unknown): Promise<string> {
    const metadata = await this.#current()
    const known = this.#stores?.get(store)
    const partitions = metadata.stores[store]?.partitions
    if (known && partitions) {
      const partition = partitionOf(known, key, partitions)
      const endpoint = ownerOf(metadata.instances, known.subtopology.id, partition)?.instance.endpoint
      if (endpoint) return endpoint
    }
    const endpoints = await this.#endpoints()
    if (endpoints.length === 0) return this.#options.endpoints[this.#turn++ % this.#options.endpoints.length]!
    return endpoints[this.#turn++ % endpoints.length]!
  }

  /** Pages of a scan from every instance, merged by key bytes; restarted when partitions moved. */
  async *#scan<E>(store: string, route: string, decode: (entry: WireEntry) => E): AsyncIterableIterator<E> {
    const separator = route.endsWith('?') ? '' : '&'
    const page = (endpoint: string, after: string | undefined) =>
      this.#retrying(() =>
        this.#request(
          endpoint,
          `${route}${separator}limit=${this.#options.pageSize}${after ? `&after=${after}` : ''}`,
        ),
      )
    let firsts: Array<{ endpoint: string; body: { [key: string]: unknown } }> = []
    for (let attempt = 1; ; attempt += 1) {
      const metadata = await this.#current()
      const endpoints = await this.#endpoints()
      firsts = await Promise.all(
        endpoints.map(async (endpoint) => ({ endpoint, body: (await page(endpoint, undefined)).body })),
      )
      const covered = new Set(firsts.flatMap(({ body }) => (body.partitions as number[] | undefined) ?? []))
      const expected = metadata.stores[store]?.partitions
      if (expected === undefined || covered.size >= expected || attempt >= this.#options.maxAttempts) break
      // A partition no instance answered for is moving: read the metadata again and start over.
      await this.metadata().catch(() => undefined)
      await sleep(this.#backoff(attempt))
    }
    async function* pages(endpoint: string, first: { [key: string]: unknown }): AsyncGenerator<WireEntry> {
      let body = first
      for (;;) {
        yield* body.entries as WireEntry[]
        if (!body.next) return
        body = (await page(endpoint, String(body.next))).body
      }
    }
    let previous: string | undefined
    for await (const entry of mergeOrdered(
      firsts.map(({ endpoint, body }) => pages(endpoint, body)),
      (left, right) =>
        compareStrings(left.order, right.order) || (left.window?.start ?? 0) - (right.window?.start ?? 0),
    )) {
      const identity = entry.window ? `${entry.order}@${entry.window.start}` : entry.order
      if (identity === previous) continue // an overlap while a task moved
      previous = identity
      yield decode(entry)
    }
  }

  /** Runs `attempt` until it gives a 2xx answer, retrying what a moved task explains. */
  async #retrying(attempt: () => Promise<Answer>): Promise<Answer> {
    let last: unknown
    for (let count = 1; count <= this.#options.maxAttempts; count += 1) {
      try {
        const answer = await attempt()
        if (answer.status >= 200 && answer.status < 300) return answer
        const error = answerError(answer)
        if (!error.retriable) throw error
        last = error
      } catch (error) {
        if (error instanceof QueryError && !error.retriable) throw error
        last = error
      }
      if (count === this.#options.maxAttempts) break
      await this.metadata().catch(() => undefined)
      await sleep(this.#backoff(count))
    }
    if (last instanceof QueryError) throw last
    throw new QueryError(
      `the query failed after ${this.#options.maxAttempts} attempts: ${last instanceof Error ? last.message : String(last)}`,
      { cause: last, retriable: true },
    )
  }

  #backoff(attempt: number): number {
    return Math.min(1000, this.#options.retryBackoffMs * 2 ** (attempt - 1))
  }

  async #request(endpoint: string, route: string, payload?: string): Promise<Answer> {
    const url = new URL(route, endpoint)
    let response: Response
    try {
      response = await this.#options.fetch(url, {
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...this.#options.headers,
        },
        ...(payload === undefined ? {} : { method: 'POST', body: payload }),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs),
      })
    } catch (cause) {
      throw new QueryError(
        `cannot reach the query server at ${endpoint}: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          cause,
          retriable: true,
          context: { endpoint },
        },
      )
    }
    const text = await response.text()
    let body: { [key: string]: unknown }
    try {
      body = text ? (JSON.parse(text) as { [key: string]: unknown }) : {}
    } catch {
      body = { error: { message: text.slice(0, 200) } }
    }
    if (response.status === 307) body = { ...body, location: response.headers.get('location') }
    return { status: response.status, body }
  }
}

interface WireEntry {
  order: string
  key: unknown
  value: unknown
  window?: { start: number; end: number }
}

function decodeKeyValue(entry: WireEntry): KeyValue<unknown, unknown> {
  return { key: fromWire(entry.key), value: fromWire(entry.value) }
}

function decodeWindowed(entry: WireEntry): WindowedEntry<unknown, unknown> {
  return { key: fromWire(entry.key), window: entry.window!, value: fromWire(entry.value) }
}

function answerError(answer: Answer): QueryError {
  const error = (answer.body.error ?? {}) as { code?: string; message?: string; retriable?: boolean }
  const retriable =
    error.retriable === true || answer.status === 503 || answer.status === 504 || answer.status === 421
  return new QueryError(`query server answered ${answer.status}: ${error.message ?? 'no message'}`, {
    retriable,
    context: { status: answer.status, ...(error.code ? { serverCode: error.code } : {}) },
  })
}

function wireParam(value: unknown): string {
  return encodeURIComponent(stringifyWire(value))
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}
