// A bucket per test file on the real GCS server (fake-gcs-server), and a reader that decodes what a
// store wrote straight from the objects, without the backend.
import { type Bucket, Storage } from '@google-cloud/storage'
import { decodeManifest, decodeObject, type Manifest } from '@kstreams/store-object'
import { endpoints, uniqueName } from '@kstreams/test-helpers'

export const gcsStorageOptions = { apiEndpoint: endpoints.gcsEndpoint, projectId: 'kstreams-test' }

export async function createBucket(
  prefix = 'kstreams-gcs',
  apiEndpoint = endpoints.gcsEndpoint,
): Promise<{ bucket: Bucket; remove: () => Promise<void> }> {
  const storage = new Storage({ ...gcsStorageOptions, apiEndpoint })
  const name = uniqueName(prefix)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
  const [bucket] = await storage.createBucket(name)
  return {
    bucket,
    async remove() {
      await bucket.deleteFiles({ force: true }).catch(() => {})
      await bucket.delete().catch(() => {})
    },
  }
}

async function getBytes(bucket: Bucket, name: string): Promise<Uint8Array | undefined> {
  try {
    const [bytes] = await bucket.file(name).download()
    return bytes
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined
    throw error
  }
}

export async function readManifest(bucket: Bucket, root: string): Promise<Manifest | undefined> {
  const bytes = await getBytes(bucket, `${root}/manifest.json`)
  return bytes === undefined ? undefined : decodeManifest(bytes)
}

/** Every key and value the manifest's snapshot and segments hold, applied in order (latin1 keys). */
export async function readStoredState(bucket: Bucket, root: string): Promise<Map<string, Uint8Array>> {
  const manifest = await readManifest(bucket, root)
  const state = new Map<string, Uint8Array>()
  if (manifest === undefined) return state
  const objects = [
    ...(manifest.snapshot === null ? [] : [{ name: manifest.snapshot.name, kind: 'snapshot' as const }]),
    ...manifest.segments.map((segment) => ({ name: segment.name, kind: 'segment' as const })),
  ]
  for (const { name, kind } of objects) {
    const bytes = await getBytes(bucket, `${root}/${name}`)
    if (bytes === undefined) throw new Error(`the manifest names ${root}/${name}, which does not exist`)
    for (const record of decodeObject(kind, bytes)) {
      const key = Buffer.from(record.key).toString('latin1')
      if (record.value === null) state.delete(key)
      else state.set(key, record.value)
    }
  }
  return state
}
