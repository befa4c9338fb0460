// EventLoopLoad: the idle write-down's gate. A loop kept busy has no spare capacity; an idle one
// has; time the deferrable work itself spent is not load.
import { expect, it } from 'vitest'
import { EventLoopLoad, LOAD_SAMPLE_MS } from '../src/runtime/event-loop-load.js'

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

function busyFor(milliseconds: number): void {
  const end = performance.now() + milliseconds
  while (performance.now() < end) {}
}

it('has no spare capacity before its first sample, nor after a sample the loop spent busy', async () => {
  const load = new EventLoopLoad()
  expect(load.spare).toBe(false)
  busyFor(LOAD_SAMPLE_MS + 50)
  expect(load.spare).toBe(false)
})

it('has spare capacity after a sample the loop spent waiting', async () => {
  const load = new EventLoopLoad()
  await sleep(LOAD_SAMPLE_MS + 50)
  expect(load.spare).toBe(true)
  // Spare until the next sample, then busy again.
  busyFor(LOAD_SAMPLE_MS + 50)
  expect(load.spare).toBe(false)
})

it('does not count the time the deferrable work reported as load', async () => {
  const load = new EventLoopLoad()
  busyFor(LOAD_SAMPLE_MS + 50)
  load.spent(LOAD_SAMPLE_MS + 50)
  expect(load.spare).toBe(true)
  expect(load.untilNextSampleMs).toBeGreaterThan(0)
  expect(load.untilNextSampleMs).toBeLessThanOrEqual(LOAD_SAMPLE_MS)
})

it('decides nothing from a sample much longer than asked for: a long block right before now is not diluted', async () => {
  const load = new EventLoopLoad()
  await sleep(4 * LOAD_SAMPLE_MS)
  busyFor(LOAD_SAMPLE_MS)
  // Over the whole time since the last look the loop was mostly idle, but the time is too long to tell.
  expect(load.spare).toBe(false)
  await sleep(LOAD_SAMPLE_MS + 50)
  expect(load.spare).toBe(true)
})
