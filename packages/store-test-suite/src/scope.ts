// What one test of the suite works with: backends opened on fresh directories with unique contexts,
// closed (and the directories removed) when the test ends, whatever its outcome.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type {
  BackendContext,
  BackendEntry,
  BackendRangeOptions,
  BackendWrite,
  StoreBackend,
  StoreBackendFactory,
} from '@kstreams/core'
import { copyBytes, entryPairs, hex, hexOrMissing } from './bytes.js'

/** Where the suite gets a fresh empty directory for each backend. */
export type DirectoryProvider = () => string | Promise<string>

// One id per process run: a backend that keeps its data outside the directory (a server) sees
// different application ids in two runs, so a leftover of an earlier run never meets a new test.
const runId = randomUUID().slice(0, 8)
let sequence = 0

/** A fresh temporary directory under os.tmpdir(), for backends whose caller gave no `directory` option. */
export function temporaryDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kstreams-store-test-'))
}

export class TestScope {
  readonly #factory: StoreBackendFactory
  readonly #directory: DirectoryProvider | undefined
  readonly #openBackends = new Set<StoreBackend>()
  readonly #temporaryDirectories: string[] = []

  constructor(factory: StoreBackendFactory, directory: DirectoryProvider | undefined) {
    this.#factory = factory
    this.#directory = directory
  }

  /** A context no other test uses, on a fresh empty directory. */
  async context(): Promise<BackendContext> {
    let directory: string
    if (this.#directory === undefined) {
      directory = await temporaryDirectory()
      this.#temporaryDirectories.push(directory)
    } else {
      directory = await this.#directory()
    }
    sequence += 1
    return {
      applicationId: `store-test-suite-${runId}`,
      taskId: `0_${sequence}`,
      ownership: { taskId: `0_${sequence}`, memberId: 'store-test-suite', memberEpoch: 1 },
      partition: sequence,
      storeName: `store-${sequence}`,
      directory,
    }
  }

  /** Opens a backend through the factory, on `context` or on a new one. */
  async open(context?: BackendContext): Promise<StoreBackend> {
    const backend = await this.#factory.open(context ?? (await this.context()))
    this.#openBackends.add(backend)
    return backend
  }

  async close(backend: StoreBackend): Promise<void> {
    this.#openBackends.delete(backend)
    await backend.close()
  }

  /** Closes what is still open and removes the directories the suite made; throws the first failure. */
  async dispose(): Promise<void> {
    const failures: unknown[] = []
    for (const backend of [...this.#openBackends].reverse()) {
      try {
        await this.close(backend)
      } catch (error) {
        failures.push(error)
      }
    }
    for (const directory of this.#temporaryDirectories.splice(0)) {
      try {
        await rm(directory, { recursive: true, force: true })
      } catch (error) {
        failures.push(error)
      }
    }
    if (failures.length > 0) throw failures[0]
  }
}

/** Every entry of a scan, checking that keys and values are byte arrays. */
export async function scan(backend: StoreBackend, options?: BackendRangeOptions): Promise<BackendEntry[]> {
  const entries: BackendEntry[] = []
  // `for await` walks both the synchronous and the asynchronous iterables the contract allows.
  for await (const entry of backend.range(options)) {
    assert.ok(entry.key instanceof Uint8Array, 'range() must yield keys as Uint8Array')
    assert.ok(entry.value instanceof Uint8Array, 'range() must yield values as Uint8Array')
    entries.push(entry)
  }
  return entries
}

/** The keys of a scan, as hex. */
export async function scanKeys(backend: StoreBackend, options?: BackendRangeOptions): Promise<string[]> {
  return (await scan(backend, options)).map((entry) => hex(entry.key))
}

/** `get(key)` as hex or `missing`, checking the value is a byte array. */
export async function read(backend: StoreBackend, key: Uint8Array): Promise<string> {
  const value = await backend.get(key)
  if (value !== undefined)
    assert.ok(value instanceof Uint8Array, 'get() must return a Uint8Array or undefined')
  return hexOrMissing(value)
}

/** `getMany(keys)` as hex or `missing`, checking it returned one value per key. */
export async function readMany(backend: StoreBackend, keys: readonly Uint8Array[]): Promise<string[]> {
  const values = await backend.getMany(keys)
  assert.ok(Array.isArray(values), 'getMany() must return an array')
  assert.equal(values.length, keys.length, 'getMany() must return one value per key')
  return values.map(hexOrMissing)
}

/**
 * What the store holds after the writes applied to it, computed the simple way: a map, sorted by
 * Buffer.compare on demand. Tests compare the backend with it.
 */
export class ExpectedStore {
  readonly #entries = new Map<string, BackendEntry>()
  readonly #everWritten = new Map<string, Uint8Array>()

  apply(batch: readonly BackendWrite[]): void {
    for (const { key, value } of batch) {
      const id = hex(key)
      this.#everWritten.set(id, copyBytes(key))
      if (value === null) this.#entries.delete(id)
      else this.#entries.set(id, { key: copyBytes(key), value: copyBytes(value) })
    }
  }

  get size(): number {
    return this.#entries.size
  }

  /** Every key a write touched, deleted ones included. */
  get keysEverWritten(): Uint8Array[] {
    return [...this.#everWritten.values()]
  }

  read(key: Uint8Array): string {
    return hexOrMissing(this.#entries.get(hex(key))?.value)
  }

  entries(options: BackendRangeOptions = {}): BackendEntry[] {
    const { from, to } = options
    const selected = [...this.#entries.values()]
      .filter(
        ({ key }) =>
          (from === undefined || Buffer.compare(key, from) >= 0) &&
          (to === undefined || Buffer.compare(key, to) < 0),
      )
      .sort((left, right) => Buffer.compare(left.key, right.key))
    return options.reverse === true ? selected.reverse() : selected
  }

  pairs(options?: BackendRangeOptions): string[] {
    return entryPairs(this.entries(options))
  }
}

/** Asserts that `backend` holds exactly what `expected` holds: scan, get, getMany and count. */
export async function assertSameContent(
  backend: StoreBackend,
  expected: ExpectedStore,
  where: string,
): Promise<void> {
  assert.deepEqual(entryPairs(await scan(backend)), expected.pairs(), `${where}: full scan`)
  const keys = expected.keysEverWritten
  const values: string[] = []
  for (const key of keys) values.push(await read(backend, key))
  assert.deepEqual(
    values,
    keys.map((key) => expected.read(key)),
    `${where}: get() of every key written`,
  )
  assert.deepEqual(
    await readMany(backend, keys),
    keys.map((key) => expected.read(key)),
    `${where}: getMany() of every key written`,
  )
  assert.equal(await backend.approximateCount(), expected.size, `${where}: approximateCount()`)
}
