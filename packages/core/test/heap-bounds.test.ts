// `maxSemiSpaceSizeMb` and `heapGrowingPercent`: the bounds on V8's heap hold while an app runs.
// Each is measured in a child process of its own, since V8's flags are process-wide.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { growthFactor, type HeapBounds, sizedByFlags } from '../src/runtime/heap-bounds.js'

const MiB = 1024 * 1024
/** The limiter's source, which the child imports (Node strips its types). */
const limiterUrl = JSON.stringify(new URL('../src/runtime/heap-bounds.ts', import.meta.url).href)

/**
 * Keeps 200,000 small objects alive in a ring and replaces 10,000 of them per event-loop turn
 * (as a stream processor's buffered records and cached values live across collections), and
 * prints the median of the semi-space's and the old space's sizes after each turn, and the
 * largest semi-space. Left to V8, this grows the semi-spaces to the top and the old space to
 * several times what is live.
 */
const workload = `
const { getHeapSpaceStatistics } = await import('node:v8')
const { boundHeap, semiSpaceBytes } = await import(${limiterUrl})
const release = boundHeap(JSON.parse(process.argv[1]))
const semi = []
const old = []
const live = new Array(200_000)
for (let turn = 0; turn < 1000; turn++) {
  for (let i = 0; i < 10_000; i++) live[(turn * 10_000 + i) % live.length] = { i, text: 'v' + i, pair: [i, turn] }
  await new Promise((resolve) => setImmediate(resolve))
  semi.push(semiSpaceBytes())
  old.push(getHeapSpaceStatistics().find((space) => space.space_name === 'old_space').space_size)
}
release()
const median = (sizes) => sizes.sort((a, b) => a - b)[sizes.length >> 1]
console.log(JSON.stringify({ semiSpace: median(semi), largestSemiSpace: Math.max(...semi), oldSpace: median(old) }))
`

interface Sizes {
  semiSpace: number
  largestSemiSpace: number
  oldSpace: number
}

async function heapSizes(bounds: HeapBounds): Promise<Sizes> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '--eval', workload, JSON.stringify(bounds)],
    { env: { ...process.env, NODE_OPTIONS: '' } },
  )
  return JSON.parse(stdout) as Sizes
}

describe('boundHeap', () => {
  it('keeps a semi-space at its bound and the old space nearer what is live', async () => {
    const [unbounded, semiBounded, growthBounded] = await Promise.all([
      heapSizes({ maxSemiSpaceSizeMb: 0, heapGrowingPercent: 0 }),
      heapSizes({ maxSemiSpaceSizeMb: 8, heapGrowingPercent: 0 }),
      heapSizes({ maxSemiSpaceSizeMb: 0, heapGrowingPercent: 25 }),
    ])
    // The workload does grow an unbounded young generation to the top (64 MiB on Node 24)...
    expect(unbounded.semiSpace).toBeGreaterThan(32 * MiB)
    // ...and the bound holds it there. For a few turns at a time V8 counts a semi-space larger
    // (pages it promotes whole, then gives back), so the median shows the size it keeps.
    expect(semiBounded.semiSpace).toBeLessThanOrEqual(8 * MiB)
    expect(semiBounded.largestSemiSpace).toBeLessThan(unbounded.semiSpace)
    // The old generation, let grow 25% past what survived, stays well below V8's own choice
    // (about 130 MiB against 55 here), and the young generation is V8's own again.
    expect(growthBounded.oldSpace).toBeLessThan(unbounded.oldSpace * 0.7)
    expect(growthBounded.semiSpace).toBeGreaterThan(32 * MiB)
  }, 60_000)

  it('grows a semi-space in one step to the bound and then not at all', () => {
    expect(growthFactor(1 * MiB, 16 * MiB)).toBe(16)
    expect(growthFactor(4 * MiB, 16 * MiB)).toBe(4)
    expect(growthFactor(5 * MiB, 16 * MiB)).toBe(3)
    expect(growthFactor(8 * MiB, 16 * MiB)).toBe(2)
    expect(growthFactor(9 * MiB, 16 * MiB)).toBe(1)
    expect(growthFactor(16 * MiB, 16 * MiB)).toBe(1)
    expect(growthFactor(64 * MiB, 16 * MiB)).toBe(1)
    expect(growthFactor(0, 16 * MiB)).toBe(1)
  })

  it("leaves to the process's own flags or NODE_OPTIONS the parts of the heap they size", () => {
    expect(sizedByFlags([], '')).toEqual({ semiSpace: false, growing: false })
    expect(sizedByFlags(['--enable-source-maps'], '--trace-warnings')).toEqual({
      semiSpace: false,
      growing: false,
    })
    expect(sizedByFlags(['--max-semi-space-size=32'], '')).toEqual({ semiSpace: true, growing: false })
    expect(sizedByFlags(['--max_semi_space_size=32'], undefined).semiSpace).toBe(true)
    expect(sizedByFlags(['--max-heap-size=512'], '').semiSpace).toBe(true)
    expect(sizedByFlags([], '--max-old-space-size=4096 --semi-space-growth-factor=4').semiSpace).toBe(true)
    expect(sizedByFlags([], '--heap-growing-percent=50')).toEqual({ semiSpace: false, growing: true })
  })
})
