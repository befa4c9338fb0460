import { ConfigError } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { createBigtableBackend } from '../src/index.js'

const base = { projectId: 'p', instanceId: 'i', tableId: 't' }

describe('createBigtableBackend options', () => {
  it('names a missing or malformed option', () => {
    // @ts-expect-error tableId is required
    expect(() => createBigtableBackend({ projectId: 'p', instanceId: 'i' })).toThrow(
      /"tableId" must be a non-empty string/,
    )
    expect(() => createBigtableBackend({ ...base, tableId: 'a table' })).toThrow(/"tableId" is "a table"/)
    expect(() => createBigtableBackend({ ...base, columnFamily: 'a:b' })).toThrow(/"columnFamily" is "a:b"/)
    expect(() => createBigtableBackend({ ...base, maxBufferedBytes: 0 })).toThrow(
      /"maxBufferedBytes" must be a positive integer/,
    )
    // @ts-expect-error an unknown option
    expect(() => createBigtableBackend({ ...base, tableName: 'x' })).toThrow(/unknown option "tableName"/)
    try {
      createBigtableBackend({ ...base, scanPageSize: 1.5 })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).context.option).toBe('scanPageSize')
    }
  })

  it('is a persistent factory named bigtable', () => {
    const factory = createBigtableBackend(base)
    expect(factory.name).toBe('bigtable')
    expect(factory.persistent).toBe(true)
  })
})
