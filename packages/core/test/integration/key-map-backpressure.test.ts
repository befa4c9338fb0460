// The completed-offset map's backpressure on the real broker. Partition 0 begins with a record
// that does not finish (its call waits for the test); after it come runs of 60 records with keys
// of their own (done at once), each followed by one of its key (it waits in its lane: incomplete),
// so the map grows by a run per 61 records, and neither of its forms (runs, bitset) stays small
// over the span. Past 75% of the broker's 4096
// metadata characters partition 0 stops starting records; the map committed to the broker stays
// under the limit; partition 1 of the same task set keeps moving; once the stuck record finishes,
// everything is processed.
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
  type PartitionProgress,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../../src/index.js'
import { readCommitted, until } from './key-helpers.js'

it('key mode: a partition whose completed-offset map nears the metadata limit is held back; the committed map stays under 4096 characters; another partition moves', async () => {
  const [input, output] = await createTestTopics(
    { prefix: 'key-map-in', partitions: 2 },
    { prefix: 'key-map-out', partitions: 2 },
  )
  const applicationId = uniqueName('key-map')
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  /** Process calls per input partition. */
  const calls = [0, 0]
  const topology = new TopologyBuilder()
    .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'call',
      // maxInFlight far above what the map allows, so that the map, not maxInFlight, is what stops the partition.
      { parents: ['in'], concurrency: 'key', maxInFlight: 5000 },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: async (record) => {
            const partition = context.recordMetadata!.partition
            calls[partition] = (calls[partition] ?? 0) + 1
            if (record.value === 'stuck') await released
            context.forward(record)
          },
        }
      },
    )
    .addSink('out', {
      topic: output!,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['call'],
      partitioner: (record) => (record.value.startsWith('p1-') ? 1 : 0),
    })
    .build()
  const total = 24_000
  const partition0 = [
    { key: 'stuck', value: 'stuck', partition: 0 },
    ...Array.from({ length: total - 1 }, (_, index) =>
      index % 61 === 60
        ? { key: 'stuck', value: `behind-${index}`, partition: 0 }
        : { key: `k${index}`, value: `free-${index}`, partition: 0 },
    ),
  ]
  await produceStrings(input!, partition0)
  const app = createApp(topology, {
    applicationId,
    bootstrapServers: endpoints.kafkaBootstrapServers,
    commitIntervalMs: 200,
    processingTimeoutMs: 0,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
  })
  onTestFinished(() => {
    release()
    return app.close()
  })
  const progress = (partition: number): PartitionProgress | undefined =>
    app.progress().find((entry) => entry.partition === partition)
  await app.start()
  await until(() => progress(0)?.heldBack === true, 30_000, 'partition 0 held back by its map')
  const held = progress(0)!
  const callsWhenHeld = calls[0]!
  // Held back: while the map stays as it is, partition 0 starts nothing more, with records buffered.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const stillHeld = progress(0)!
  expect(stillHeld.heldBack).toBe(true)
  expect(calls[0]).toBe(callsWhenHeld)
  expect(stillHeld.buffered).toBeGreaterThan(0)
  expect(stillHeld.position).toBe(0n)
  expect(stillHeld.headOfLine).toMatchObject({ offset: 0n, state: 'running' })
  expect(callsWhenHeld).toBeLessThan(total)
  // The map as committed to the broker: under the broker's cap, past the 75% mark.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const [committed] = await readCommitted(applicationId, input!, 2)
  expect(committed!.offset).toBe(0n)
  expect(committed!.metadata.length).toBeLessThan(4096)
  expect(committed!.metadata.length).toBeGreaterThan(3072)
  expect(committed!.completed.size).toBe(stillHeld.completed)
  // Partition 1 of the same app keeps moving meanwhile.
  const partition1 = Array.from({ length: 500 }, (_, index) => ({
    key: `q${index}`,
    value: `p1-${index}`,
    partition: 1,
  }))
  await produceStrings(input!, partition1)
  await until(
    () => calls[1] === partition1.length,
    30_000,
    'partition 1 processed while partition 0 is held back',
  )
  // …and its offsets are committed, while partition 0 still starts nothing.
  let committedAfterP1 = await readCommitted(applicationId, input!, 2)
  const p1Deadline = Date.now() + 10_000
  while (committedAfterP1[1]!.offset < BigInt(partition1.length)) {
    if (Date.now() > p1Deadline)
      throw new Error(`partition 1 committed only to ${committedAfterP1[1]!.offset}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    committedAfterP1 = await readCommitted(applicationId, input!, 2)
  }
  expect(committedAfterP1[0]!.offset).toBe(0n)
  expect(committedAfterP1[0]!.metadata.length).toBeLessThan(4096)
  expect(progress(0)!.heldBack).toBe(true)
  expect(calls[0]).toBe(callsWhenHeld)
  console.info(
    `map backpressure on the broker: partition 0 held back after ${callsWhenHeld} of ${total} records started (${held.completed} done above the stuck offset 0, ${held.inFlight} in flight, ${held.waiting} waiting, ${held.buffered} buffered, map ${held.mapCharacters} characters); committed metadata ${committed!.metadata.length} characters (${committed!.completed.size} offsets in the map); partition 1 processed ${calls[1]} records meanwhile (committed offset ${committedAfterP1[1]!.offset})`,
  )
  // Once the stuck record finishes, the lane drains, the map shrinks and everything goes through.
  release()
  const expected = new Set([...partition0, ...partition1].map((record) => record.value))
  const out = await readTopicUntil(output!, (read) => read.length >= expected.size, 60_000)
  expect(new Set(out.map((message) => message.value))).toEqual(expected)
  expect(calls[0]).toBe(total)
  await until(() => progress(0)?.heldBack === false && progress(0)?.completed === 0, 10_000, 'map emptied')
  const deadline = Date.now() + 20_000
  let final = await readCommitted(applicationId, input!, 2)
  while (final[0]!.offset < BigInt(total)) {
    if (Date.now() > deadline) throw new Error(`partition 0 committed only to ${final[0]!.offset}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    final = await readCommitted(applicationId, input!, 2)
  }
  expect(final[0]!.completed.size).toBe(0)
  expect(final[1]!.offset).toBe(BigInt(partition1.length))
  console.info(
    `map backpressure on the broker: after the release, ${out.length} outputs, committed ${final[0]!.offset}/${final[1]!.offset}, metadata ${final[0]!.metadata.length} characters`,
  )
})
