// The small interface a provider implements (S3, GCS): whole-object reads, ranged reads, writes
// with a precondition, listing and deletion. Everything else is the engine's.

/** An object's bytes and the version tag a conditional write names (S3 ETag, GCS generation). */
export interface StoredObject {
  bytes: Uint8Array
  version: string
}

/** One object found by `list`. */
export interface ListedObject {
  name: string
  size: number
  /** Epoch milliseconds of the last write. */
  lastModified: number
}

/**
 * The precondition of a write: the object must not exist (`ifNoneMatch: '*'`, GCS generation 0),
 * or must still be at the version read before (`ifMatch`: S3 ETag, GCS generation).
 */
export type PutCondition = { ifNoneMatch: '*' } | { ifMatch: string }

/** Byte range of a ranged read, both ends included (as in HTTP `Range: bytes=start-end`). */
export interface ByteRange {
  start: number
  end: number
}

/**
 * Object storage as the engine uses it. Names are full object keys (`<prefix>/<app>/...`).
 *
 * @example
 * const storage: ObjectStorage = createS3Storage({ bucket: 'state' })
 * await storage.put('kstreams/app/counts/0/manifest.json', bytes, { ifNoneMatch: '*' })
 */
export interface ObjectStorage {
  /** Where the objects live, for messages: `s3://bucket` or `gs://bucket`. */
  readonly description: string
  /** The object (or the requested range of it), or undefined when it does not exist. */
  get(name: string, options?: { range?: ByteRange }): Promise<StoredObject | undefined>
  /**
   * Writes the object and returns its new version tag.
   * @throws PreconditionFailedError when `condition` does not hold on the server
   */
  put(name: string, bytes: Uint8Array, condition?: PutCondition): Promise<{ version: string }>
  /** Size and version of the object, or undefined when it does not exist. */
  head(name: string): Promise<{ size: number; version: string } | undefined>
  /** Every object whose name starts with `prefix`. */
  list(prefix: string): Promise<ListedObject[]>
  /** Deletes the objects; a name that does not exist is not an error. */
  delete(names: readonly string[]): Promise<void>
  /** Releases the client. */
  close?(): Promise<void>
}

/** A conditional write found the object at another version than required: someone else wrote it. */
export class PreconditionFailedError extends Error {
  constructor(
    readonly objectName: string,
    options?: { cause?: unknown },
  ) {
    super(`the precondition of the write of ${objectName} failed`, options)
    this.name = 'PreconditionFailedError'
  }
}
