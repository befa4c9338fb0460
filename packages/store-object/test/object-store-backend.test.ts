import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BackendContext, createMemoryBackend, type StoreBackend } from '@kstreams/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createObjectStoreBackend, decodeManifest, type ObjectStoreOptions } from '../src/index.js'
import { MemoryStorage } from './memory-storage.js'

const directories: string[] = []
const opened: StoreBackend[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((backend) => Promise.resolve(backend.close()).catch(() => {})))
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })))
})

async function contextFor(memberEpoch: number, directory?: string): Promise<BackendContext> {
  const own = directory ?? (await mkdtemp(join(tmpdir(), 'kstreams-object-test-')))
  if (directory === undefined) directories.push(own)
  return {
    applicationId: 'app',
    taskId: '0_2',
    partition: 2,
    storeName: 'counts',
    directory: own,
    ownership: { taskId: '0_2', memberId: `member-${memberEpoch}`, memberEpoch },
  }
}

async function open(storage: MemoryStorage, context: BackendContext, options: ObjectStoreOptions = {}) {
  const backend = await createObjectStoreBackend('memory-object', storage, options).open(context)
  opened.push(backend)
  return backend
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text))
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString()
const manifestOf = (storage: MemoryStorage) =>
  decodeManifest(storage.objects.get('kstreams/app/counts/2/manifest.json')!.bytes)

