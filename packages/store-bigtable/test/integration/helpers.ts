// Tables, contexts and a back door for the integration tests: every test file gets tables of its
// own on the shared emulator (BIGTABLE_EMULATOR_HOST), deleted when the file is done.
import { Bigtable } from '@google-cloud/bigtable'
import type { BackendContext, OwnershipToken } from '@kstreams/core'
import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { afterAll } from 'vitest'

process.env.BIGTABLE_EMULATOR_HOST ??= endpoints.bigtableEmulatorHost

export const projectId = 'kstreams-test'
export const instanceId = 'kstreams'
export const family = 'kstreams'

const client = new Bigtable({ projectId, metricsEnabled: false })
const tables: string[] = []

afterAll(async () => {
  for (const tableId of tables.splice(0))
    await client
      .instance(instanceId)
      .table(tableId)
      .delete()
      .catch(() => {})
  await client.close()
})

/** A table id no other test uses (created by the backend through createTable: true), deleted after the file. */
export function testTable(prefix = 'state'): string {
  const tableId = uniqueName(prefix)
  tables.push(tableId)
  return tableId
}

/** Creates `tableId` with `families` directly, as an operator would. */
export async function createTableDirectly(tableId: string, families: string[]): Promise<void> {
  tables.push(tableId)
  await client.instance(instanceId).createTable(tableId, { families })
}

/**
 * The latest cell of `column` in `rowKey`, read with the client's own Table API (not through the
 * backend), or undefined when the row or cell is missing.
 */
export async function readCell(tableId: string, rowKey: Buffer, column = 'v'): Promise<Buffer | undefined> {
  const [rows] = await client
    .instance(instanceId)
    .table(tableId)
    .getRows({ keys: [rowKey as unknown as string], decode: false })
  const cells = rows[0]?.data?.[family]?.[column] as Array<{ value: Buffer | number }> | undefined
  const value = cells?.[0]?.value
  if (value === undefined) return undefined
  // The client turns 8-byte values into numbers; this gives the bytes back.
  if (typeof value === 'number') {
    const bytes = Buffer.alloc(8)
    bytes.writeBigInt64BE(BigInt(value))
    return bytes
  }
  return Buffer.from(value)
}

/** Every row key of `tableId` that starts with `prefix`, as read by the client's Table API. */
export async function rowKeysWithPrefix(tableId: string, prefix: string): Promise<string[]> {
  const [rows] = await client.instance(instanceId).table(tableId).getRows({ prefix, decode: false })
  return rows.map((row) => Buffer.from(row.id as unknown as Buffer).toString('latin1'))
}

/** `<applicationId>/<store>/<partition>/` + key: the layout the README documents, spelled out here. */
export function dataRowKey(applicationId: string, store: string, partition: number, key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${applicationId}/${store}/${partition}/`), key])
}

export function metaRowKey(applicationId: string, store: string, partition: number): Buffer {
  return Buffer.from(`${applicationId}/${store}/${partition}#meta`)
}

export function contextFor(
  overrides: Partial<BackendContext> & { ownership?: OwnershipToken } = {},
): BackendContext {
  const taskId = overrides.taskId ?? '0_3'
  return {
    applicationId: overrides.applicationId ?? uniqueName('app'),
    taskId,
    partition: 3,
    storeName: 'counts',
    directory: '/nonexistent/bigtable-backends-use-no-directory',
    ownership: { taskId, memberId: 'member-a', memberEpoch: 5 },
    ...overrides,
  }
}

export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value)
}
