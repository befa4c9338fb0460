// Bigtable away at commit: a private emulator on another port (its own services directory), paused
// with SIGSTOP (requests hang until their deadline) and stopped (connections refused). The shared
// emulator the other tests use is never touched.
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Bigtable } from '@google-cloud/bigtable'
import { type CommitPoint, type StoreBackend, StoreError } from '@kstreams/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBigtableBackend } from '../../src/index.js'
import { contextFor, dataRowKey, instanceId, metaRowKey, projectId, text } from './helpers.js'

const script = fileURLToPath(new URL('../../../../tooling/services/bigtable.sh', import.meta.url))
const port = Number(process.env.KSTREAMS_TEST_BIGTABLE_OUTAGE_PORT ?? 18086)
const endpoint = `127.0.0.1:${port}`
let servicesDir: string
let client: Bigtable

function service(command: 'start' | 'stop'): void {
  execFileSync('bash', [script, command], {
    env: { ...process.env, BIGTABLE_PORT: String(port), KSTREAMS_SERVICES_DIR: servicesDir },
    stdio: 'inherit',
  })
}

async function emulatorPid(): Promise<number> {
  return Number((await readFile(join(servicesDir, 'bigtable', 'bigtable.pid'), 'utf8')).trim())
}

beforeAll(async () => {
  servicesDir = await mkdtemp(join(tmpdir(), 'kstreams-bigtable-outage-'))
  service('start')
  client = new Bigtable({ projectId, apiEndpoint: endpoint, metricsEnabled: false })
})

afterAll(async () => {
  await client?.close()
  // SIGCONT first, in case a failed test left it paused: a stopped process ignores SIGTERM.
  await emulatorPid()
    .then((pid) => process.kill(pid, 'SIGCONT'))
    .catch(() => {})
  service('stop')
  await rm(servicesDir, { recursive: true, force: true })
})

async function stored(tableId: string, rowKey: Buffer, column = 'v'): Promise<string | undefined> {
  const [rows] = await client
    .instance(instanceId)
    .table(tableId)
    .getRows({ keys: [rowKey as unknown as string], decode: false })
  const value = rows[0]?.data?.kstreams?.[column]?.[0]?.value as Buffer | undefined
  return value === undefined ? undefined : Buffer.from(value).toString()
}

async function flushError(backend: StoreBackend, commitPoint: CommitPoint): Promise<StoreError> {
  const error = await Promise.resolve(backend.flush(commitPoint)).then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(StoreError)
  return error as StoreError
}

describe('Bigtable unreachable at flush', () => {
  it('fails the flush with a retriable StoreError, keeps the writes, and flushes them once Bigtable is back', async () => {
    const tableId = 'outage'
    const factory = createBigtableBackend({
      projectId,
      instanceId,
      tableId,
      createTable: true,
      requestTimeoutMs: 1000,
      clientOptions: { apiEndpoint: endpoint },
    })
    const context = contextFor()
    const commitPoint = (offset: bigint): CommitPoint => ({
      taskId: context.taskId,
      inputs: [{ topic: 'input', partition: 3, offset, completed: [], streamTime: 0 }],
      changelogs: [],
      ownership: context.ownership,
    })
    const backend = await factory.open(context)
    try {
      await backend.write([{ key: text('before'), value: text('1') }])
      await backend.flush(commitPoint(1n))
      await backend.write([
        { key: text('during'), value: text('2') },
        { key: text('before'), value: null },
      ])

      // Paused: the requests hang until their deadline.
      const pid = await emulatorPid()
      process.kill(pid, 'SIGSTOP')
      const started = Date.now()
      let error: StoreError
      try {
        error = await flushError(backend, commitPoint(2n))
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      const failedAfterMs = Date.now() - started
      expect(error.retriable).toBe(true)
      expect(error.message).toContain('Bigtable store "counts" of task 0_3')
      expect(error.message).toMatch(
        /flush of row "[^"]+\/counts\/3#meta" failed \(Bigtable unreachable or busy; retriable\)/,
      )
      expect(error.context).toMatchObject({ store: 'counts', taskId: '0_3', operation: 'flush' })
      // The writes are still there for reads and for the next flush; the table has the old state.
      expect(Buffer.from((await backend.get(text('during')))!).toString()).toBe('2')
      expect(await backend.get(text('before'))).toBeUndefined()
      const row = (key: string) => dataRowKey(context.applicationId, 'counts', 3, text(key))
      expect(await stored(tableId, row('before'))).toBe('1')
      expect(await stored(tableId, row('during'))).toBeUndefined()

      // Back: the next flush writes everything, and the commit point with it.
      await backend.flush(commitPoint(2n))
      expect(await stored(tableId, row('during'))).toBe('2')
      expect(await stored(tableId, row('before'))).toBeUndefined()
      const meta = await stored(tableId, metaRowKey(context.applicationId, 'counts', 3), 'commit')
      expect(JSON.parse(meta!).inputs[0].offset).toBe('2')

      // Stopped: connections are refused, the flush fails as retriable again.
      await backend.write([{ key: text('after'), value: text('3') }])
      service('stop')
      const refused = await flushError(backend, commitPoint(3n))
      expect(refused.retriable).toBe(true)
      expect(refused.context).toMatchObject({ operation: 'flush' })
      expect(Buffer.from((await backend.get(text('after')))!).toString()).toBe('3')
      console.info(
        `outage: a paused Bigtable failed the flush after ${failedAfterMs} ms (requestTimeoutMs 1000); a stopped one with: ${refused.message}`,
      )
    } finally {
      await backend.close()
    }
  })
})
