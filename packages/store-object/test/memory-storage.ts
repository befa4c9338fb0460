// An ObjectStorage in memory for the engine's unit tests: conditional writes with versions, and a
// switch that makes every call fail as an unreachable server would. The providers' integration
// tests run the same engine against real servers.
import {
  type ListedObject,
  type ObjectStorage,
  PreconditionFailedError,
  type PutCondition,
} from '../src/index.js'

export class MemoryStorage implements ObjectStorage {
  readonly description = 'memory://test'
  readonly objects = new Map<string, { bytes: Uint8Array; version: string; lastModified: number }>()
  unreachable = false
  #versions = 0

  #check(): void {
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:1')
  }

  async get(name: string, options: { range?: { start: number; end: number } } = {}) {
    this.#check()
    const object = this.objects.get(name)
    if (object === undefined) return undefined
    const bytes =
      options.range === undefined
        ? object.bytes
        : object.bytes.subarray(options.range.start, options.range.end + 1)
    return { bytes, version: object.version }
  }

  async put(name: string, bytes: Uint8Array, condition?: PutCondition) {
    this.#check()
    const current = this.objects.get(name)
    if (condition !== undefined) {
      const holds =
        'ifNoneMatch' in condition ? current === undefined : current?.version === condition.ifMatch
      if (!holds) throw new PreconditionFailedError(name)
    }
    this.#versions += 1
    const version = `v${this.#versions}`
    this.objects.set(name, {
      bytes: Uint8Array.prototype.slice.call(bytes),
      version,
      lastModified: Date.now(),
    })
    return { version }
  }

  async head(name: string) {
    this.#check()
    const object = this.objects.get(name)
    return object === undefined ? undefined : { size: object.bytes.length, version: object.version }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    this.#check()
    return [...this.objects]
      .filter(([name]) => name.startsWith(prefix))
      .map(([name, object]) => ({ name, size: object.bytes.length, lastModified: object.lastModified }))
  }

  async delete(names: readonly string[]): Promise<void> {
    this.#check()
    for (const name of names) this.objects.delete(name)
  }
}
