// Retries that park one key: a processor's `retry` option, on the real runtime over SimulatedKafka.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { expect, it } from 'vitest'
import {
  createApp,
  DeadLetterHeaders,
  type KStreamsApp,
  type Processor,
  type ProcessorContext,
  type RetryOptions,
  serdes,
  silentLogger,
  TopologyBuilder,
  TopologyError,
} from '../src/index.js'
import { SimulatedKafka } from '../src/testing/index.js'
import { until } from './until.js'

const decoder = new TextDecoder()
const text = (bytes: Uint8Array | null | undefined) => (bytes ? decoder.decode(bytes) : null)

interface Run {
  kafka: SimulatedKafka
  app: KStreamsApp
  /** Calls of the processor per record value. */
  calls: Map<string, number>
  outputs: () => string[]
  committed: () => bigint | undefined
}

/**
 * in → `call` (fails while `fails(value, attempt)` says so) → out, one partition. Records are
 * [key, value] pairs; the output carries the values in the order they were forwarded.
 */
async function run(
  records: Array<[string, string]>,
  options: {
    concurrency: 'partition' | 'key'
    retry: RetryOptions
    fails: (value: string, attempt: number) => boolean
    processingErrorPolicy?: 'fail' | 'continue' | 'dead-letter'
  },
): Promise<Run> {
  const kafka = new SimulatedKafka({ seed: 11 })
  kafka.createTopic('in', 1)
  kafka.createTopic('out', 1)
  kafka.createTopic('retry-app-dlq', 1)
  const calls = new Map<string, number>()
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'call',
      {
        parents: ['in'],
        concurrency: options.concurrency,
        ...(options.concurrency === 'key' ? { maxInFlight: 16 } : {}),
        retry: options.retry,
      },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: async (record) => {
            const attempt = (calls.get(record.value) ?? 0) + 1
            calls.set(record.value, attempt)
            await new Promise((resolve) => setTimeout(resolve, 1))
            if (options.fails(record.value, attempt))
              throw new Error(`remote call for ${record.value} refused`)
            context.forward(record)
          },
        }
      },
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['call'],
    })
    .build()
  kafka.produce(
    'in',
    records.map(([key, value]) => ({ key, value })),
  )
  const app = createApp(topology, {
    applicationId: 'retry-app',
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port('instance'),
    commitIntervalMs: 20,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
    processingErrorPolicy: options.processingErrorPolicy ?? 'fail',
  })
  await app.start()
  return {
    kafka,
    app,
    calls,
    outputs: () => kafka.records('out', 0).map((record) => text(record.value)!),
    committed: () => kafka.committed('retry-app', 'in', 0)?.offset,
  }
}

const input: Array<[string, string]> = [
  ['bad', 'bad-1'],
  ['g1', 'good-1'],
  ['g2', 'good-2'],
  ['bad', 'bad-2'],
  ['g3', 'good-3'],
  ['g1', 'good-4'],
]
const fastRetry = { initialMs: 40, multiplier: 1, jitter: 0 }

it('in key mode a failing record parks only its key: other keys go on, its later records wait behind it', async () => {
  const retries: unknown[] = []
  const onRetry = (message: unknown) => retries.push(message)
  subscribe('kstreams:processor:retry', onRetry)
  try {
    const { app, calls, outputs, committed, kafka } = await run(input, {
      concurrency: 'key',
      retry: { maxAttempts: 3, backoff: fastRetry },
      fails: (value, attempt) => value === 'bad-1' && attempt < 3,
    })
    await until(() => committed() === kafka.endOffset('in', 0))
    const out = outputs()
    expect(out).toHaveLength(input.length)
    expect(calls.get('bad-1')).toBe(3)
    // The other keys did not wait for the parked one; the parked key kept its order.
    for (const good of ['good-1', 'good-2', 'good-3', 'good-4']) {
      expect(out.indexOf(good)).toBeLessThan(out.indexOf('bad-1'))
    }
    expect(out.indexOf('bad-1')).toBeLessThan(out.indexOf('bad-2'))
    expect(out.indexOf('good-1')).toBeLessThan(out.indexOf('good-4'))
    expect(retries).toHaveLength(2)
    expect(retries[0]).toMatchObject({
      processor: 'call',
      topic: 'in',
      partition: 0,
      offset: 0n,
      attempt: 1,
      delayMs: 40,
    })
    await app.close()
  } finally {
    unsubscribe('kstreams:processor:retry', onRetry)
  }
})

it('in partition mode the task waits for the retried record: the output keeps the input order', async () => {
  const { app, calls, outputs, committed, kafka } = await run(input, {
    concurrency: 'partition',
    retry: { maxAttempts: 3, backoff: fastRetry },
    fails: (value, attempt) => value === 'bad-1' && attempt < 3,
  })
  await until(() => committed() === kafka.endOffset('in', 0))
  expect(outputs()).toEqual(input.map(([, value]) => value))
  expect(calls.get('bad-1')).toBe(3)
  await app.close()
})

