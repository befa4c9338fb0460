// The commit's flush step takes the tasks with stores in turns (flushConcurrency at a time, a turn
// of the event loop between them), so the other tasks' records run while one task is held.
import { expect, it } from 'vitest'
import { FencedError, silentLogger } from '../src/index.js'
import { CommitCoordinator } from '../src/runtime/commit-coordinator.js'
import type { StreamTask, TaskFlush } from '../src/runtime/task.js'

function fakeTask(name: string, hasStores: boolean, log: string[], state: { held: number; most: number }) {
  const flush: TaskFlush = {
    point: {
      taskId: name,
      inputs: [{ topic: 'in', partition: 0, offset: 1n, completed: [], streamTime: 0 }],
      changelogs: [],
    },
    writes: 0,
  } as unknown as TaskFlush
  return {
    hasStores,
    retired: false,
    prepareCommit: async () => {
      if (!hasStores) {
        log.push(`${name} snapshot`)
        return flush
      }
      state.held += 1
      state.most = Math.max(state.most, state.held)
      log.push(`${name} start`)
      // What a record of another task would do meanwhile: run on the next turn of the event loop.
      setImmediate(() => log.push(`turn after ${name}`))
      await Promise.resolve()
      state.held -= 1
      log.push(`${name} end`)
      return flush
    },
    markCommitted: () => {},
    checkpoint: () => {},
  } as unknown as StreamTask
}

it('flushes one task with stores at a time by default, with a turn of the event loop between them', async () => {
  const log: string[] = []
  const state = { held: 0, most: 0 }
  const committed: number[] = []
  const coordinator = new CommitCoordinator({
    flushProduced: async () => {},
    endOffset: () => undefined,
    commitOffsets: async (offsets) => {
      committed.push(offsets.length)
    },
    logger: silentLogger,
  })
  const tasks = [
    fakeTask('a', true, log, state),
    fakeTask('b', false, log, state),
    fakeTask('c', true, log, state),
    fakeTask('d', true, log, state),
  ]
  const outcome = await coordinator.commit(tasks)
  expect(outcome.committed).toBe(4)
  expect(committed).toEqual([4])
  expect(state.most).toBe(1)
  // The stateless task does not wait for a turn; each next flush starts after the event loop turned.
  expect(log.slice(0, 4)).toEqual(['b snapshot', 'a start', 'a end', 'turn after a'])
  expect(log.indexOf('turn after a')).toBeLessThan(log.indexOf('c start'))
  expect(log.indexOf('turn after c')).toBeLessThan(log.indexOf('d start'))

  state.most = 0
  const parallel = new CommitCoordinator({
    flushProduced: async () => {},
    endOffset: () => undefined,
    commitOffsets: async () => {},
    logger: silentLogger,
    flushConcurrency: 2,
  })
  await parallel.commit(tasks)
  expect(state.most).toBe(2)
})

it('writes nothing and commits nothing when the group membership is not confirmed (fenced while blocked)', async () => {
  const log: string[] = []
  const state = { held: 0, most: 0 }
  const committed: number[] = []
  const options = {
    flushProduced: async () => {},
    endOffset: () => undefined,
    commitOffsets: async (offsets: unknown[]) => {
      committed.push(offsets.length)
    },
    logger: silentLogger,
  }
  const fenced = new CommitCoordinator({
    ...options,
    confirmMembership: async () => {
      throw new FencedError('this member was fenced', { retriable: false })
    },
  })
  const tasks = [fakeTask('a', true, log, state), fakeTask('b', false, log, state)]
  const outcome = await fenced.commit(tasks)
  expect(outcome.groupFenced).toEqual(tasks)
  expect(outcome.committed).toBe(0)
  expect(log).toEqual([])
  expect(committed).toEqual([])
  // No answer in time (an outage): the commit goes on as without the check.
  const unknown = new CommitCoordinator({ ...options, confirmMembership: async () => false })
  expect((await unknown.commit(tasks)).committed).toBe(2)
  expect(log).toContain('a start')
  expect(committed).toEqual([2])
})
