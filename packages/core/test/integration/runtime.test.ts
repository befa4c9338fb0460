import { fileURLToPath } from 'node:url'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  createPlatformaticKafkaPort,
  DeadLetterHeaders,
  type KStreamsApp,
  ProcessingError,
  type ProcessorContext,
  type StreamsConfig,
  serdes,
  silentLogger,
  type Topology,
  TopologyBuilder,
} from '../../src/index.js'
import { containsAll, values } from './messages.js'

const fixture = fileURLToPath(new URL('./fixtures/pass-through-app.mjs', import.meta.url))

function copyTopology(input: string, output: string, onRecord?: (value: string) => void): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('copy', { parents: ['input'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          onRecord?.(record.value)
          context.forward(record)
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['copy'],
    })
    .build()
}

function startApp(
  topology: Topology,
  config: Partial<StreamsConfig> & { applicationId: string },
): KStreamsApp {
  const app = createApp(topology, {
    bootstrapServers: endpoints.kafkaBootstrapServers,
    // A failure is asserted through done(), not by exiting the test process.
    onFatalError: () => {},
    commitIntervalMs: 200,
    handleSignals: false,
    logger: silentLogger,
    ...config,
  })
  onTestFinished(() => app.close())
  return app
}

function duplicates(messages: ReadMessage[]): number {
  return messages.length - new Set(messages.map((message) => message.value)).size
}

