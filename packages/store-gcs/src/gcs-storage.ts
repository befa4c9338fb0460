// The GCS side of the object-storage engine: whole and ranged downloads, uploads with an
// ifGenerationMatch precondition (0: must not exist; a 412 is a failed precondition), listing and
// deletion. The version tag is the object's generation.
import { type Bucket, Storage, type StorageOptions } from '@google-cloud/storage'
import {
  type ListedObject,
  type ObjectStorage,
  PreconditionFailedError,
  type PutCondition,
} from '@kstreams/store-object'

export interface GcsStorageOptions {
  /** The bucket; it must exist. */
  bucket: string
  /**
   * A client to use instead of one built from `storageOptions`.
   * @default new Storage(storageOptions)
   */
  storage?: Storage
  /**
   * Options of the client kstreams builds: `projectId`, `apiEndpoint` (an emulator), credentials
   * (without them, Application Default Credentials), `retryOptions`, `timeout` (ms per request).
   * @default { retryOptions: { maxRetries: 2, totalTimeout: 30 }, timeout: 30000 }
   */
  storageOptions?: StorageOptions
}

function codeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code
  return typeof code === 'number' ? code : undefined
}

export class GcsStorage implements ObjectStorage {
  readonly description: string
  readonly #bucket: Bucket

  constructor(options: GcsStorageOptions) {
    const storage =
      options.storage ??
      new Storage({
        // A commit waits for the flush: an outage should fail it soon (the runtime retries at the
        // next commit) rather than after the client's default ten minutes of retries.
        retryOptions: { maxRetries: 2, totalTimeout: 30 },
        // ...and a request the server never answers must fail too, not hold the commit forever.
        timeout: 30_000,
        ...options.storageOptions,
      })
    this.#bucket = storage.bucket(options.bucket)
    this.description = `gs://${options.bucket}`
  }

  async get(name: string, options: { range?: { start: number; end: number } } = {}) {
    try {
      if (options.range !== undefined) {
        const [bytes] = await this.#bucket
          .file(name)
          .download({ start: options.range.start, end: options.range.end })
        return { bytes, version: '' }
      }
      const [metadata] = await this.#bucket.file(name).getMetadata()
      const generation = String(metadata.generation)
      // The generation read above, exactly: the bytes and the version tag belong together.
      const [bytes] = await this.#bucket.file(name, { generation }).download()
      return { bytes, version: generation }
    } catch (error) {
      if (codeOf(error) === 404) return undefined
      throw error
    }
  }

  async put(name: string, bytes: Uint8Array, condition?: PutCondition) {
    const file = this.#bucket.file(name)
    const ifGenerationMatch =
      condition === undefined ? undefined : 'ifNoneMatch' in condition ? 0 : condition.ifMatch
    try {
      await file.save(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
        resumable: false,
        validation: false,
        ...(ifGenerationMatch === undefined ? {} : { preconditionOpts: { ifGenerationMatch } }),
      })
      return { version: String(file.metadata.generation) }
    } catch (error) {
      if (condition !== undefined && codeOf(error) === 412)
        throw new PreconditionFailedError(name, { cause: error })
      throw error
    }
  }

  async head(name: string) {
    try {
      const [metadata] = await this.#bucket.file(name).getMetadata()
      return { size: Number(metadata.size ?? 0), version: String(metadata.generation) }
    } catch (error) {
      if (codeOf(error) === 404) return undefined
      throw error
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const [files] = await this.#bucket.getFiles({ prefix, autoPaginate: true })
    return files.map((file) => ({
      name: file.name,
      size: Number(file.metadata.size ?? 0),
      lastModified: Date.parse(String(file.metadata.updated ?? file.metadata.timeCreated ?? 0)) || 0,
    }))
  }

  async delete(names: readonly string[]): Promise<void> {
    for (let start = 0; start < names.length; start += 100) {
      await Promise.all(
        names
          .slice(start, start + 100)
          .map((name) => this.#bucket.file(name).delete({ ignoreNotFound: true })),
      )
    }
  }
}
