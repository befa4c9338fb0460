import type { CommitPoint } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { decodeManifest, planDeletion, shouldCompact } from '../src/index.js'
import { mergeChangelogs, mergeInputs } from '../src/manifest.js'

const segment = (bytes: number) => ({ name: 'segments/x.seg', bytes, records: 1 })
const thresholds = { afterSegments: 4, afterBytes: 1000 }

describe('compaction plan', () => {
  it('compacts once the segments would reach the count or the bytes', () => {
    expect(shouldCompact({ segments: [segment(10), segment(10)] }, 1, 10, thresholds)).toBe(false)
    expect(shouldCompact({ segments: [segment(10), segment(10), segment(10)] }, 1, 10, thresholds)).toBe(true)
    expect(shouldCompact({ segments: [segment(900)] }, 1, 99, thresholds)).toBe(false)
    expect(shouldCompact({ segments: [segment(900)] }, 1, 100, thresholds)).toBe(true)
  })

  it('deletes superseded objects only after the grace period', () => {
    const first = planDeletion([], ['snapshots/a.snap', 'segments/b.seg'], 1000, 500)
    expect(first.due).toEqual([])
    expect(first.keep.map((entry) => entry.name)).toEqual(['snapshots/a.snap', 'segments/b.seg'])
    const later = planDeletion(first.keep, ['segments/c.seg'], 1499, 500)
    expect(later.due).toEqual([])
    const due = planDeletion(later.keep, [], 1500, 500)
    expect(due.due).toEqual(['snapshots/a.snap', 'segments/b.seg'])
    expect(due.keep.map((entry) => entry.name)).toEqual(['segments/c.seg'])
  })
})

describe('manifest', () => {
  const commitPoint = (offset: bigint, partition = 0): CommitPoint => ({
    taskId: '0_0',
    inputs: [{ topic: 'in', partition, offset, completed: [offset + 2n], streamTime: 5 }],
    changelogs: [{ topic: 'app-counts-changelog', partition, offset: offset * 2n }],
    ownership: { taskId: '0_0', memberId: 'm', memberEpoch: 3 },
  })

  it('keeps the commit point of inputs that did not move', () => {
    const first = mergeInputs([], commitPoint(10n, 0))
    const both = mergeInputs(first, { ...commitPoint(4n, 1) })
    const moved = mergeInputs(both, commitPoint(12n, 0))
    expect(moved).toEqual([
      { topic: 'in', partition: 0, offset: '12', completed: ['14'], streamTime: 5 },
      { topic: 'in', partition: 1, offset: '4', completed: ['6'], streamTime: 5 },
    ])
    expect(mergeChangelogs([], commitPoint(10n))).toEqual([
      { topic: 'app-counts-changelog', partition: 0, offset: '20' },
    ])
    expect(mergeInputs(moved, undefined)).toEqual(moved)
  })

  it('rejects a manifest of another version or with a missing field', () => {
    expect(() => decodeManifest(Buffer.from('{"formatVersion":2}'))).toThrow(/format version 2/)
    expect(() => decodeManifest(Buffer.from('{"formatVersion":1,"id":"x"}'))).toThrow(/missing/)
    expect(() => decodeManifest(Buffer.from('not json'))).toThrow(/not JSON/)
  })
})