it('exhausted retries follow the error policy: the dead-letter record carries attempts, cause and origin', async () => {
  const { app, calls, outputs, committed, kafka } = await run(input, {
    concurrency: 'key',
    retry: { maxAttempts: 3, backoff: fastRetry },
    fails: (value) => value === 'bad-1',
    processingErrorPolicy: 'dead-letter',
  })
  await until(() => committed() === kafka.endOffset('in', 0))
  expect(calls.get('bad-1')).toBe(3)
  expect(outputs()).not.toContain('bad-1')
  expect(outputs()).toContain('bad-2')
  const [dead, ...more] = kafka.records('retry-app-dlq', 0)
  expect(more).toHaveLength(0)
  const header = (name: string) => text(dead!.headers.find(([key]) => key === name)?.[1])
  expect(text(dead!.value)).toBe('bad-1')
  expect(header(DeadLetterHeaders.errorClass)).toBe('RetryExhaustedError(KSTREAMS_RETRY_EXHAUSTED)')
  expect(header(DeadLetterHeaders.attempts)).toBe('3')
  expect(header(DeadLetterHeaders.causeMessage)).toBe('remote call for bad-1 refused')
  expect(header(DeadLetterHeaders.topic)).toBe('in')
  expect(header(DeadLetterHeaders.partition)).toBe('0')
  expect(header(DeadLetterHeaders.offset)).toBe('0')
  expect(header(DeadLetterHeaders.errorMessage)).toMatch(
    /failed on the record at in\[0\]@0 in all 3 attempts/,
  )
  await app.close()
})

it('an error retryOn refuses is not retried, and under the fail policy exhaustion stops the app', async () => {
  const refused = await run(input, {
    concurrency: 'key',
    retry: { maxAttempts: 5, backoff: fastRetry, retryOn: (error) => !String(error).includes('bad-1') },
    fails: (value) => value === 'bad-1',
    processingErrorPolicy: 'continue',
  })
  await until(() => refused.committed() === refused.kafka.endOffset('in', 0))
  expect(refused.calls.get('bad-1')).toBe(1)
  await refused.app.close()

  const failing = await run(input, {
    concurrency: 'key',
    retry: { maxAttempts: 2, backoff: fastRetry },
    fails: (value) => value === 'bad-1',
  })
  const error = (await failing.app.done().catch((failure: unknown) => failure)) as Error & { code: string }
  expect(error.code).toBe('KSTREAMS_RETRY_EXHAUSTED')
  expect(failing.calls.get('bad-1')).toBe(2)
  // Nothing at or past the failed record was committed.
  expect(failing.committed() ?? 0n).toBe(0n)
})

it('a parked record does not hold commits back: completed records of other keys are committed in the map meanwhile', async () => {
  const { app, committed, kafka } = await run(input, {
    concurrency: 'key',
    retry: { maxAttempts: 2, backoff: { initialMs: 1500, jitter: 0 } },
    fails: (value, attempt) => value === 'bad-1' && attempt < 2,
  })
  // While bad-1 waits 1.5 s, a commit records the other keys' completed offsets above it.
  await until(
    () => (kafka.committed('retry-app', 'in', 0)?.metadata ?? '').match(/"(completed|bits)"/) !== null,
    1000,
  )
  expect(committed()).toBe(0n)
  await until(() => committed() === kafka.endOffset('in', 0))
  await app.close()
})

it('checks the retry option when the topology is built', () => {
  const build = (retry: unknown) =>
    new TopologyBuilder()
      .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('p', { parents: ['in'], retry: retry as RetryOptions }, () => ({ process: () => {} }))
  expect(() => build({ maxAttempts: 0 })).toThrow(TopologyError)
  expect(() => build({ maxAttempts: 0 })).toThrow(
    /"retry.maxAttempts" must be an integer of at least 1, got 0/,
  )
  expect(() => build({ maxAttempts: 3, backoff: { jitter: 2 } })).toThrow(
    /"retry.backoff.jitter" must be a number from 0 to 1, got 2/,
  )
  expect(() => build({ maxAttempts: 3, backoff: { initialMs: 500, maxMs: 100 } })).toThrow(
    /retry.backoff.maxMs/,
  )
  expect(() => build({ maxAttempts: 3 })).not.toThrow()
})

it('progress says why a partition does not move: the head-of-line record retrying, its key, attempt and age', async () => {
  const published: unknown[] = []
  const onProgress = (message: unknown) => published.push(message)
  subscribe('kstreams:partition:progress', onProgress)
  try {
    const { app, kafka, committed } = await run(input, {
      concurrency: 'key',
      retry: { maxAttempts: 3, backoff: { initialMs: 800, jitter: 0 } },
      fails: (value, attempt) => value === 'bad-1' && attempt < 3,
    })
    await until(() => app.progress()[0]?.completed === 4)
    const [progress] = app.progress()
    expect(progress).toMatchObject({
      taskId: '0_0',
      topic: 'in',
      partition: 0,
      inFlight: 2,
      retrying: 1,
      waiting: 1,
      position: 0n,
      completed: 4,
      heldBack: false,
      headOfLine: { offset: 0n, state: 'retrying', attempt: 1 },
    })
    expect(text(progress!.headOfLine!.key)).toBe('bad')
    expect(progress!.headOfLine!.ageMs).toBeGreaterThanOrEqual(0)
    expect(progress!.mapCharacters).toBeGreaterThan(0)
    await until(() => published.length > 0)
    expect(published[0]).toMatchObject({ taskId: '0_0', topic: 'in', partition: 0 })
    await until(() => committed() === kafka.endOffset('in', 0))
    expect(app.progress()[0]).toMatchObject({
      inFlight: 0,
      completed: 0,
      position: 6n,
      headOfLine: undefined,
    })
    await app.close()
  } finally {
    unsubscribe('kstreams:partition:progress', onProgress)
  }
})
