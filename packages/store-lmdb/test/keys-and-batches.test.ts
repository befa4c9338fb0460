import { StoreError } from '@kstreams/core'
import { open } from 'lmdb'
import { describe, expect, it } from 'vitest'
import { createLmdbBackend, LmdbBackend, lmdbMaxKeyBytes } from '../src/index.js'
import { contextFor, temporaryDirectory } from './helpers.js'

describe('key limits', () => {
  it('maxKeyBytes is the longest key lmdb-js itself accepts', async () => {
    // Asks lmdb-js directly, so that a release that changes its limit fails here.
    const database = open<Uint8Array, Uint8Array>({
      path: await temporaryDirectory(),
      noSubdir: false,
      keyEncoding: 'binary',
      encoding: 'binary',
    })
    try {
      database.putSync(new Uint8Array(lmdbMaxKeyBytes).fill(1), Uint8Array.of(1))
      expect(database.getBinary(new Uint8Array(lmdbMaxKeyBytes).fill(1))).toEqual(Buffer.of(1))
      expect(() => database.putSync(new Uint8Array(lmdbMaxKeyBytes + 1).fill(1), Uint8Array.of(1))).toThrow(
        /maximum key size/,
      )
    } finally {
      await database.close()
    }
    expect(lmdbMaxKeyBytes).toBe(1978)
    const backend = await createLmdbBackend().open(contextFor(await temporaryDirectory()))
    expect(backend.capabilities.maxKeyBytes).toBe(lmdbMaxKeyBytes)
    expect(backend.capabilities.maxValueBytes).toBeUndefined()
    await backend.close()
  })

  it('rejects an empty key with a StoreError, and reads of keys LMDB cannot hold find nothing', async () => {
    const backend = await createLmdbBackend().open(contextFor(await temporaryDirectory()))
    try {
      await expect(async () =>
        backend.write([{ key: new Uint8Array(0), value: Uint8Array.of(1) }]),
      ).rejects.toThrow(StoreError)
      await expect(async () => backend.write([{ key: new Uint8Array(0), value: null }])).rejects.toThrow(
        /cannot hold a key of 0 bytes/,
      )
      expect(await backend.get(new Uint8Array(0))).toBeUndefined()
      expect(await backend.get(new Uint8Array(lmdbMaxKeyBytes + 1))).toBeUndefined()
      expect(await backend.getMany([new Uint8Array(0), Uint8Array.of(1)])).toEqual([undefined, undefined])
    } finally {
      await backend.close()
    }
  })
})

describe('batches', () => {
  it('a batch with one bad key applies none of its writes', async () => {
    const backend = await createLmdbBackend().open(contextFor(await temporaryDirectory()))
    try {
      await backend.write([{ key: Uint8Array.of(1), value: Uint8Array.of(1) }])
      const batch = [
        { key: Uint8Array.of(1), value: null },
        { key: Uint8Array.of(2), value: Uint8Array.of(2) },
        { key: new Uint8Array(lmdbMaxKeyBytes + 1), value: Uint8Array.of(3) },
      ]
      await expect(async () => backend.write(batch)).rejects.toThrow(
        `cannot hold a key of ${lmdbMaxKeyBytes + 1} bytes`,
      )
      expect(await backend.get(Uint8Array.of(1))).toEqual(Buffer.of(1))
      expect(await backend.get(Uint8Array.of(2))).toBeUndefined()
    } finally {
      await backend.close()
    }
  })

  it('close waits for writes still queued, and a second close is harmless', async () => {
    const directory = await temporaryDirectory()
    const backend = await createLmdbBackend().open(contextFor(directory))
    const writes = Array.from({ length: 50 }, (_, index) =>
      backend.write([{ key: Uint8Array.of(index + 1), value: Uint8Array.of(index) }]),
    )
    await Promise.all([backend.close(), backend.close(), ...writes])
    const reopened = LmdbBackend.open(contextFor(directory))
    expect(reopened.approximateCount()).toBe(50)
    await reopened.close()
  })
})
