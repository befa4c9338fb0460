// Generation preconditions on the real GCS server, and the engine's fencing built on them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackendContext, StoreBackend } from '@kstreams/core'
import { startStallingProxy, uniqueName } from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createGcsBackend } from '../../src/index.js'
import { createBucket, gcsStorageOptions, readManifest, readStoredState } from './gcs-helpers.js'

async function setUp() {
  const { bucket, remove } = await createBucket('fencing')
  onTestFinished(remove)
  const factory = createGcsBackend({ bucket: bucket.name, storageOptions: gcsStorageOptions })
  const applicationId = uniqueName('fencing')
  const open = async (memberEpoch: number): Promise<StoreBackend> => {
    const directory = await mkdtemp(join(tmpdir(), 'kstreams-gcs-fencing-'))
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
  return { bucket, open, root: `kstreams/${applicationId}/counts/1` }
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text))

describe('fencing on GCS', () => {
  it('fake-gcs-server rejects ifGenerationMatch 0 on an existing object and a stale generation with 412', async () => {
    const { bucket } = await setUp()
    const file = bucket.file('probe')
    await file.save('v1', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })
    const first = file.metadata.generation!
    await expect(
      file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    ).rejects.toMatchObject({ code: 412 })
    await file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: first } })
    expect(file.metadata.generation).not.toBe(first)
    await expect(
      bucket.file('probe').save('v3', { resumable: false, preconditionOpts: { ifGenerationMatch: first } }),
    ).rejects.toMatchObject({ code: 412 })
  })

  it('an older owner flushing after a newer one opened gets KSTREAMS_FENCED and changes nothing', async () => {
    const { bucket, open, root } = await setUp()
    const older = await open(3)
    await older.write([{ key: bytes('a'), value: bytes('1') }])
    await older.flush()
    const newer = await open(7)
    await newer.write([{ key: bytes('b'), value: bytes('2') }])
    await newer.flush()
    const manifest = await readManifest(bucket, root)

    await older.write([{ key: bytes('a'), value: bytes('stale') }])
    const error = await Promise.resolve(older.flush()).then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string },
    )
    expect(error?.code).toBe('KSTREAMS_FENCED')
    expect(error?.message).toContain('member-7 epoch 7')
    expect(error?.message).toContain('member-3 epoch 3')
    expect(error?.message).toContain(`gs://${bucket.name}/${root}/manifest.json`)
    expect(await readManifest(bucket, root)).toEqual(manifest)
    const state = await readStoredState(bucket, root)
    expect(Buffer.from(state.get('a')!).toString()).toBe('1')
    expect(Buffer.from(state.get('b')!).toString()).toBe('2')
    await expect(open(5)).rejects.toMatchObject({ code: 'KSTREAMS_FENCED' })
  })

  it('a manifest upload the server never answers fails the flush as retriable within the request timeout', async () => {
    const { bucket, root } = await setUp()
    const proxy = await startStallingProxy(gcsStorageOptions.apiEndpoint)
    const factory = createGcsBackend({
      bucket: bucket.name,
      storageOptions: {
        ...gcsStorageOptions,
        apiEndpoint: proxy.endpoint,
        retryOptions: { autoRetry: false },
      },
      // The client's own `timeout` does not cover simple uploads; the engine's does.
      requestTimeoutMs: 1000,
    })
    const directory = await mkdtemp(join(tmpdir(), 'kstreams-gcs-timeout-'))
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
    proxy.arm(/^POST [\s\S]*manifest\.json/)
    const started = Date.now()
    const error = await Promise.resolve(backend.flush()).then(
      () => undefined,
      (caught: unknown) => caught as Error & { code: string; retriable: boolean },
    )
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(error).toMatchObject({ code: 'KSTREAMS_STORE', retriable: true })
    expect(error?.message).toContain('flush (write the manifest)')
    expect(error?.message).toContain(`gs://${bucket.name}/${root}/manifest.json`)
    expect((await readManifest(bucket, root))?.sequence).toBe(1)
  })
})
