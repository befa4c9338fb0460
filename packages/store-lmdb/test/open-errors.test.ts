import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreError } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { createLmdbBackend } from '../src/index.js'
import { contextFor, temporaryDirectory } from './helpers.js'

/** Opens the directory and returns the error, checking it is a StoreError that says where. */
async function openError(directory: string): Promise<StoreError> {
  let caught: unknown
  try {
    const backend = await createLmdbBackend().open(contextFor(directory))
    await backend.close()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(StoreError)
  const error = caught as StoreError
  expect(error.code).toBe('KSTREAMS_STORE')
  expect(error.message).toContain('"counts"')
  expect(error.message).toContain('task 1_3')
  expect(error.message).toContain(directory)
  expect(error.context).toMatchObject({ store: 'counts', taskId: '1_3', directory })
  expect(error.cause).toBeInstanceOf(Error)
  return error
}

/** A directory holding a valid environment with one key, closed again; returns its data file. */
async function validEnvironment(): Promise<{ directory: string; dataFile: string }> {
  const directory = await temporaryDirectory()
  const backend = await createLmdbBackend().open(contextFor(directory))
  await backend.write([{ key: Uint8Array.of(1), value: Uint8Array.of(2) }])
  await backend.close()
  return { directory, dataFile: join(directory, 'data.mdb') }
}

describe('opening a damaged data file gives a StoreError instead of crashing the process', () => {
  it('garbage text', async () => {
    const directory = await temporaryDirectory()
    await writeFile(join(directory, 'data.mdb'), 'this is not an LMDB file\n'.repeat(400))
    const error = await openError(directory)
    expect(error.message).toMatch(
      /data file is damaged \(the first page of data.mdb is not an LMDB meta page\)/,
    )
  })

  it('zeros', async () => {
    const directory = await temporaryDirectory()
    await writeFile(join(directory, 'data.mdb'), Buffer.alloc(16_384))
    expect((await openError(directory)).message).toMatch(/not an LMDB meta page/)
  })

  it('a file shorter than a header', async () => {
    const directory = await temporaryDirectory()
    await writeFile(join(directory, 'data.mdb'), Buffer.alloc(40, 0x08))
    expect((await openError(directory)).message).toMatch(/has 40 bytes, too few for an LMDB header/)
  })

  it('a meta page without the magic number', async () => {
    const { directory, dataFile } = await validEnvironment()
    const content = await readFile(dataFile)
    content.writeUInt32LE(0x12345678, 24)
    await writeFile(dataFile, content)
    expect((await openError(directory)).message).toMatch(/does not start with the LMDB magic number/)
  })

  it('another data format version', async () => {
    const { directory, dataFile } = await validEnvironment()
    const content = await readFile(dataFile)
    content.writeUInt32LE(1, 28)
    await writeFile(dataFile, content)
    expect((await openError(directory)).message).toMatch(/LMDB data format 1, this lmdb build reads format 2/)
  })

  it('an impossible page size', async () => {
    const { directory, dataFile } = await validEnvironment()
    const content = await readFile(dataFile)
    content.writeUInt32LE(3000, 48)
    await writeFile(dataFile, content)
    expect((await openError(directory)).message).toMatch(/declares a page size of 3000 bytes/)
  })

  it('a file cut after its first page', async () => {
    const { directory, dataFile } = await validEnvironment()
    const content = await readFile(dataFile)
    await writeFile(dataFile, content.subarray(0, 4096))
    expect((await openError(directory)).message).toMatch(/fewer than its two meta pages/)
  })

  it('an untouched file still opens, and an empty data file is a new store', async () => {
    const { directory } = await validEnvironment()
    const backend = await createLmdbBackend().open(contextFor(directory))
    expect(await backend.get(Uint8Array.of(1))).toEqual(Buffer.of(2))
    await backend.close()

    const empty = await temporaryDirectory()
    await writeFile(join(empty, 'data.mdb'), '')
    const fresh = await createLmdbBackend().open(contextFor(empty))
    expect(await fresh.approximateCount()).toBe(0)
    await fresh.close()
  })
})

describe('other open failures', () => {
  it('a directory that is a regular file', async () => {
    const parent = await temporaryDirectory()
    const file = join(parent, 'not-a-directory')
    await writeFile(file, 'x')
    const error = await openError(file)
    expect((error.cause as Error).message).toMatch(/not a directory/i)
  })

  it.skipIf(process.getuid?.() === 0)('a directory it may not write to (needs a non-root user)', async () => {
    const parent = await temporaryDirectory()
    const directory = join(parent, 'read-only')
    await mkdir(directory, { mode: 0o555 })
    const error = await openError(directory)
    expect((error.cause as Error).message).toMatch(/Permission denied/)
  })

  it('opens a directory whose name has a dot as a directory', async () => {
    const parent = await temporaryDirectory()
    const directory = join(parent, 'counts.v2')
    await mkdir(directory)
    const backend = await createLmdbBackend().open(contextFor(directory))
    await backend.write([{ key: Uint8Array.of(1), value: Uint8Array.of(2) }])
    await backend.close()
    expect((await readFile(join(directory, 'data.mdb'))).length).toBeGreaterThan(0)
  })
})
