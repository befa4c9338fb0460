import { describe, expect, it } from 'vitest'
import { channels } from '../src/diagnostics.js'
import {
  type FetchedBatch,
  type GroupConsumer,
  type KafkaPort,
  type KeyValueStore,
  type PartitionReader,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { StateRestorer } from '../src/runtime/state-restorer.js'
import { StreamTask } from '../src/runtime/task.js'

const encoder = new TextEncoder()

function statefulTask(partition: number): StreamTask {
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor('p', { parents: ['in'], stores: ['counts'] }, () => ({ process: () => {} }))
    .build()
  return new StreamTask({
    applicationId: 'app',
    topology,
    subtopology: topology.subtopologies[0]!,
    partition,
    collector: { send: () => {} },
    errorPolicies: {
      deserialization: 'fail',
      processing: 'fail',
      production: 'fail',
      deadLetterTopic: 'dlq',
    },
    logger: silentLogger,
    stateDir: '/tmp/kstreams-unused',
    cacheMaxBytes: 0,
    now: () => 0,
  })
}

it('restores one task after another, and a revoked task still waiting is dropped at once', async () => {
  let openGate!: () => void
  const gate = new Promise<void>((resolve) => (openGate = resolve))
  const positions = new Map<number, bigint>()
  const reader: PartitionReader = {
    assign: async (partitions) => {
      for (const { partition, offset } of partitions) positions.set(partition, offset ?? 0n)
    },
    unassign: () => {},
    position: ({ partition }) => positions.get(partition),
    endOffsets: async ([first]) => new Map([[`app-counts-changelog\u0000${first!.partition}`, 1n]]),
    poll: async (): Promise<FetchedBatch[]> => {
      await gate
      const partition = [...positions.keys()][0]!
      positions.set(partition, 1n)
      return [
        {
          topic: 'app-counts-changelog',
          partition,
          highWatermark: 1n,
          records: [
            {
              topic: 'app-counts-changelog',
              partition,
              offset: 0n,
              timestamp: 0,
              key: encoder.encode('k'),
              value: encoder.encode('v'),
              headers: [],
            },
          ],
        },
      ]
    },
    close: async () => {},
  }
  const kafka = { createReader: () => reader } as unknown as KafkaPort
  const consumer = { committed: async () => new Map() } as unknown as GroupConsumer
  const restorer = new StateRestorer({
    kafka,
    clientId: 'c',
    consumer,
    logger: silentLogger,
    batchSize: 100,
    fetchMaxBytes: 1024,
  })
  const first = statefulTask(0)
  const second = statefulTask(1)
  await first.init()
  await second.init()
  const ended: string[] = []
  restorer.start(first, (error) => ended.push(`first${error ? ` failed: ${error.message}` : ''}`))
  restorer.start(second, () => ended.push('second'))
  expect(restorer.isRestoring(second)).toBe(true)
  // The second task is revoked while the first still restores: cancelling it does not wait.
  await restorer.cancel(second)
  expect(restorer.isRestoring(second)).toBe(false)
  expect(restorer.isRestoring(first)).toBe(true)
  openGate()
  while (restorer.isRestoring(first)) await new Promise((resolve) => setTimeout(resolve, 5))
  expect(ended).toEqual(['first'])
  expect(await first.getStore<KeyValueStore<string, string>>('counts')!.get('k')).toBe('v')
  await restorer.close()
})

interface ChangelogEntry {
  key: string
  /** null: a tombstone. */
  value: string | null
  /** Offset of the input record that caused the entry in topic `in`; undefined: no input headers. */
  inputOffset?: number
}

/**
 * A restorer whose reader serves `entries` as partition 0 of the changelog, in one poll per
 * `pollSize` entries, and whose consumer says `in` is committed at `committedOffset`.
 */
function restorerOver(entries: ChangelogEntry[], committedOffset: bigint | undefined, pollSize = 1000) {
  const topic = 'app-counts-changelog'
  let position = 0n
  const reader: PartitionReader = {
    assign: async ([first]) => {
      position = first!.offset ?? 0n
    },
    unassign: () => {},
    position: () => position,
    endOffsets: async () => new Map([[`${topic}\u00000`, BigInt(entries.length)]]),
    poll: async (): Promise<FetchedBatch[]> => {
      const from = Number(position)
      const slice = entries.slice(from, from + pollSize)
      position += BigInt(slice.length)
      return [
        {
          topic,
          partition: 0,
          highWatermark: BigInt(entries.length),
          records: slice.map((entry, index) => ({
            topic,
            partition: 0,
            offset: BigInt(from + index),
            timestamp: 0,
            key: encoder.encode(entry.key),
            value: entry.value === null ? null : encoder.encode(entry.value),
            headers:
              entry.inputOffset === undefined
                ? []
                : [
                    ['kstreams.input.topic', encoder.encode('in')],
                    ['kstreams.input.offset', encoder.encode(String(entry.inputOffset))],
                  ],
          })),
        },
      ]
    },
    close: async () => {},
  }
  const committed =
    committedOffset === undefined
      ? new Map()
      : new Map([['in\u00000', { offset: committedOffset, metadata: null }]])
  const restorer = new StateRestorer({
    kafka: { createReader: () => reader } as unknown as KafkaPort,
    clientId: 'c',
    consumer: { committed: async () => committed } as unknown as GroupConsumer,
    logger: silentLogger,
    batchSize: 7,
    fetchMaxBytes: 1024,
  })
  return restorer
}

/** Restores a fresh task (optionally with local state from before its checkpoint) and returns its store. */
async function restore(
  entries: ChangelogEntry[],
  committedOffset: bigint | undefined,
  localState: Array<[string, string]> = [],
): Promise<{ store: KeyValueStore<string, string>; records: number; skipped: number; lookups: number }> {
  const restorer = restorerOver(entries, committedOffset)
  const task = statefulTask(0)
  await task.init()
  const store = task.getStore<KeyValueStore<string, string>>('counts')!
  if (localState.length > 0)
    await store.restore!(
      localState.map(([key, value]) => ({ key: encoder.encode(key), value: encoder.encode(value) })),
    )
  // Counts what the restorer reads back from the store: only the keys of the uncommitted tail.
  const totals = { records: 0, skipped: 0, lookups: 0 }
  const restoredValue = store.restoredValue!.bind(store)
  store.restoredValue = (key) => {
    totals.lookups += 1
    return restoredValue(key)
  }
  const onRestore = (message: unknown) => {
    const event = message as { phase: string; records: number; skipped: number }
    if (event.phase === 'end') Object.assign(totals, { records: event.records, skipped: event.skipped })
  }
  channels.restore.subscribe(onRestore)
  try {
    const failure = await new Promise<Error | undefined>((resolve) => restorer.start(task, resolve))
    if (failure) throw failure
  } finally {
    channels.restore.unsubscribe(onRestore)
    await restorer.close()
  }
  return { store, ...totals }
}

describe('restore of entries caused by uncommitted input', () => {
  it('keeps a key whose older entry compaction removed: its only entry is applied though uncommitted', async () => {
    const { store, records, skipped } = await restore(
      [
        { key: 'kept', value: 'committed', inputOffset: 1 },
        // Compaction removed this key's entries from before the commit; only the newest is left.
        { key: 'compacted', value: 'ahead', inputOffset: 7 },
      ],
      5n,
    )
    expect(await store.get('kept')).toBe('committed')
    expect(await store.get('compacted')).toBe('ahead')
    expect({ records, skipped }).toEqual({ records: 2, skipped: 0 })
  })

  it('restores the committed older entry of a key, not its uncommitted newer ones', async () => {
    const { store, records, skipped } = await restore(
      [
        { key: 'a', value: 'a-committed', inputOffset: 2 },
        { key: 'b', value: 'b-committed', inputOffset: 3 },
        { key: 'a', value: 'a-uncommitted-1', inputOffset: 5 },
        { key: 'b', value: null, inputOffset: 6 },
        { key: 'a', value: 'a-uncommitted-2', inputOffset: 8 },
      ],
      5n,
    )
    expect(await store.get('a')).toBe('a-committed')
    expect(await store.get('b')).toBe('b-committed')
    expect({ records, skipped }).toEqual({ records: 2, skipped: 3 })
  })

  it('applies the newest uncommitted entry of a key that has no older one, and a committed entry after them wins', async () => {
    const { store } = await restore(
      [
        { key: 'new', value: 'new-1', inputOffset: 6 },
        { key: 'new', value: 'new-2', inputOffset: 7 },
        { key: 'deleted', value: 'gone-soon', inputOffset: 8 },
        { key: 'deleted', value: null, inputOffset: 9 },
        // A later owner reprocessed from the committed offset: its entries are committed again.
        { key: 'reprocessed', value: 'first-run', inputOffset: 9 },
        { key: 'reprocessed', value: 'second-run', inputOffset: 4 },
        { key: 'reprocessed', value: 'second-run-uncommitted', inputOffset: 9 },
      ],
      5n,
    )
    expect(await store.get('new')).toBe('new-2')
    expect(await store.get('deleted')).toBeUndefined()
    expect(await store.get('reprocessed')).toBe('second-run')
  })

  it('counts local state from before the checkpoint as the older entry', async () => {
    const { store } = await restore(
      [
        { key: 'local', value: 'uncommitted', inputOffset: 9 },
        { key: 'fresh', value: 'uncommitted', inputOffset: 9 },
      ],
      5n,
      [['local', 'from-checkpoint']],
    )
    expect(await store.get('local')).toBe('from-checkpoint')
    expect(await store.get('fresh')).toBe('uncommitted')
  })

  it('applies every entry when nothing is committed yet, and entries without input headers as committed', async () => {
    const { store } = await restore(
      [
        { key: 'x', value: 'x-1', inputOffset: 0 },
        { key: 'x', value: 'x-2', inputOffset: 1 },
        { key: 'punctuated', value: 'p' },
      ],
      undefined,
    )
    expect(await store.get('x')).toBe('x-2')
    expect(await store.get('punctuated')).toBe('p')
  })

  it('resolves many keys: committed ones, compacted ones and an uncommitted tail over both', async () => {
    const entries: ChangelogEntry[] = []
    const keys = 5000
    // Keys below 2500 were written before the commit (input offsets 0..2499); the others only
    // survive as their uncommitted newest entry, as after compaction.
    for (let index = 0; index < keys / 2; index += 1)
      entries.push({ key: `key-${index}`, value: `committed-${index}`, inputOffset: index })
    for (let index = 0; index < keys; index += 3)
      entries.push({ key: `key-${index}`, value: `uncommitted-${index}`, inputOffset: keys + index })
    const { store, records, skipped, lookups } = await restore(entries, BigInt(keys / 2))
    let uncommittedApplied = 0
    for (let index = 0; index < keys; index += 1) {
      const value = await store.get(`key-${index}`)
      if (index < keys / 2) expect(value).toBe(`committed-${index}`)
      else if (index % 3 === 0) {
        expect(value).toBe(`uncommitted-${index}`)
        uncommittedApplied += 1
      } else expect(value).toBeUndefined()
    }
    const tail = Math.ceil(keys / 3)
    expect({ records, skipped }).toEqual({
      records: keys / 2 + uncommittedApplied,
      skipped: tail - uncommittedApplied,
    })
    expect(lookups).toBe(tail)
  })
})
