// A bucket per test file on the real S3 server (versitygw), and a reader that decodes what a store
// wrote straight from the objects, without the backend.
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3'
import type { BackendContext } from '@kstreams/core'
import { decodeManifest, decodeObject, type Manifest, storeRoot } from '@kstreams/store-object'
import { endpoints, uniqueName } from '@kstreams/test-helpers'

export const s3ClientConfig = {
  endpoint: endpoints.s3Endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: endpoints.s3AccessKey, secretAccessKey: endpoints.s3SecretKey },
}

export function s3Client(endpoint = endpoints.s3Endpoint): S3Client {
  return new S3Client({ ...s3ClientConfig, endpoint })
}

/** Creates a bucket with a unique name; the returned function empties and deletes it. */
export async function createBucket(
  client: S3Client,
  prefix = 'kstreams-s3',
): Promise<{ bucket: string; remove: () => Promise<void> }> {
  const bucket = uniqueName(prefix)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  return {
    bucket,
    async remove() {
      for (;;) {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }))
        const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key! }))
        if (keys.length === 0) break
        await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
        )
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }))
    },
  }
}

export async function getBytes(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<Uint8Array | undefined> {
  try {
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    return await response.Body!.transformToByteArray()
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined
    throw error
  }
}

/** The manifest of a store partition, read with the plain S3 client. */
export async function readManifest(
  client: S3Client,
  bucket: string,
  root: string,
): Promise<Manifest | undefined> {
  const bytes = await getBytes(client, bucket, `${root}/manifest.json`)
  return bytes === undefined ? undefined : decodeManifest(bytes)
}

/** Every key and value the manifest's snapshot and segments hold, applied in order (latin1 keys). */
export async function readStoredState(
  client: S3Client,
  bucket: string,
  root: string,
): Promise<Map<string, Uint8Array>> {
  const manifest = await readManifest(client, bucket, root)
  const state = new Map<string, Uint8Array>()
  if (manifest === undefined) return state
  const objects = [
    ...(manifest.snapshot === null ? [] : [{ name: manifest.snapshot.name, kind: 'snapshot' as const }]),
    ...manifest.segments.map((segment) => ({ name: segment.name, kind: 'segment' as const })),
  ]
  for (const { name, kind } of objects) {
    const bytes = await getBytes(client, bucket, `${root}/${name}`)
    if (bytes === undefined) throw new Error(`the manifest names ${root}/${name}, which does not exist`)
    for (const record of decodeObject(kind, bytes)) {
      const key = Buffer.from(record.key).toString('latin1')
      if (record.value === null) state.delete(key)
      else state.set(key, record.value)
    }
  }
  return state
}

export function rootOf(context: BackendContext, prefix = 'kstreams'): string {
  return storeRoot(prefix, context)
}
