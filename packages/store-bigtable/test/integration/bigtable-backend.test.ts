import {
  type BackendContext,
  type CommitPoint,
  FencedError,
  type StoreBackend,
  StoreError,
} from '@kstreams/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { type BigtableBackendOptions, createBigtableBackend } from '../../src/index.js'
import {
  contextFor,
  createTableDirectly,
  dataRowKey,
  family,
  instanceId,
  metaRowKey,
  projectId,
  readCell,
  rowKeysWithPrefix,
  testTable,
  text,
} from './helpers.js'

const tableId = testTable('backend')
const options: BigtableBackendOptions = {
  projectId,
  instanceId,
  tableId,
  columnFamily: family,
  createTable: true,
}
const factory = createBigtableBackend(options)

async function open(context: BackendContext, using = factory): Promise<StoreBackend> {
  const backend = await using.open(context)
  onTestFinished(() => backend.close())
  return backend
}

function commitPointFor(context: BackendContext, offset: bigint, changelogOffset?: bigint): CommitPoint {
  return {
    taskId: context.taskId,
    inputs: [
      { topic: 'input', partition: context.partition, offset, completed: [offset + 2n], streamTime: 1000 },
    ],
    changelogs:
      changelogOffset === undefined
        ? []
        : [{ topic: context.changelogTopic!, partition: context.partition, offset: changelogOffset }],
    ownership: context.ownership,
  }
}

const rowOf = (context: BackendContext, key: string) =>
  dataRowKey(context.applicationId, context.storeName, context.partition, text(key))
const hex = (value: Uint8Array | undefined) =>
  value === undefined ? 'missing' : Buffer.from(value).toString()

async function keysOf(backend: StoreBackend, reverse = false): Promise<string[]> {
  const keys: string[] = []
  for await (const { key } of backend.range({ reverse })) keys.push(Buffer.from(key).toString())
  return keys
}

