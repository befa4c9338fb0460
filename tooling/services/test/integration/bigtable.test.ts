import { Bigtable } from '@google-cloud/bigtable'
import { uniqueName } from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'

it('creates a table, writes a row and reads it back in the real Bigtable emulator', async () => {
  // The client finds the emulator through BIGTABLE_EMULATOR_HOST (set by tooling/services/env.sh).
  process.env.BIGTABLE_EMULATOR_HOST ??= '127.0.0.1:8086'
  const bigtable = new Bigtable({ projectId: 'kstreams-test' })
  onTestFinished(async () => {
    await bigtable.close()
  })
  const instance = bigtable.instance('smoke')
  const tableName = uniqueName('smoke')
  const [table] = await instance.createTable(tableName, { families: ['state'] })
  onTestFinished(() => table.delete().then(() => undefined))
  await table.insert([{ key: 'row-1', data: { state: { value: 'hello' } } }])
  const [row] = await table.row('row-1').get()
  expect(row.data.state.value[0].value).toBe('hello')
})