describe('object store engine', () => {
  it('keeps the changes of a flush that could not reach the storage and uploads them at the next one', async () => {
    const storage = new MemoryStorage()
    const backend = await open(storage, await contextFor(1))
    await backend.write([{ key: bytes('a'), value: bytes('1') }])
    storage.unreachable = true
    const error = await Promise.resolve(backend.flush()).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'KSTREAMS_STORE', retriable: true })
    expect((error as Error).message).toContain('flush (upload a segment)')
    expect((error as Error).message).toContain('memory://test/kstreams/app/counts/2/segments/')
    await backend.write([{ key: bytes('b'), value: bytes('2') }])
    storage.unreachable = false
    await backend.flush()
    const reopened = await open(storage, await contextFor(2))
    expect(text(await reopened.get(bytes('a')))).toBe('1')
    expect(text(await reopened.get(bytes('b')))).toBe('2')
  })

  it('fences the older owner once a newer one opened the store', async () => {
    const storage = new MemoryStorage()
    const older = await open(storage, await contextFor(3))
    await older.write([{ key: bytes('a'), value: bytes('old') }])
    await older.flush()
    const newer = await open(storage, await contextFor(5))
    await older.write([{ key: bytes('a'), value: bytes('zombie') }])
    const error = await Promise.resolve(older.flush()).catch(
      (caught: unknown) => caught as Error & { code: string },
    )
    expect(error?.code).toBe('KSTREAMS_FENCED')
    expect(error?.message).toContain('member-5 epoch 5')
    expect(error?.message).toContain('member-3 epoch 3')
    expect(error?.message).toContain('manifest.json')
    expect(text(await newer.get(bytes('a')))).toBe('old')
    expect(manifestOf(storage).owner.memberEpoch).toBe(5)
    // And an older owner cannot open it again.
    await expect(open(storage, await contextFor(4))).rejects.toMatchObject({ code: 'KSTREAMS_FENCED' })
  })

  it('compacts into a snapshot and deletes superseded objects after the grace period', async () => {
    const storage = new MemoryStorage()
    const options = { compactAfterSegments: 3, deleteGraceMs: 0, workingCopy: createMemoryBackend() }
    const backend = await open(storage, await contextFor(1), options)
    for (let round = 0; round < 3; round += 1) {
      await backend.write([
        { key: bytes(`k${round}`), value: bytes(`${round}`) },
        { key: bytes('k0'), value: bytes(`again-${round}`) },
      ])
      await backend.flush()
    }
    const compacted = manifestOf(storage)
    expect(compacted.snapshot?.name).toMatch(/^snapshots\/.*\.snap$/)
    expect(compacted.segments).toEqual([])
    expect(compacted.superseded.map((entry) => entry.name)).toHaveLength(0)
    await backend.write([{ key: bytes('k1'), value: null }])
    await backend.flush()
    await backend.close()
    const names = [...storage.objects.keys()].map((name) => name.replace('kstreams/app/counts/2/', ''))
    // The segments the snapshot replaced are gone; the snapshot and the new segment remain.
    expect(names.filter((name) => name.startsWith('segments/'))).toHaveLength(1)
    expect(names.filter((name) => name.startsWith('snapshots/'))).toHaveLength(1)
    const reopened = await open(storage, await contextFor(2), options)
    expect(text(await reopened.get(bytes('k0')))).toBe('again-2')
    expect(await reopened.get(bytes('k1'))).toBeUndefined()
    expect(text(await reopened.get(bytes('k2')))).toBe('2')
  })

  it('restores large objects in ranged parts and reports a damaged one', async () => {
    const storage = new MemoryStorage()
    const options = { downloadPartBytes: 1000, workingCopy: createMemoryBackend() }
    const backend = await open(storage, await contextFor(1), options)
    const batch = Array.from({ length: 500 }, (_, index) => ({
      key: bytes(`key-${index}`),
      value: bytes(`value-${index}`),
    }))
    await backend.write(batch)
    await backend.flush()
    await backend.close()
    const reopened = await open(storage, await contextFor(2), options)
    expect(await reopened.approximateCount()).toBe(500)
    expect(text(await reopened.get(bytes('key-499')))).toBe('value-499')
    await reopened.close()
    const [segment] = manifestOf(storage).segments
    const stored = storage.objects.get(`kstreams/app/counts/2/${segment!.name}`)!
    stored.bytes[100] = stored.bytes[100]! ^ 0xff
    const error = await open(storage, await contextFor(3), options).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    )
    expect(error?.message).toContain(segment!.name)
    expect(error?.message).toContain('checksum mismatch')
  })

  it('keeps a local working copy that matches the manifest, and downloads one that does not', async () => {
    const storage = new MemoryStorage()
    const context = await contextFor(1)
    const backend = await open(storage, context)
    await backend.write([{ key: bytes('a'), value: bytes('1') }])
    await backend.flush()
    await backend.close()
    // Same directory: the working copy matches the manifest, so nothing is downloaded.
    storage.unreachable = false
    const segmentKey = [...storage.objects.keys()].find((name) => name.includes('/segments/'))!
    const segment = storage.objects.get(segmentKey)!
    storage.objects.delete(segmentKey)
    const again = await open(storage, { ...context, ownership: { ...context.ownership, memberEpoch: 2 } })
    expect(text(await again.get(bytes('a')))).toBe('1')
    // A write not flushed makes the local copy untrustworthy: the next open downloads.
    await again.write([{ key: bytes('a'), value: bytes('unflushed') }])
    await again.close()
    storage.objects.set(segmentKey, segment)
    const third = await open(storage, { ...context, ownership: { ...context.ownership, memberEpoch: 3 } })
    expect(text(await third.get(bytes('a')))).toBe('1')
  })

  it('records the changelog offset and the input offsets of the commit point in the manifest', async () => {
    const storage = new MemoryStorage()
    const context = { ...(await contextFor(1)), changelogTopic: 'app-counts-changelog' }
    const backend = await open(storage, context)
    expect(await backend.changelogCheckpoint?.()).toBeUndefined()
    await backend.write([{ key: bytes('a'), value: bytes('1') }])
    await backend.flush({
      taskId: '0_2',
      inputs: [{ topic: 'in', partition: 2, offset: 41n, completed: [], streamTime: 7 }],
      changelogs: [
        { topic: 'app-counts-changelog', partition: 2, offset: 17n },
        { topic: 'app-other-changelog', partition: 2, offset: 99n },
      ],
      ownership: context.ownership,
    })
    expect(await backend.changelogCheckpoint?.()).toBe(17n)
    expect(manifestOf(storage).inputs).toEqual([
      { topic: 'in', partition: 2, offset: '41', completed: [], streamTime: 7 },
    ])
    const reopened = await open(storage, { ...(await contextFor(2)), changelogTopic: 'app-counts-changelog' })
    expect(await reopened.changelogCheckpoint?.()).toBe(17n)
  })

  it('uploads nothing when flushed after close (a task the runtime lost during a commit)', async () => {
    const storage = new MemoryStorage()
    const backend = await open(storage, await contextFor(1), { workingCopy: createMemoryBackend() })
    await backend.close()
    await backend.flush()
    const objects = storage.objects.size
    const other = await open(storage, await contextFor(2), { workingCopy: createMemoryBackend() })
    await other.write([{ key: bytes('a'), value: bytes('1') }])
    const closing = other.close()
    await expect(Promise.resolve(other.flush())).rejects.toMatchObject({
      code: 'KSTREAMS_STORE',
      retriable: true,
    })
    await closing
    expect(storage.objects.size).toBe(objects)
  })

  it('takes the snapshot of an LMDB working copy in the background and names it with the segments written since', async () => {
    const storage = new MemoryStorage()
    const options = { compactAfterSegments: 3, deleteGraceMs: 0 }
    const backend = await open(storage, await contextFor(1), options)
    for (let round = 0; round < 3; round += 1) {
      await backend.write([{ key: bytes(`k${round}`), value: bytes(`${round}`) }])
      await backend.flush()
    }
    // The third flush found compaction due: it wrote a segment and started the snapshot.
    expect(manifestOf(storage).snapshot).toBeNull()
    expect(manifestOf(storage).segments).toHaveLength(3)
    let round = 3
    while (manifestOf(storage).snapshot === null && round < 50) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      await backend.write([
        { key: bytes('k0'), value: bytes(`again-${round}`) },
        { key: bytes(`k${round}`), value: bytes(`${round}`) },
      ])
      await backend.flush()
      round += 1
    }
    const manifest = manifestOf(storage)
    expect(manifest.snapshot?.records).toBe(3)
    // The segments written after the snapshot was taken stay named; the three before it do not.
    const sequences = manifest.segments.map((segment) => Number(segment.name.slice('segments/'.length, 21)))
    expect(sequences.every((sequence) => sequence >= 5)).toBe(true)
    expect(manifest.segments.length).toBe(round - 3)
    await backend.close()
    const reopened = await open(storage, await contextFor(2), options)
    expect(text(await reopened.get(bytes('k0')))).toBe(`again-${round - 1}`)
    expect(await reopened.approximateCount()).toBe(round)
    const names = [...storage.objects.keys()].filter((name) => name.includes('/segments/'))
    expect(names).toHaveLength(manifest.segments.length)
  })
})
