// Retries in key mode on the real broker: a failing record parks only its key (later records of
// that key wait behind it, other keys flow meanwhile); a key that fails twice then succeeds comes
// out after its retries; one that always fails is dead-lettered once, after maxAttempts, with the
// attempts, the last error and where it came from in its headers.
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  DeadLetterHeaders,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../../src/index.js'
import { readCommitted } from './key-helpers.js'

it('key mode: retries park only the failing key, exhaustion follows the dead-letter policy with the retry headers', async () => {
  const [input, output] = await createTestTopics({ prefix: 'key-retry-in' }, { prefix: 'key-retry-out' })
  const deadLetterTopic = uniqueName('key-retry-dlq')
  deleteTopicsWhenTestEnds(deadLetterTopic)
  const applicationId = uniqueName('key-retry')
  const backoffMs = 400
  /** Attempts per record value, and when each attempt began. */
  const attempts = new Map<string, number[]>()
  const topology = new TopologyBuilder()
    .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'call',
      {
        parents: ['in'],
        concurrency: 'key',
        retry: { maxAttempts: 3, backoff: { initialMs: backoffMs, multiplier: 1, jitter: 0 } },
      },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: async (record) => {
            const times = [...(attempts.get(record.value) ?? []), Date.now()]
            attempts.set(record.value, times)
            // bad-1's attempts end 150 ms after flaky-1's, so that its dead-letter record (the
            // producer's first write to that topic, which waits for a metadata lookup) is not in a
            // batch with flaky-1's output: today a later batch can overtake such a batch (a
            // producer ordering issue of its own), and this test checks the retries, not that.
            await new Promise((resolve) => setTimeout(resolve, record.value === 'bad-1' ? 150 : 2))
            if (record.value === 'bad-1') throw new Error(`remote call for ${record.value} refused`)
            if (record.value === 'flaky-1' && times.length < 3)
              throw new Error(`remote call for ${record.value} timed out (attempt ${times.length})`)
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
    })
    .build()
  // bad-1 fails every attempt, flaky-1 fails twice; each key's second record must wait behind its
  // first; 300 records of other keys must not wait for either.
  const goods = Array.from({ length: 300 }, (_, index) => ({ key: `g${index % 30}`, value: `good-${index}` }))
  const messages = [
    { key: 'bad', value: 'bad-1' },
    { key: 'flaky', value: 'flaky-1' },
    ...goods.slice(0, 150),
    { key: 'bad', value: 'bad-2' },
    { key: 'flaky', value: 'flaky-2' },
    ...goods.slice(150),
  ]
  await produceStrings(input!, messages)
  const app = createApp(topology, {
    applicationId,
    bootstrapServers: endpoints.kafkaBootstrapServers,
    commitIntervalMs: 200,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
    processingErrorPolicy: 'dead-letter',
    deadLetterTopic,
  })
  onTestFinished(() => app.close())
  await app.start()
  // Every record done and committed (the dead-lettered one counts as done).
  const end = BigInt(messages.length)
  const deadline = Date.now() + 60_000
  while ((await readCommitted(applicationId, input!, 1))[0]!.offset < end) {
    if (Date.now() > deadline) throw new Error('the input was not committed to its end in 60 s')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  expect(app.state).toBe('running')
  const out = (await readTopicUntil(output!, (read) => read.length >= messages.length - 1)).map(
    (message) => message.value!,
  )
  expect(out).toHaveLength(messages.length - 1)
  expect(out).not.toContain('bad-1')
  expect(new Set(out)).toEqual(
    new Set(messages.map((message) => message.value).filter((value) => value !== 'bad-1')),
  )
  // Other keys flowed while the two keys were parked: all their outputs come first.
  const firstParked = Math.min(out.indexOf('flaky-1'), out.indexOf('bad-2'))
  const goodsAfter = out.slice(firstParked).filter((value) => value.startsWith('good')).length
  expect(goodsAfter).toBe(0)
  // Each parked key kept its order: its second record waited for the first to be done.
  expect(out.indexOf('flaky-1')).toBeLessThan(out.indexOf('flaky-2'))
  expect(attempts.get('bad-1')).toHaveLength(3)
  expect(attempts.get('flaky-1')).toHaveLength(3)
  expect(attempts.get('bad-2')).toHaveLength(1)
  expect(attempts.get('flaky-2')).toHaveLength(1)
  const badTimes = attempts.get('bad-1')!
  const gaps = badTimes.slice(1).map((time, index) => time - badTimes[index]!)
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(backoffMs - 10)
  // bad-2 started only after bad-1 was given up (its last attempt began before).
  expect(attempts.get('bad-2')![0]!).toBeGreaterThan(badTimes[2]!)
  expect(attempts.get('flaky-2')![0]!).toBeGreaterThan(attempts.get('flaky-1')![2]!)

  // Exactly one dead-letter record: bad-1, with the retry envelope. (The commit reached the end of
  // the input, so every dead-letter write was acknowledged before; the read lingers to see extras.)
  const readStarted = Date.now()
  const dead = await readTopicUntil(
    deadLetterTopic,
    (read) => read.length >= 1 && Date.now() - readStarted > 2000,
  )
  expect(dead).toHaveLength(1)
  const [record] = dead
  expect(record!.key).toBe('bad')
  expect(record!.value).toBe('bad-1')
  expect(record!.headers.get(DeadLetterHeaders.stage)).toBe('processing')
  expect(record!.headers.get(DeadLetterHeaders.errorClass)).toBe(
    'RetryExhaustedError(KSTREAMS_RETRY_EXHAUSTED)',
  )
  expect(record!.headers.get(DeadLetterHeaders.attempts)).toBe('3')
  expect(record!.headers.get(DeadLetterHeaders.causeMessage)).toBe('remote call for bad-1 refused')
  expect(record!.headers.get(DeadLetterHeaders.topic)).toBe(input)
  expect(record!.headers.get(DeadLetterHeaders.partition)).toBe('0')
  expect(record!.headers.get(DeadLetterHeaders.offset)).toBe('0')
  console.info(
    `key retry on the broker: ${messages.length} records; ${out.length} out, ${dead.length} dead-lettered; bad-1 attempts ${badTimes.length} (gaps ${gaps.join(', ')} ms), flaky-1 attempts ${attempts.get('flaky-1')!.length}; outputs of other keys after the first parked key's output: ${goodsAfter}; flaky-1 at output position ${out.indexOf('flaky-1')}, bad-2 at ${out.indexOf('bad-2')}`,
  )
})
