// The in-memory backend: a sorted map of copied bytes. Not persistent: a task that opens it again
// restores it from the changelog. Values are kept as binary strings (one char per byte), not as
// copied Uint8Arrays: a small string costs V8 about 24 bytes more than its bytes, a copied typed
// array about 220 (its object, its buffer and their bookkeeping), and the heap of an app holding a
// million keys grows by a multiple of what it keeps. A read turns the string back into bytes.
import { fromKey, SortedKeyMap, toKey } from './sorted-key-map.js'
import type {
  BackendCapabilities,
  BackendEntry,
  BackendRangeOptions,
  BackendWrite,
  StoreBackend,
  StoreBackendFactory,
} from './store-backend.js'

const capabilities: BackendCapabilities = Object.freeze({ persistent: false, reverseRange: true })

export class MemoryBackend implements StoreBackend {
  readonly contractVersion = 1 as const
  readonly capabilities = capabilities
  readonly #entries = new SortedKeyMap<string>()

  get(key: Uint8Array): Uint8Array | undefined {
    const value = this.#entries.get(toKey(key))
    return value === undefined ? undefined : fromKey(value)
  }

  getMany(keys: readonly Uint8Array[]): Array<Uint8Array | undefined> {
    return keys.map((key) => this.get(key))
  }

  write(batch: readonly BackendWrite[]): void {
    for (const { key, value } of batch) {
      // Copies (into a string), so that callers may reuse their buffers.
      if (value === null) this.#entries.delete(toKey(key))
      else this.#entries.set(toKey(key), toKey(value))
    }
  }

  *range(options: BackendRangeOptions = {}): Generator<BackendEntry> {
    const from = options.from === undefined ? undefined : toKey(options.from)
    const to = options.to === undefined ? undefined : toKey(options.to)
    for (const [key, value] of this.#entries.entries(from, to, options.reverse ?? false)) {
      yield { key: fromKey(key), value: fromKey(value) }
    }
  }

  approximateCount(): number {
    return this.#entries.size
  }

  flush(): void {}

  close(): void {
    this.#entries.clear()
  }
}

/** Backends kept in memory, sorted by key bytes. The default backend of key-value stores. */
export function createMemoryBackend(): StoreBackendFactory {
  return { name: 'memory', persistent: false, open: () => new MemoryBackend() }
}
