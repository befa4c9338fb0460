import { expect, it } from 'vitest'
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