describe('the at-least-once runtime on a real broker', () => {
  it('counts words end to end', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'words-in', partitions: 3 },
      { prefix: 'words-out', partitions: 3 },
    )
    const topology = new TopologyBuilder()
      .addSource('lines', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('count', { parents: ['lines'] }, () => {
        let context: ProcessorContext<string, string>
        const counts = new Map<string, number>()
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: (record) => {
            for (const word of record.value.toLowerCase().split(/\W+/).filter(Boolean)) {
              const count = (counts.get(word) ?? 0) + 1
              counts.set(word, count)
              context.forward({ key: word, value: String(count), timestamp: record.timestamp, headers: [] })
            }
          },
        }
      })
      .addSink('counts', {
        topic: output!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['count'],
      })
      .build()
    // One key, so every line lands on one partition and one task counts them all.
    await produceStrings(input!, [
      { key: 'doc', value: 'the quick brown fox' },
      { key: 'doc', value: 'the lazy dog' },
      { key: 'doc', value: 'The end' },
    ])
    const app = startApp(topology, { applicationId: uniqueName('word-count') })
    await app.start()
    const messages = await readTopicUntil(output!, (read) => read.length >= 9)
    const latest = new Map(messages.map((message) => [message.key, message.value]))
    expect(Object.fromEntries(latest)).toEqual({
      the: '3',
      quick: '1',
      brown: '1',
      fox: '1',
      lazy: '1',
      dog: '1',
      end: '1',
    })
    await app.close()
    expect(app.state).toBe('not-running')
  })

  it('loses nothing while instances join and leave mid-stream', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'rebalance-in', partitions: 6 },
      { prefix: 'rebalance-out', partitions: 6 },
    )
    const applicationId = uniqueName('rebalance')
    const topology = copyTopology(input!, output!)
    const first = startApp(topology, { applicationId })
    await first.start()
    const batchA = values(3000, 'a')
    await produceStrings(input!, batchA)
    const second = startApp(topology, { applicationId })
    await second.start()
    const batchB = values(3000, 'b')
    await produceStrings(input!, batchB)
    const third = startApp(topology, { applicationId })
    await third.start()
    await first.close()
    const batchC = values(3000, 'c')
    await produceStrings(input!, batchC)
    const expected = [...batchA, ...batchB, ...batchC].map((record) => record.value)
    const messages = await readTopicUntil(output!, containsAll(expected), 90_000)
    expect(new Set(messages.map((message) => message.value)).size).toBe(expected.length)
    const owned = [second, third].map((app) => app.assignment().length)
    expect(owned.reduce((sum, count) => sum + count, 0)).toBe(6)
    console.info(
      `rebalance: ${expected.length} records in, ${messages.length} out, ${duplicates(messages)} duplicate(s)`,
    )
    await Promise.all([second.close(), third.close()])
    expect(first.state).toBe('not-running')
  })

  it('loses nothing when an instance is killed with SIGKILL and restarted', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'crash-in', partitions: 3 },
      { prefix: 'crash-out', partitions: 3 },
    )
    const applicationId = uniqueName('crash')
    const spawnApp = async () => {
      const app = spawnNodeScript(fixture, {
        APP_ID: applicationId,
        INPUT_TOPIC: input,
        OUTPUT_TOPIC: output,
        KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      })
      await app.waitFor('state running')
      return app
    }
    const records = values(20_000, 'crash')
    await produceStrings(input!, records)
    const victim = await spawnApp()
    await readTopicUntil(output!, (read) => read.length >= 4000, 60_000)
    await victim.kill()
    await spawnApp()
    const expected = records.map((record) => record.value)
    const messages = await readTopicUntil(output!, containsAll(expected), 120_000)
    expect(new Set(messages.map((message) => message.value)).size).toBe(expected.length)
    console.info(
      `crash: ${expected.length} records in, ${messages.length} out, ${duplicates(messages)} duplicate(s) replayed after SIGKILL`,
    )
  })

  it('sends a poison record to the dead-letter topic with its headers and goes on', async () => {
    const [input, output] = await createTestTopics({ prefix: 'poison-in' }, { prefix: 'poison-out' })
    const deadLetterTopic = uniqueName('poison-dlq')
    deleteTopicsWhenTestEnds(deadLetterTopic)
    const topology = new TopologyBuilder()
      .addSource('input', {
        topics: [input!],
        keySerde: serdes.string(),
        valueSerde: serdes.json<{ amount: number }>(),
      })
      .addProcessor('double', { parents: ['input'] }, () => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: (record) => context.forward({ ...record, value: String(record.value.amount * 2) }),
        }
      })
      .addSink('output', {
        topic: output!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['double'],
      })
      .build()
    await produceStrings(input!, [
      { key: 'a', value: '{"amount":1}' },
      { key: 'b', value: 'not json', headers: { trace: 'abc' } },
      { key: 'c', value: '{"amount":3}' },
    ])
    const app = startApp(topology, {
      applicationId: uniqueName('poison'),
      deserializationErrorPolicy: 'dead-letter',
      deadLetterTopic,
    })
    await app.start()
    const out = await readTopicUntil(output!, (read) => read.length >= 2)
    expect(out.map((message) => message.value)).toEqual(['2', '6'])
    const [dead] = await readTopicUntil(deadLetterTopic, (read) => read.length >= 1)
    expect(dead!.key).toBe('b')
    expect(dead!.value).toBe('not json')
    expect(dead!.headers.get('trace')).toBe('abc')
    expect(dead!.headers.get(DeadLetterHeaders.stage)).toBe('deserialization')
    expect(dead!.headers.get(DeadLetterHeaders.errorClass)).toContain('SerdeError')
    expect(dead!.headers.get(DeadLetterHeaders.topic)).toBe(input)
    expect(dead!.headers.get(DeadLetterHeaders.partition)).toBe('0')
    expect(dead!.headers.get(DeadLetterHeaders.offset)).toBe('1')
    expect(dead!.headers.get(DeadLetterHeaders.errorMessage)).toContain('JSON')
    expect(app.state).toBe('running')
  })

  it('stops on a processing error under the fail policy without committing past the bad record', async () => {
    const [input, output] = await createTestTopics({ prefix: 'fail-in' }, { prefix: 'fail-out' })
    const applicationId = uniqueName('fail')
    const topology = copyTopology(input!, output!, (value) => {
      if (value === 'boom') throw new Error('cannot handle boom')
    })
    const before = values(500, 'ok')
    await produceStrings(input!, [...before, { key: 'x', value: 'boom' }, ...values(500, 'after')])
    const app = startApp(topology, { applicationId, commitIntervalMs: 50 })
    await app.start()
    const error = await app.done().then(
      () => undefined,
      (failure: unknown) => failure,
    )
    expect(error).toBeInstanceOf(ProcessingError)
    expect((error as ProcessingError).message).toContain('processor "copy"')
    expect((error as ProcessingError).context.offset).toBe(500n)
    expect(app.state).toBe('error')
    const kafka = createPlatformaticKafkaPort({ bootstrapServers: endpoints.kafkaBootstrapServers })
    const consumer = kafka.createConsumer({
      groupId: applicationId,
      clientId: uniqueName('inspect'),
      topics: [input!],
      listener: { onAssigned: async () => {}, onRevoked: async () => {}, onLost: async () => {} },
    })
    onTestFinished(() => consumer.close())
    const committed = await consumer.committed([{ topic: input!, partition: 0 }])
    const offset = [...committed.values()][0]?.offset ?? 0n
    expect(offset).toBeLessThanOrEqual(500n)
    const out = await readTopicUntil(output!, (read) => read.length >= 500)
    expect(out.some((message) => message.value?.startsWith('after'))).toBe(false)
  })
})
