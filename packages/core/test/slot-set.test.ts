// SlotSet against a Set: the same members after any sequence of adds and deletes (repeated ones
// too), and every member's slot is its index.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SlotSet } from '../src/runtime/slot-set.js'

describe('SlotSet', () => {
  it('holds what a Set holds after any adds and deletes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { maxLength: 200 }),
        (operations) => {
          const entries = Array.from({ length: 8 }, (_, id) => ({ id, slot: -1 }))
          const slots = new SlotSet<(typeof entries)[number]>()
          const reference = new Set<(typeof entries)[number]>()
          for (const [add, id] of operations) {
            const entry = entries[id]!
            if (add) {
              slots.add(entry)
              reference.add(entry)
            } else {
              expect(slots.delete(entry)).toBe(reference.delete(entry))
            }
            expect(slots.size).toBe(reference.size)
          }
          for (const entry of entries) expect(slots.has(entry)).toBe(reference.has(entry))
          expect(new Set(slots.values())).toEqual(reference)
          for (const [index, entry] of slots.live().entries()) expect(entry.slot).toBe(index)
          for (const entry of entries) if (!reference.has(entry)) expect(entry.slot).toBe(-1)
        },
      ),
    )
  })
})
