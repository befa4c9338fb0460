import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  channels,
  createApp,
  createPlatformaticKafkaPort,
  type ProcessorContext,
  serdes,
  silentLogger,
  TopologyBuilder,
  TopologyError,
} from '../../src/index.js'

const failingApp = fileURLToPath(new URL('./fixtures/failing-app.mjs', import.meta.url))

interface Seen {
  count: number
  inFlight: number
  maxInFlight: number
}

function slowCopy(input: string, output: string, delayMs: number, seen: Seen) {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('remote-call', { parents: ['input'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: async (record) => {
          seen.inFlight += 1
          seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight)
          await new Promise((resolve) => setTimeout(resolve, delayMs))
          seen.inFlight -= 1
          seen.count += 1
          context.forward(record)
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['remote-call'],
    })
    .build()
}

async function committedTotal(groupId: string, topic: string, partitions: number): Promise<bigint> {
  const consumer = createPlatformaticKafkaPort({
    bootstrapServers: endpoints.kafkaBootstrapServers,
  }).createConsumer({
    groupId,
    clientId: uniqueName('inspect'),
    topics: [topic],
    listener: { onAssigned: async () => {}, onRevoked: async () => {}, onLost: async () => {} },
  })
  try {
    const committed = await consumer.committed(
      Array.from({ length: partitions }, (_, partition) => ({ topic, partition })),
    )
    let total = 0n
    for (const entry of committed.values()) total += entry?.offset ?? 0n
    return total
  } finally {
    await consumer.close()
  }
}

describe('liveness of the runtime on a real broker', () => {
  it('runs tasks concurrently, commits on time and closes promptly with a processor that awaits 10 ms', async () => {
    const partitions = 6
    const [input, output] = await createTestTopics(
      { prefix: 'slow-in', partitions },
      { prefix: 'slow-out', partitions },
    )
    const applicationId = uniqueName('slow')
    await produceStrings(
      input!,
      Array.from({ length: 3000 }, (_, index) => ({ key: `key-${index}`, value: `value-${index}` })),
    )
    const seen: Seen = { count: 0, inFlight: 0, maxInFlight: 0 }
    const commits: Array<{ partitions: number; processed: number }> = []
    const onCommit = (message: unknown) =>
      commits.push({ partitions: (message as { partitions: number }).partitions, processed: seen.count })
    channels.commit.subscribe(onCommit)
    onTestFinished(() => channels.commit.unsubscribe(onCommit))
    const app = createApp(slowCopy(input!, output!, 10, seen), {
      applicationId,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      commitIntervalMs: 300,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    onTestFinished(() => app.close())
    await app.start()
    // Six tasks await their 10 ms calls side by side: far more than 100 records per second.
    const started = Date.now()
    while (seen.count < 600 && Date.now() - started < 30_000)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(seen.count).toBeGreaterThanOrEqual(600)
    // Commits went on while records were still being processed (not only between passes).
    expect(commits.some((commit) => commit.partitions > 0 && commit.processed < 3000)).toBe(true)
    await app.close()
    expect(app.state).toBe('not-running')
    // Close committed everything processed: a restart would repeat nothing that finished.
    expect(await committedTotal(applicationId, input!, partitions)).toBe(BigInt(seen.count))
    expect(seen.count).toBeLessThan(3000)
  })

  it('ends a process whose app failed with exit code 1 by default, after writing what was processed before', async () => {
    const [input, output] = await createTestTopics({ prefix: 'exit-in' }, { prefix: 'exit-out' })
    await produceStrings(input!, [
      { key: 'a', value: 'one' },
      { key: 'a', value: 'boom' },
      { key: 'a', value: 'two' },
    ])
    const child = spawnNodeScript(failingApp, {
      APP_ID: uniqueName('exit'),
      INPUT_TOPIC: input!,
      OUTPUT_TOPIC: output!,
      KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
    })
    const [code] = await once(child.child, 'exit')
    expect(code).toBe(1)
    expect(child.output()).toContain('state error')
    const out = await readTopicUntil(output!, (messages) => messages.length >= 1)
    expect(out.map((message) => message.value)).toEqual(['one'])
  })

  it('refuses to start when a sink topic does not exist, before reading any record', async () => {
    const [input] = await createTestTopics({ prefix: 'nosink-in' })
    const missing = uniqueName('missing-sink')
    const seen: Seen = { count: 0, inFlight: 0, maxInFlight: 0 }
    await produceStrings(input!, [{ key: 'a', value: 'one' }])
    const app = createApp(slowCopy(input!, missing, 0, seen), {
      applicationId: uniqueName('nosink'),
      bootstrapServers: endpoints.kafkaBootstrapServers,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    const error = await app.start().then(
      () => undefined,
      (failure: unknown) => failure,
    )
    expect(error).toBeInstanceOf(TopologyError)
    expect((error as TopologyError).message).toContain(`sink topic(s) "${missing}" do not exist`)
    expect(app.state).toBe('error')
    expect(seen.count).toBe(0)
  })
})
