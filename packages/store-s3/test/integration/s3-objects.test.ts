// What the engine does with objects on the real S3 server: ranged downloads of a large snapshot,
// segments split and uploaded in parallel, superseded objects deleted, damage reported.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import type { BackendContext, StoreBackend } from '@kstreams/core'
import type { ObjectStoreOptions } from '@kstreams/store-object'
import { uniqueName } from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createS3Backend } from '../../src/index.js'
import { createBucket, getBytes, readManifest, s3Client, s3ClientConfig } from './s3-helpers.js'

async function setUp() {
  const client = s3Client()
  onTestFinished(() => client.destroy())
  const { bucket, remove } = await createBucket(client, 'objects')
  onTestFinished(remove)
  const applicationId = uniqueName('objects')
  const open = async (memberEpoch: number, options: ObjectStoreOptions = {}): Promise<StoreBackend> => {
    const directory = await mkdtemp(join(tmpdir(), 'kstreams-s3-objects-'))
    onTestFinished(() => rm(directory, { recursive: true, force: true }))
    const context: BackendContext = {
      applicationId,
      taskId: '0_0',
      partition: 0,
      storeName: 'counts',
      directory,
      ownership: { taskId: '0_0', memberId: `member-${memberEpoch}`, memberEpoch },
    }
    const backend = await createS3Backend({ bucket, clientConfig: s3ClientConfig, ...options }).open(context)
    onTestFinished(() => backend.close())
    return backend
  }
  const root = `kstreams/${applicationId}/counts/0`
  const names = async () => {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${root}/` }))
    return (listed.Contents ?? []).map((object) => object.Key!.slice(root.length + 1)).sort()
  }
  return { client, bucket, open, root, names }
}

const writes = (count: number, suffix: string) =>
  Array.from({ length: count }, (_, index) => ({
    key: Buffer.from(`key-${String(index).padStart(5, '0')}`),
    value: Buffer.from(`value-${index}-${suffix}`),
  }))

describe('objects on S3', () => {
  it('splits a large flush into segments, compacts into a snapshot, deletes what it superseded, and restores with ranged GETs', async () => {
    const { client, bucket, open, root, names } = await setUp()
    const options = {
      segmentMaxBytes: 20_000,
      compactAfterSegments: 8,
      deleteGraceMs: 0,
      downloadPartBytes: 7_000,
    }
    const first = await open(1, options)
    await first.write(writes(3000, 'a'))
    await first.flush()
    const split = await readManifest(client, bucket, root)
    // About 90 KB of changes in segments of at most 20 KB, uploaded in one flush.
    expect(split!.segments.length).toBeGreaterThanOrEqual(4)
    expect(new Set(split!.segments.map((segment) => segment.name.split('-')[0])).size).toBe(1)
    await first.write(writes(3000, 'b'))
    await first.flush()
    // Compaction is due now: the snapshot is taken and uploaded in the background, and a later
    // flush names it, with the segments written since.
    let compacted = await readManifest(client, bucket, root)
    for (let round = 0; compacted!.snapshot === null && round < 50; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      await first.write([{ key: Buffer.from('key-00000'), value: null }])
      await first.flush()
      compacted = await readManifest(client, bucket, root)
    }
    expect(compacted!.snapshot).not.toBeNull()
    expect(compacted!.snapshot!.records).toBe(3000)
    expect(compacted!.segments).toHaveLength(1)
    await first.close()
    const stored = await names()
    // The segments the snapshot replaced are deleted (grace period 0); the one written since stays.
    expect(stored.filter((name) => name.startsWith('segments/'))).toEqual(
      compacted!.segments.map((segment) => segment.name),
    )
    expect(stored.filter((name) => name.startsWith('snapshots/'))).toEqual([compacted!.snapshot!.name])

    // A new owner downloads the snapshot (larger than downloadPartBytes) in ranged parts.
    const second = await open(2, options)
    expect(await second.approximateCount()).toBe(2999)
    expect(await second.get(Buffer.from('key-00000'))).toBeUndefined()
    expect(Buffer.from((await second.get(Buffer.from('key-02999')))!).toString()).toBe('value-2999-b')
  })

  it('reports a damaged segment as a StoreError naming the object', async () => {
    const { client, bucket, open, root } = await setUp()
    const first = await open(1)
    await first.write(writes(100, 'a'))
    await first.flush()
    await first.close()
    const [segment] = (await readManifest(client, bucket, root))!.segments
    const key = `${root}/${segment!.name}`
    const bytes = Buffer.from((await getBytes(client, bucket, key))!)
    bytes[40] = bytes[40]! ^ 0xff
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }))
    const error = await open(2).then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string },
    )
    expect(error?.code).toBe('KSTREAMS_STORE')
    expect(error?.message).toContain(`s3://${bucket}/${key} is damaged`)
    expect(error?.message).toContain('checksum mismatch')
  })
})
