import { describe, expect, it } from 'vitest'
import { createGcsBackend } from '../src/index.js'

describe('createGcsBackend', () => {
  it('is a persistent factory named gcs', () => {
    const factory = createGcsBackend({ bucket: 'state', storageOptions: { projectId: 'p' } })
    expect(factory.name).toBe('gcs')
    expect(factory.persistent).toBe(true)
  })

  it('names a missing bucket and a bad engine option', () => {
    expect(() => createGcsBackend({ bucket: '' })).toThrow(/option bucket must be a bucket name/)
    const caught = (() => {
      try {
        createGcsBackend({ bucket: '' })
      } catch (error) {
        return error
      }
    })()
    expect(caught).toMatchObject({ code: 'KSTREAMS_CONFIG', context: { option: 'bucket' } })
    expect(() => createGcsBackend({ bucket: 'state', downloadPartBytes: 1.5 })).toThrow(
      /downloadPartBytes must be an integer of at least 1, got 1.5/,
    )
  })
})
