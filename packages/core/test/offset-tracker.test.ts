import fc from 'fast-check'
import { expect, it } from 'vitest'
import { encodeCompleted, encodeCompletedBits } from '../src/runtime/commit-metadata.js'
import { OffsetTracker } from '../src/runtime/offset-tracker.js'

it('commits up to the lowest offset still in flight', () => {
  const tracker = new OffsetTracker()
  for (const offset of [10n, 11n, 12n]) tracker.begin(offset)
  tracker.complete(11n)
  // Nothing below 10 done yet, but 11 is: the same offset with 11 in the completed-offset map.
  expect(tracker.committable()).toBe(10n)
  expect(tracker.completedAbove()).toEqual([11n])
  tracker.complete(10n)
  expect(tracker.committable()).toBe(12n)
  tracker.markCommitted(12n)
  expect(tracker.committable()).toBeUndefined()
  tracker.complete(12n)
  expect(tracker.committable()).toBe(13n)
})

it('never passes an incomplete offset, whatever the completion order', () => {
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 40 })
        .chain((count) =>
          fc.tuple(
            fc.constant(count),
            fc.shuffledSubarray([...Array(count).keys()], { minLength: count, maxLength: count }),
          ),
        ),
      ([count, order]) => {
        const tracker = new OffsetTracker()
        for (let offset = 0; offset < count; offset += 1) tracker.begin(BigInt(offset))
        const done = new Set<number>()
        for (const offset of order) {
          tracker.complete(BigInt(offset))
          done.add(offset)
          let lowestIncomplete = 0
          while (done.has(lowestIncomplete)) lowestIncomplete += 1
          const committable = tracker.committable()
          expect(committable === undefined ? 0 : Number(committable)).toBe(lowestIncomplete)
          // The runs it counts, and its cheap size bound, match the done offsets above.
          const above = tracker.completedAbove().map(Number)
          expect(above).toEqual([...done].filter((offset) => offset > lowestIncomplete).sort((a, b) => a - b))
          const runs = above.filter((offset, index) => index === 0 || above[index - 1] !== offset - 1).length
          expect(tracker.completedRuns).toBe(runs)
          // …of the shorter form: the run-length text or the bitset.
          const runsText = encodeCompleted(BigInt(lowestIncomplete), above.map(BigInt))
          const bitsText = encodeCompletedBits(BigInt(lowestIncomplete), above.map(BigInt))
          expect(tracker.encodedBound()).toBeGreaterThanOrEqual(Math.min(runsText.length, bitsText.length))
          expect(tracker.encodedBitsBound()).toBe(bitsText.length)
        }
        expect(tracker.committable()).toBe(BigInt(count))
        expect(tracker.inFlight).toBe(0)
      },
    ),
  )
})
