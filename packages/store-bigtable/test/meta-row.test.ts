import type { CommitPoint } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { parseRows } from '../src/bigtable-table.js'
import {
  decodeCommitPoint,
  decodeOwner,
  encodeCommitPoint,
  encodeOwner,
  mayClaim,
  mergeCommitPoint,
} from '../src/meta-row.js'

const token = (memberId: string, memberEpoch: number) => ({ taskId: '0_1', memberId, memberEpoch })

describe('meta row', () => {
  it('encodes a token to the same bytes every time, and back', () => {
    const encoded = encodeOwner({ memberEpoch: 3, memberId: 'm', taskId: '0_1' })
    expect(encoded.toString()).toBe('{"taskId":"0_1","memberId":"m","memberEpoch":3}')
    expect(encodeOwner(token('m', 3)).equals(encoded)).toBe(true)
    expect(decodeOwner(encoded)).toEqual(token('m', 3))
    expect(decodeOwner(Buffer.from('not json'))).toBeUndefined()
    expect(decodeOwner(Buffer.from('{"taskId":"0_1"}'))).toBeUndefined()
  })

  it('lets the same owner or a newer epoch claim, never an older epoch or another member of the same epoch', () => {
    expect(mayClaim(token('a', 4), token('b', 5))).toBe(true)
    expect(mayClaim(token('a', 5), token('a', 5))).toBe(true)
    expect(mayClaim(token('a', 5), token('b', 5))).toBe(false)
    expect(mayClaim(token('a', 6), token('a', 5))).toBe(false)
  })

  it('stores a commit point with int64 offsets as decimal strings', () => {
    const commitPoint: CommitPoint = {
      taskId: '0_1',
      inputs: [
        {
          topic: 'in',
          partition: 1,
          offset: 9007199254740993n,
          completed: [9007199254740995n],
          streamTime: 17,
        },
      ],
      changelogs: [{ topic: 'app-counts-changelog', partition: 1, offset: 42n }],
      ownership: token('a', 5),
    }
    const stored = decodeCommitPoint(encodeCommitPoint(mergeCommitPoint(undefined, commitPoint, new Date(0))))
    expect(stored).toEqual({
      v: 1,
      taskId: '0_1',
      inputs: [
        {
          topic: 'in',
          partition: 1,
          offset: '9007199254740993',
          completed: ['9007199254740995'],
          streamTime: 17,
        },
      ],
      changelogs: [{ topic: 'app-counts-changelog', partition: 1, offset: '42' }],
      ownership: token('a', 5),
      flushedAt: '1970-01-01T00:00:00.000Z',
    })
    expect(decodeCommitPoint(Buffer.from('{"v":2}'))).toBeUndefined()
  })

  it('keeps the stored offsets of partitions a commit point does not list (no progress since the last commit)', () => {
    const first = mergeCommitPoint(
      undefined,
      {
        taskId: '0_1',
        inputs: [
          { topic: 'a', partition: 1, offset: 10n, completed: [], streamTime: 1 },
          { topic: 'b', partition: 1, offset: 20n, completed: [], streamTime: 1 },
        ],
        changelogs: [{ topic: 'c', partition: 1, offset: 5n }],
        ownership: token('a', 5),
      },
      new Date(0),
    )
    const second = mergeCommitPoint(
      first,
      {
        taskId: '0_1',
        inputs: [{ topic: 'b', partition: 1, offset: 25n, completed: [], streamTime: 2 }],
        changelogs: [],
        ownership: token('a', 5),
      },
      new Date(1),
    )
    expect(second.inputs.map((input) => [input.topic, input.offset])).toEqual([
      ['a', '10'],
      ['b', '25'],
    ])
    expect(second.changelogs).toEqual([{ topic: 'c', partition: 1, offset: '5' }])
  })
})

describe('ReadRows chunks', () => {
  it('puts split values back together, drops reset rows and reads several cells of a row', () => {
    const family = { value: 'f' }
    const rows = parseRows([
      {
        chunks: [
          {
            rowKey: Buffer.from('a'),
            familyName: family,
            qualifier: { value: Buffer.from('v') },
            value: Buffer.from('he'),
            valueSize: 5,
          },
          { value: Buffer.from('ll'), valueSize: 5 },
          { value: Buffer.from('o'), valueSize: 0, commitRow: true },
          {
            rowKey: Buffer.from('b'),
            familyName: family,
            qualifier: { value: Buffer.from('v') },
            value: Buffer.from('x'),
          },
          { resetRow: true },
        ],
      },
      {
        chunks: [
          {
            rowKey: Buffer.from('b'),
            familyName: family,
            qualifier: { value: Buffer.from('commit') },
            value: Buffer.from('1'),
          },
          { qualifier: { value: Buffer.from('owner') }, value: Buffer.from(''), commitRow: true },
        ],
      },
    ])
    expect(
      rows.map((row) => [
        row.key.toString(),
        Object.fromEntries([...row.cells].map(([name, value]) => [name, value.toString()])),
      ]),
    ).toEqual([
      ['a', { v: 'hello' }],
      ['b', { commit: '1', owner: '' }],
    ])
  })
})
