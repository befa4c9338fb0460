// A restart skips the offsets the committed completed-offset map lists, on the real broker. One
// partition; two records (offsets 0 and 1500) are parked by a retry with a long backoff while the
// thousands of records around them complete; the app closes gracefully; a new instance of the
// app processes only the records the commit did not cover.
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
  type KStreamsApp,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../../src/index.js'
import { type CommittedPartition, isCommitted, readCommitted } from './key-helpers.js'

it('key mode: after a graceful close with parked records, a restart processes only the offsets the committed map does not cover', async () => {
  const [input, output] = await createTestTopics({ prefix: 'key-restart-in' }, { prefix: 'key-restart-out' })
  const applicationId = uniqueName('key-restart')
  const total = 3000
  const slow = new Map([
    [0, 'slow-a'],
    [1500, 'slow-b'],
  ])
  const messages = Array.from({ length: total }, (_, index) =>
    slow.has(index)
      ? { key: slow.get(index)!, value: slow.get(index)! }
      : { key: `k${index % 400}`, value: `r${index}` },
  )
  await produceStrings(input!, messages)

  const startInstance = async (run: number, calls: Map<string, bigint>): Promise<KStreamsApp> => {
    const topology = new TopologyBuilder()
      .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor(
        'call',
        {
          parents: ['in'],
          concurrency: 'key',
          // The first run's slow records fail once and wait a minute for their second attempt.
          retry: { maxAttempts: 2, backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } },
        },
        (): Processor<string, string, string, string> => {
          let context: ProcessorContext<string, string>
          return {
            init: (processorContext) => {
              context = processorContext
            },
            process: async (record) => {
              calls.set(record.value, context.recordMetadata!.offset)
              await new Promise((resolve) => setTimeout(resolve, 1))
              if (run === 1 && record.value.startsWith('slow'))
                throw new Error(`remote call for ${record.value} unavailable`)
              context.forward({ ...record, value: `${record.value} run ${run}` })
            },
          }
        },
      )
      .addSink('out', {
        topic: output!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['call'],
      })
      .build()
    const app = createApp(topology, {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      commitIntervalMs: 200,
      closeTimeoutMs: 2000,
      // close() gives the parked records up after closeTimeoutMs, then leaving the group drains
      // them once more for revokeDrainMs (30 s by default): kept short so the test stays quick.
      revokeDrainMs: 1000,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    onTestFinished(() => app.close())
    await app.start()
    return app
  }

  const waitForCommit = async (done: (committed: CommittedPartition) => boolean, what: string) => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const [committed] = await readCommitted(applicationId, input!, 1)
      if (done(committed!)) return committed!
      if (Date.now() > deadline)
        throw new Error(`${what}: committed ${committed!.offset} ${committed!.metadata}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  const firstCalls = new Map<string, bigint>()
  const first = await startInstance(1, firstCalls)
  // Everything but the two parked records is done, and a commit holds it in its map.
  const beforeClose = await waitForCommit(
    (committed) => committed.offset === 0n && committed.completed.size === total - slow.size,
    'the first run committing every done record in its map',
  )
  const progress = first.progress()[0]!
  expect(progress).toMatchObject({ retrying: 2, position: 0n, completed: total - slow.size })
  const closeStarted = Date.now()
  await first.close()
  const closeMs = Date.now() - closeStarted
  const [afterClose] = await readCommitted(applicationId, input!, 1)
  expect(afterClose!.metadata.length).toBeLessThan(4096)
  const notCommitted = messages
    .map((message, offset) => ({ value: message.value, offset: BigInt(offset) }))
    .filter(({ offset }) => !isCommitted(afterClose!, offset))
  // The commit covers all but the two parked records.
  expect(notCommitted.map(({ value }) => value)).toEqual(['slow-a', 'slow-b'])

  const secondCalls = new Map<string, bigint>()
  await startInstance(2, secondCalls)
  const final = await waitForCommit(
    (committed) => committed.offset === BigInt(total),
    'the second run committing to the end of the input',
  )
  // The restart processed exactly the records the commit did not cover.
  expect(new Map([...secondCalls].sort((a, b) => Number(a[1] - b[1])))).toEqual(
    new Map(notCommitted.map(({ value, offset }) => [value, offset])),
  )
  const out = await readTopicUntil(output!, (read) => read.length >= total)
  expect(out).toHaveLength(total)
  expect(out.filter((message) => message.value!.endsWith('run 2')).map((message) => message.value)).toEqual(
    expect.arrayContaining(['slow-a run 2', 'slow-b run 2']),
  )
  console.info(
    `key restart on the broker: ${total} records; first run processed ${firstCalls.size}, committed offset ${afterClose!.offset} with ${afterClose!.completed.size} offsets in the map (metadata ${afterClose!.metadata.length} characters: ${afterClose!.metadata}; before the close ${beforeClose.metadata.length}); close took ${closeMs} ms; processed again after the restart: ${secondCalls.size} (${[...secondCalls.keys()].join(', ')}); final committed ${final.offset}, ${out.length} outputs`,
  )
})
