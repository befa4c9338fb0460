// Key mode on the real broker: a processor that awaits a 10 ms call, then counts per key in a
// store. Records of one key run in order and never overlap (the counts are exact); different keys
// of one partition run at once (more records in flight than there are partitions).
import { setTimeout as sleep } from 'node:timers/promises'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../../src/index.js'

it('key mode: counts per key are exact with a 10 ms await per record, and records of one task overlap', async () => {
  const partitions = 6
  const total = 3000
  const keys = 50
  const [input, output] = await createTestTopics(
    { prefix: 'key-mode-in', partitions },
    { prefix: 'key-mode-out', partitions },
  )
  const running = new Map<number, number>()
  let maxInTask = 0
  let inFlight = 0
  let maxInFlight = 0
  const topology = new TopologyBuilder()
    .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor(
      'count',
      { parents: ['in'], stores: ['counts'], concurrency: 'key' },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        let counts: KeyValueStore<string, bigint>
        return {
          init: (processorContext) => {
            context = processorContext
            counts = context.getStore('counts')
          },
          process: async (record) => {
            const partition = context.recordMetadata!.partition
            running.set(partition, (running.get(partition) ?? 0) + 1)
            maxInTask = Math.max(maxInTask, running.get(partition)!)
            inFlight += 1
            maxInFlight = Math.max(maxInFlight, inFlight)
            const count = ((await counts.get(record.key)) ?? 0n) + 1n
            await sleep(10) // the remote call
            await counts.put(record.key, count)
            running.set(partition, running.get(partition)! - 1)
            inFlight -= 1
            context.forward({ ...record, value: String(count) })
          },
        }
      },
    )
    .addSink('out', {
      topic: output!,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['count'],
    })
    .build()
  const app = createApp(topology, {
    applicationId: uniqueName('key-mode'),
    bootstrapServers: endpoints.kafkaBootstrapServers,
    onFatalError: () => {},
    commitIntervalMs: 500,
    handleSignals: false,
    logger: silentLogger,
    stateDir: `/tmp/${uniqueName('key-mode-state')}`,
  })
  onTestFinished(() => app.close())
  const truth = new Map<string, number>()
  const messages = Array.from({ length: total }, (_, index) => {
    const key = `key-${(index * 7) % keys}`
    truth.set(key, (truth.get(key) ?? 0) + 1)
    return { key, value: `r${index}` }
  })
  await produceStrings(input!, messages)
  const started = Date.now()
  await app.start()
  const read = await readTopicUntil(output!, (read) => read.length >= total, 90_000)
  const elapsedMs = Date.now() - started
  // Per key, the counts came out 1, 2, 3, … in order: no update lost, no record of a key overtook another.
  const seen = new Map<string, number[]>()
  for (const message of read)
    seen.set(message.key!, [...(seen.get(message.key!) ?? []), Number(message.value)])
  for (const [key, count] of truth) {
    expect(seen.get(key), key).toEqual(Array.from({ length: count }, (_, index) => index + 1))
  }
  expect(read).toHaveLength(total)
  console.info(
    `key mode on the broker: ${total} records, ${keys} keys, ${partitions} partitions, 10 ms per record: ${elapsedMs} ms; most records in flight at once: ${maxInFlight} (in one task: ${maxInTask})`,
  )
  expect(maxInTask).toBeGreaterThan(1)
  expect(maxInFlight).toBeGreaterThan(partitions)
})
