// The S3 side of the object-storage engine: whole and ranged GETs, PUTs with If-None-Match / If-Match
// (S3 conditional writes; a 412 is a failed precondition), listing and batch deletion.
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import {
  type ListedObject,
  type ObjectStorage,
  PreconditionFailedError,
  type PutCondition,
} from '@kstreams/store-object'

export interface S3StorageOptions {
  /** The bucket; it must exist. */
  bucket: string
  /**
   * A client to use instead of one built from `clientConfig`. It is not destroyed by kstreams.
   * @default a new S3Client(clientConfig)
   */
  client?: S3Client
  /**
   * Configuration of the client kstreams builds: region, endpoint, `forcePathStyle`, credentials
   * (without them, the AWS SDK's default provider chain: environment, shared files, SSO, IMDS),
   * `requestHandler` timeouts.
   * @default { requestHandler: { requestTimeout: 30000, connectionTimeout: 5000, throwOnRequestTimeout: true } }
   */
  clientConfig?: S3ClientConfig
}

interface S3Failure {
  name?: string
  $metadata?: { httpStatusCode?: number }
}

function statusOf(error: unknown): number | undefined {
  return (error as S3Failure).$metadata?.httpStatusCode
}

function isNotFound(error: unknown): boolean {
  const name = (error as S3Failure).name
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404
}

/** True for a failed precondition: 412, or 409 ConditionalRequestConflict (a concurrent conditional write). */
function isPreconditionFailure(error: unknown): boolean {
  const name = (error as S3Failure).name
  return statusOf(error) === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict'
}

export class S3Storage implements ObjectStorage {
  readonly description: string
  readonly #client: S3Client
  readonly #bucket: string
  readonly #ownsClient: boolean

  constructor(options: S3StorageOptions) {
    this.#bucket = options.bucket
    // A commit waits for the flush: a request the server never answers must fail it (the runtime
    // flushes again at the next commit) rather than hold the commit forever.
    this.#client =
      options.client ??
      new S3Client({
        requestHandler: { requestTimeout: 30_000, connectionTimeout: 5_000, throwOnRequestTimeout: true },
        ...options.clientConfig,
      })
    this.#ownsClient = options.client === undefined
    this.description = `s3://${options.bucket}`
  }

  async get(name: string, options: { range?: { start: number; end: number } } = {}) {
    try {
      const response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: name,
          ...(options.range === undefined
            ? {}
            : { Range: `bytes=${options.range.start}-${options.range.end}` }),
        }),
      )
      const bytes = await response.Body!.transformToByteArray()
      return { bytes, version: response.ETag ?? '' }
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  async put(name: string, bytes: Uint8Array, condition?: PutCondition) {
    try {
      const response = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: name,
          Body: bytes,
          ContentLength: bytes.byteLength,
          ...(condition === undefined
            ? {}
            : 'ifNoneMatch' in condition
              ? { IfNoneMatch: '*' }
              : { IfMatch: condition.ifMatch }),
        }),
      )
      return { version: response.ETag ?? '' }
    } catch (error) {
      if (condition !== undefined && isPreconditionFailure(error))
        throw new PreconditionFailedError(name, { cause: error })
      throw error
    }
  }

  async head(name: string) {
    try {
      const response = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: name }))
      return { size: response.ContentLength ?? 0, version: response.ETag ?? '' }
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = []
    let token: string | undefined
    do {
      const response = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token }),
      )
      for (const entry of response.Contents ?? []) {
        objects.push({
          name: entry.Key!,
          size: entry.Size ?? 0,
          lastModified: entry.LastModified?.getTime() ?? 0,
        })
      }
      token = response.IsTruncated === true ? response.NextContinuationToken : undefined
    } while (token !== undefined)
    return objects
  }

  async delete(names: readonly string[]): Promise<void> {
    for (let start = 0; start < names.length; start += 1000) {
      const batch = names.slice(start, start + 1000)
      const response = await this.#client.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      )
      const failed = (response.Errors ?? []).filter((entry) => entry.Code !== 'NoSuchKey')
      if (failed.length > 0) {
        throw new Error(
          `S3 did not delete ${failed.length} object(s), first ${failed[0]!.Key}: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`,
        )
      }
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy()
  }
}