describe('Bigtable backend on the emulator', () => {
  it('buffers writes until flush; reads see them merged over the stored rows', async () => {
    const context = contextFor()
    const backend = await open(context)
    await backend.write([
      { key: text('a'), value: text('1') },
      { key: text('b'), value: text('2') },
      { key: text('c'), value: text('3') },
    ])
    // Nothing is in the table before the flush.
    expect(await readCell(tableId, rowOf(context, 'a'))).toBeUndefined()
    expect(hex(await backend.get(text('a')))).toBe('1')
    await backend.flush(commitPointFor(context, 10n))
    expect(hex(await readCell(tableId, rowOf(context, 'a')))).toBe('1')
    expect(hex(await readCell(tableId, rowOf(context, 'c')))).toBe('3')

    // Unflushed changes over stored rows: an overwrite, a delete and a new key.
    await backend.write([
      { key: text('a'), value: text('1 again') },
      { key: text('b'), value: null },
      { key: text('d'), value: text('4') },
    ])
    expect(hex(await backend.get(text('a')))).toBe('1 again')
    expect(await backend.get(text('b'))).toBeUndefined()
    expect((await backend.getMany([text('b'), text('c'), text('d'), text('a')])).map(hex)).toEqual([
      'missing',
      '3',
      '4',
      '1 again',
    ])
    expect(await keysOf(backend)).toEqual(['a', 'c', 'd'])
    expect(await keysOf(backend, true)).toEqual(['d', 'c', 'a'])
    expect(await backend.approximateCount()).toBe(3)
    // The table still holds the flushed state.
    expect(hex(await readCell(tableId, rowOf(context, 'b')))).toBe('2')
    expect(await readCell(tableId, rowOf(context, 'd'))).toBeUndefined()

    await backend.flush(commitPointFor(context, 20n))
    expect(await readCell(tableId, rowOf(context, 'b'))).toBeUndefined()
    expect(hex(await readCell(tableId, rowOf(context, 'd')))).toBe('4')
    expect(hex(await readCell(tableId, rowOf(context, 'a')))).toBe('1 again')
  })

  it('flush writes the data rows and a meta row with the commit point and the owner; a reopen reads the changelog checkpoint', async () => {
    const context = contextFor({ changelogTopic: 'app-counts-changelog' })
    const backend = await open(context)
    await backend.write([{ key: text('k'), value: text('v') }])
    await backend.flush(commitPointFor(context, 41n, 77n))
    const meta = metaRowKey(context.applicationId, context.storeName, context.partition)
    const owner = JSON.parse((await readCell(tableId, meta, 'owner'))!.toString())
    expect(owner).toEqual({ taskId: '0_3', memberId: 'member-a', memberEpoch: 5 })
    const commit = JSON.parse((await readCell(tableId, meta, 'commit'))!.toString())
    expect(commit).toMatchObject({
      v: 1,
      taskId: '0_3',
      inputs: [{ topic: 'input', partition: 3, offset: '41', completed: ['43'], streamTime: 1000 }],
      changelogs: [{ topic: 'app-counts-changelog', partition: 3, offset: '77' }],
      ownership: { taskId: '0_3', memberId: 'member-a', memberEpoch: 5 },
    })
    expect(backend.changelogCheckpoint?.()).toBe(77n)
    await backend.close()

    // A new owner on another host reads where the stored state stands in the changelog.
    const successor = await open({
      ...context,
      ownership: { ...context.ownership, memberId: 'member-b', memberEpoch: 6 },
    })
    expect(await successor.changelogCheckpoint?.()).toBe(77n)
    expect(hex(await successor.get(text('k')))).toBe('v')
    // Without a changelog (logging: false) there is no checkpoint to report.
    const unlogged = await open(contextFor())
    expect(await unlogged.changelogCheckpoint?.()).toBeUndefined()
  })

  it('refuses to open for an owner older than the one in the meta row, naming both tokens', async () => {
    const context = contextFor()
    const newer = await open({
      ...context,
      ownership: { ...context.ownership, memberId: 'member-b', memberEpoch: 8 },
    })
    await newer.write([{ key: text('k'), value: text('newer') }])
    await newer.flush(commitPointFor(context, 5n))
    const error = await Promise.resolve(factory.open(context)).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(FencedError)
    const fenced = error as FencedError
    expect(fenced.code).toBe('KSTREAMS_FENCED')
    expect(fenced.message).toContain('store "counts" of task 0_3')
    expect(fenced.message).toContain('member "member-b" epoch 8')
    expect(fenced.message).toContain('member "member-a" epoch 5')
    expect(fenced.context).toMatchObject({ store: 'counts', taskId: '0_3', operation: 'open' })
    // Another member with the same epoch is not the owner either.
    await expect(
      factory.open({ ...context, ownership: { ...context.ownership, memberId: 'member-c', memberEpoch: 8 } }),
    ).rejects.toBeInstanceOf(FencedError)
    // The owner itself reopens (a restart with the same token), and a newer one takes over.
    await open({ ...context, ownership: { ...context.ownership, memberId: 'member-b', memberEpoch: 8 } })
    const newest = await open({
      ...context,
      ownership: { ...context.ownership, memberId: 'member-a', memberEpoch: 9 },
    })
    expect(hex(await newest.get(text('k')))).toBe('newer')
  })

  it('fences a zombie at flush once a newer owner opened: its data rows and its commit point are refused', async () => {
    const context = contextFor()
    const zombie = await open(context)
    await zombie.write([{ key: text('k'), value: text('old owner') }])
    await zombie.flush(commitPointFor(context, 1n))
    await zombie.write([{ key: text('k'), value: text('zombie write') }])

    const successor = await open({
      ...context,
      ownership: { ...context.ownership, memberId: 'member-b', memberEpoch: 6 },
    })
    const error = await Promise.resolve(zombie.flush(commitPointFor(context, 2n))).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(FencedError)
    expect((error as FencedError).message).toMatch(
      /flush refused.*member "member-b" epoch 6.*member "member-a" epoch 5/,
    )
    expect((error as FencedError).context).toMatchObject({
      operation: 'flush',
      taskId: '0_3',
      store: 'counts',
    })
    expect(hex(await readCell(tableId, rowOf(context, 'k')))).toBe('old owner')
    // A flush with only a commit point goes straight to the conditional meta write, refused as well.
    const commitOnly = await Promise.resolve(zombie.flush(commitPointFor(context, 3n))).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(commitOnly).toBeInstanceOf(FencedError)
    const meta = metaRowKey(context.applicationId, context.storeName, context.partition)
    expect(JSON.parse((await readCell(tableId, meta, 'commit'))!.toString()).inputs[0].offset).toBe('1')
    // The successor writes and flushes as the owner.
    await successor.write([{ key: text('k'), value: text('new owner') }])
    await successor.flush(commitPointFor(context, 2n))
    expect(hex(await readCell(tableId, rowOf(context, 'k')))).toBe('new owner')
  })

  it('bounds the buffer: past maxBufferedBytes a write puts the rows in the table before the commit, fenced like a flush', async () => {
    const small = createBigtableBackend({ ...options, maxBufferedBytes: 4096 })
    const context = contextFor()
    const backend = await open(context, small)
    const value = new Uint8Array(1000).fill(0x61)
    await backend.write([{ key: text('first'), value }])
    // Below the bound: buffered only.
    expect(await readCell(tableId, rowOf(context, 'first'))).toBeUndefined()
    await backend.write([1, 2, 3, 4].map((index) => ({ key: text(`key-${index}`), value })))
    // Past it: the write resolved once the rows were in the table, with no commit point yet.
    expect((await readCell(tableId, rowOf(context, 'first')))?.length).toBe(1000)
    expect((await readCell(tableId, rowOf(context, 'key-4')))?.length).toBe(1000)
    const meta = metaRowKey(context.applicationId, context.storeName, context.partition)
    expect(await readCell(tableId, meta, 'commit')).toBeUndefined()

    // A zombie past the bound is refused before it writes a row.
    await open({ ...context, ownership: { ...context.ownership, memberId: 'member-b', memberEpoch: 6 } })
    const error = await Promise.resolve(
      backend.write([1, 2, 3, 4, 5].map((index) => ({ key: text(`zombie-${index}`), value }))),
    ).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(FencedError)
    expect((error as FencedError).context).toMatchObject({
      operation: 'write',
      store: 'counts',
      taskId: '0_3',
    })
    expect(await readCell(tableId, rowOf(context, 'zombie-1'))).toBeUndefined()
  })

  it('keeps applications, stores and partitions apart, even with "/" in their names', async () => {
    const shared = {
      partition: 1,
      taskId: '0_1',
      ownership: { taskId: '0_1', memberId: 'm', memberEpoch: 1 },
    }
    const contexts = [
      contextFor({ ...shared, applicationId: 'x/y', storeName: 'z' }),
      contextFor({ ...shared, applicationId: 'x', storeName: 'y/z' }),
      contextFor({ ...shared, applicationId: 'x', storeName: 'y' }),
      contextFor({ ...shared, applicationId: 'x', storeName: 'y', partition: 10 }),
    ]
    const backends = await Promise.all(contexts.map((context) => open(context)))
    await Promise.all(
      backends.map(async (backend, index) => {
        await backend.write([
          { key: text('/z/1/k'), value: text(`value ${index}`) },
          { key: text('k'), value: text(`${index}`) },
        ])
        await backend.flush()
      }),
    )
    for (const [index, backend] of backends.entries()) {
      expect(await keysOf(backend)).toEqual(['/z/1/k', 'k'])
      expect(hex(await backend.get(text('k')))).toBe(`${index}`)
    }
    expect(await rowKeysWithPrefix(tableId, 'x/')).toEqual(
      expect.arrayContaining(['x/y/1/k', 'x/y/10/k', 'x/y%2Fz/1/k', 'x/y/1//z/1/k']),
    )
    expect(await rowKeysWithPrefix(tableId, 'x%2Fy/z/1/')).toEqual(['x%2Fy/z/1//z/1/k', 'x%2Fy/z/1/k'])
  })

  it('names the missing table or column family when createTable is off, and creates them when it is on', async () => {
    const missing = testTable('missing')
    const strict = createBigtableBackend({ projectId, instanceId, tableId: missing })
    const error = await Promise.resolve(strict.open(contextFor())).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(StoreError)
    expect((error as StoreError).message).toContain(
      `table "${missing}" does not exist in instance "${instanceId}"`,
    )
    expect((error as StoreError).message).toContain('column family "kstreams"')
    expect((error as StoreError).retriable).toBe(false)

    const withoutFamily = testTable('no-family')
    await createTableDirectly(withoutFamily, ['other'])
    const noFamily = createBigtableBackend({
      projectId,
      instanceId,
      tableId: withoutFamily,
      columnFamily: 'state',
    })
    await expect(noFamily.open(contextFor())).rejects.toThrow(
      `table "${withoutFamily}" of instance "${instanceId}" has no column family "state" (it has: other`,
    )
    const creating = createBigtableBackend({
      projectId,
      instanceId,
      tableId: withoutFamily,
      columnFamily: 'state',
      createTable: true,
    })
    const backend = await open(contextFor(), creating)
    await backend.write([{ key: text('k'), value: text('v') }])
    await backend.flush()
    expect(hex(await backend.get(text('k')))).toBe('v')
  })
})
