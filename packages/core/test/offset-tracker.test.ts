import fc from 'fast-check'
import { expect, it } from 'vitest'
import { OffsetTracker } from '../src/runtime/offset-tracker.js'

it('commits up to the lowest offset still in flight', () => {
  const tracker = new OffsetTracker()
  for (const offset of [10n, 11n, 12n]) tracker.begin(offset)
  tracker.complete(11n)
  expect(tracker.committable()).toBeUndefined()
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
        }
        expect(tracker.committable()).toBe(BigInt(count))
        expect(tracker.inFlight).toBe(0)
      },
    ),
  )
})
