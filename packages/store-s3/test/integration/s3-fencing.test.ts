// Conditional writes on the real S3 server, and the engine's fencing built on them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import type { BackendContext, StoreBackend } from '@kstreams/core'
import { startStallingProxy, uniqueName } from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createS3Backend } from '../../src/index.js'
import { createBucket, readManifest, readStoredState, s3Client, s3ClientConfig } from './s3-helpers.js'

async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise
    return 200
  } catch (error) {
    return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  }
}

async function setUp() {
  const client = s3Client()
  onTestFinished(() => client.destroy())
  const { bucket, remove } = await createBucket(client, 'fencing')
  onTestFinished(remove)
  const factory = createS3Backend({ bucket, clientConfig: s3ClientConfig })
  const applicationId = uniqueName('fencing')
  const open = async (memberEpoch: number): Promise<StoreBackend> => {
    const directory = await mkdtemp(join(tmpdir(), 'kstreams-s3-fencing-'))
    onTestFinished(() => rm(directory, { recursive: true, force: true }))
    const context: BackendContext = {
      applicationId,
      taskId: '0_1',
      partition: 1,
      storeName: 'counts',
      directory,
      ownership: { taskId: '0_1', memberId: `member-${memberEpoch}`, memberEpoch },
    }
    const backend = await factory.open(context)
    onTestFinished(() => backend.close())
    return backend
  }
  return { client, bucket, open, root: `kstreams/${applicationId}/counts/1` }
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text))

describe('fencing on S3', () => {
  it('versitygw rejects If-None-Match: * on an existing object and If-Match on a stale ETag with 412', async () => {
    const { client, bucket } = await setUp()
    const put = (body: string, condition: { IfNoneMatch?: string; IfMatch?: string }) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe', Body: body, ...condition }))
    const created = await put('v1', { IfNoneMatch: '*' })
    expect(await statusOf(put('v2', { IfNoneMatch: '*' }))).toBe(412)
    const replaced = await put('v2', { IfMatch: created.ETag! })
    expect(replaced.ETag).not.toBe(created.ETag)
    expect(await statusOf(put('v3', { IfMatch: created.ETag! }))).toBe(412)
  })

  it('an older owner flushing after a newer one opened gets KSTREAMS_FENCED and changes nothing', async () => {
    const { client, bucket, open, root } = await setUp()
    const older = await open(3)
    await older.write([{ key: bytes('a'), value: bytes('1') }])
    await older.flush()
    const newer = await open(7)
    await newer.write([{ key: bytes('b'), value: bytes('2') }])
    await newer.flush()
    const manifest = await readManifest(client, bucket, root)

    await older.write([{ key: bytes('a'), value: bytes('stale') }])
    const error = await Promise.resolve(older.flush()).then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string; context: Record<string, unknown> },
    )
    expect(error?.code).toBe('KSTREAMS_FENCED')
    expect(error?.message).toContain('object store "counts" of task 0_1')
    expect(error?.message).toContain('member-7 epoch 7')
    expect(error?.message).toContain('member-3 epoch 3')
    expect(error?.message).toContain(`s3://${bucket}/${root}/manifest.json`)
    expect(error?.context).toMatchObject({ store: 'counts', taskId: '0_1', ownership: { memberEpoch: 3 } })
    // Fenced for good: a later flush fails the same way.
    await expect(Promise.resolve(older.flush())).rejects.toMatchObject({ code: 'KSTREAMS_FENCED' })
    expect(await readManifest(client, bucket, root)).toEqual(manifest)
    const state = await readStoredState(client, bucket, root)
    expect(Buffer.from(state.get('a')!).toString()).toBe('1')
    expect(Buffer.from(state.get('b')!).toString()).toBe('2')
    // And an older owner cannot open the store any more.
    await expect(open(5)).rejects.toMatchObject({ code: 'KSTREAMS_FENCED' })
  })

  it('a manifest write the server never answers fails the flush as retriable within the request timeout', async () => {
    const { client, bucket, root } = await setUp()
    const proxy = await startStallingProxy(s3ClientConfig.endpoint)
    const factory = createS3Backend({
      bucket,
      clientConfig: {
        ...s3ClientConfig,
        endpoint: proxy.endpoint,
        maxAttempts: 1,
        requestHandler: { requestTimeout: 1000, throwOnRequestTimeout: true },
      },
    })
    const directory = await mkdtemp(join(tmpdir(), 'kstreams-s3-timeout-'))
    onTestFinished(() => rm(directory, { recursive: true, force: true }))
    const backend = await factory.open({
      applicationId: root.split('/')[1]!,
      taskId: '0_1',
      partition: 1,
      storeName: 'counts',
      directory,
      ownership: { taskId: '0_1', memberId: 'member-1', memberEpoch: 1 },
    })
    onTestFinished(() => backend.close())
    await backend.write([{ key: bytes('a'), value: bytes('1') }])
    proxy.arm(/^PUT \S*manifest\.json/)
    const started = Date.now()
    const error = await Promise.resolve(backend.flush()).then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string; retriable: boolean },
    )
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(error).toMatchObject({ code: 'KSTREAMS_STORE', retriable: true })
    expect(error?.message).toContain('flush (write the manifest)')
    expect(error?.message).toContain(`s3://${bucket}/${root}/manifest.json`)
    // The manifest is still the one the open wrote.
    expect((await readManifest(client, bucket, root))?.sequence).toBe(1)
  })
})
