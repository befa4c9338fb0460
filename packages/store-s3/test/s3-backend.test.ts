import { describe, expect, it } from 'vitest'
import { createS3Backend } from '../src/index.js'

describe('createS3Backend', () => {
  it('is a persistent factory named s3', () => {
    const factory = createS3Backend({ bucket: 'state', clientConfig: { region: 'us-east-1' } })
    expect(factory.name).toBe('s3')
    expect(factory.persistent).toBe(true)
  })

  it('names a missing bucket and a bad engine option', () => {
    expect(() => createS3Backend({ bucket: '' })).toThrow(/option bucket must be a bucket name/)
    const caught = (() => {
      try {
        createS3Backend({ bucket: '' })
      } catch (error) {
        return error
      }
    })()
    expect(caught).toMatchObject({ code: 'KSTREAMS_CONFIG', context: { option: 'bucket' } })
    expect(() => createS3Backend({ bucket: 'state', compactAfterSegments: 0 })).toThrow(
      /compactAfterSegments must be an integer of at least 1, got 0/,
    )
    expect(() => createS3Backend({ bucket: 'state', prefix: 'a/' })).toThrow(
      /prefix must not start or end with "\/"/,
    )
  })
})
