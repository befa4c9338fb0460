// One timer per task for processingTimeoutMs: work that settles in time never expires, overdue
// work expires once, a retry's new attempt (or a wait to retry) moves its deadline.
import { expect, it } from 'vitest'
import { ProcessingTimeouts, type TimedWork } from '../src/runtime/processing-timeouts.js'
import { RecordScope } from '../src/runtime/record-scope.js'
import { until } from './until.js'

it('expires only the work that outlived the timeout, each once, and follows later attempts', async () => {
  const expired: string[] = []
  const names = new Map<TimedWork, string>()
  const timeouts = new ProcessingTimeouts(40, (work) => expired.push(names.get(work)!))
  const track = (name: string, started = Date.now()) => {
    const scope = new RecordScope('punctuation', undefined, 0)
    const work: TimedWork = { scope, started, slot: -1, resolve: () => {}, reject: () => {} }
    timeouts.track(work)
    names.set(work, name)
    return work
  }
  const settled = track('settled')
  const hung = track('hung')
  const retrying = track('retrying')
  track('late', Date.now() + 3_000) // due well after the others, even under load
  expect(timeouts.untrack(settled)).toBe(true)
  retrying.scope.attemptStartedAt = Number.POSITIVE_INFINITY // waiting to retry: no deadline
  await until(() => expired.includes('hung'))
  expect(expired).toEqual(['hung'])
  expect(timeouts.untrack(hung)).toBe(false) // it expired: its outcome no longer counts
  retrying.scope.attemptStartedAt = Date.now() // the second attempt starts now
  await until(() => expired.length === 3, 20_000)
  expect(expired.sort()).toEqual(['hung', 'late', 'retrying'])
  timeouts.close()
  const afterClose = track('after close', Date.now() - 1_000)
  await new Promise((resolve) => setTimeout(resolve, 60))
  expect(expired).toHaveLength(3)
  expect(timeouts.untrack(afterClose)).toBe(true)
})
