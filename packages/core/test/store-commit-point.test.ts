// What a backend that keeps its data off the host sees: its changelog topic, the changelog offsets
// in each commit point, and the runtime restoring from the offset it reports instead of the start.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import {
  type BackendContext,
  type CommitPoint,
  createMemoryBackend,
  type StoreBackendFactory,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { StreamTask } from '../src/runtime/task.js'

const directories: string[] = []
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

/** A persistent backend (on memory) that reports `stored` as what it covers and records its flushes. */
function remoteFactory(
  stored: bigint | undefined,
  seen: { contexts: BackendContext[]; flushes: CommitPoint[] },
) {
  const memory = createMemoryBackend()
  const factory: StoreBackendFactory = {
    name: 'remote-test',
    persistent: true,
    open: async (context) => {
      seen.contexts.push(context)
      const backend = await memory.open(context)
      return {
        contractVersion: 1 as const,
        capabilities: { ...backend.capabilities, persistent: true },
        get: (key) => backend.get(key),
        getMany: (keys) => backend.getMany(keys),
        write: (batch) => backend.write(batch),
        range: (options) => backend.range(options),
        approximateCount: () => backend.approximateCount(),
        flush: (point) => {
          if (point) seen.flushes.push(point)
        },
        changelogCheckpoint: () => stored,
        close: () => backend.close(),
      }
    },
  }
  return factory
}

function taskWith(factory: StoreBackendFactory, logging: boolean, dir?: string): StreamTask {
  const stateDir = dir ?? mkdtempSync(join(tmpdir(), 'kstreams-remote-'))
  directories.push(stateDir)
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(
      stores.keyValue('counts', {
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        backend: factory,
        ...(logging ? {} : { logging: false as const }),
      }),
    )
    .addProcessor('p', { parents: ['in'], stores: ['counts'] }, () => ({ process: () => {} }))
    .build()
  return new StreamTask({
    applicationId: 'app',
    topology,
    subtopology: topology.subtopologies[0]!,
    partition: 3,
    collector: { send: () => {} },
    errorPolicies: {
      deserialization: 'fail',
      processing: 'fail',
      production: 'fail',
      deadLetterTopic: 'dlq',
    },
    logger: silentLogger,
    stateDir,
    cacheMaxBytes: 0,
    now: () => 0,
  })
}

it('a backend that reports its changelog checkpoint is restored from there, with no local checkpoint file', async () => {
  const seen = { contexts: [] as BackendContext[], flushes: [] as CommitPoint[] }
  const task = taskWith(remoteFactory(40n, seen), true)
  await task.init()
  expect(seen.contexts[0]!.changelogTopic).toBe('app-counts-changelog')
  expect(task.loggedStores.map(({ topic, checkpoint }) => ({ topic, checkpoint }))).toEqual([
    { topic: 'app-counts-changelog', checkpoint: 40n },
  ])
  // Each flush carries the changelog's acknowledged end offset; without one, the checkpoint.
  await task.prepareCommit((topic, partition) =>
    topic === 'app-counts-changelog' && partition === 3 ? 57n : undefined,
  )
  await task.prepareCommit()
  expect(seen.flushes.map((point) => point.changelogs)).toEqual([
    [{ topic: 'app-counts-changelog', partition: 3, offset: 57n }],
    [{ topic: 'app-counts-changelog', partition: 3, offset: 40n }],
  ])
  await task.close()
})

it('a backend with nothing stored restores from the start, and a store without changelog has no topic', async () => {
  const seen = { contexts: [] as BackendContext[], flushes: [] as CommitPoint[] }
  const fresh = taskWith(remoteFactory(undefined, seen), true)
  await fresh.init()
  expect(fresh.loggedStores[0]!.checkpoint).toBeUndefined()
  await fresh.close()
  const unlogged = taskWith(remoteFactory(40n, seen), false)
  await unlogged.init()
  expect(seen.contexts[1]!.changelogTopic).toBeUndefined()
  expect(unlogged.loggedStores).toEqual([])
  await unlogged.prepareCommit(() => 99n)
  expect(seen.flushes.at(-1)!.changelogs).toEqual([])
  await unlogged.close()
})

it('a backend that keeps its own checkpoint decides alone: nothing stored means from the start, whatever a local file says', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'kstreams-remote-'))
  const seen = { contexts: [] as BackendContext[], flushes: [] as CommitPoint[] }
  // A local backend (no changelogCheckpoint) is vouched for by the checkpoint file…
  const memory = createMemoryBackend()
  const local: StoreBackendFactory = {
    name: 'local-test',
    persistent: true,
    open: (context) => memory.open(context),
  }
  const first = taskWith(local, true, stateDir)
  await first.init()
  await first.prepareCommit()
  first.checkpoint(() => 30n)
  await first.close()
  const again = taskWith(local, true, stateDir)
  await again.init()
  expect(again.loggedStores[0]!.checkpoint).toBe(30n)
  await again.close()
  // …but a backend with a checkpoint of its own that has none restores from the start.
  const remote = taskWith(remoteFactory(undefined, seen), true, stateDir)
  await remote.init()
  expect(remote.loggedStores[0]!.checkpoint).toBeUndefined()
  await remote.close()
})
