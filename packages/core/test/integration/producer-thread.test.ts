// The producer on its own thread (`producerThread`), on the shared broker: it writes as the
// main-thread producer does (every record once, offsets, order per partition, the same errors),
// a thread that dies fails its sends with a clear error instead of hanging them, and a closed
// producer lets the process end. Needs dist built: the thread runs the compiled entry.
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
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
  createApp,
  createPlatformaticKafkaPort,
  KafkaError,
  type ProduceRecord,
  type ProducerPort,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../../src/index.js'
import { ConnectivityTracker } from '../../src/kafka/platformatic-connectivity.js'
import type { ProducerWorkerData } from '../../src/kafka/producer-thread-protocol.js'
import { WorkerProducer } from '../../src/kafka/worker-producer.js'

const encoder = new TextEncoder()

function threadProducer(options: { deliveryTimeoutMs?: number } = {}): ProducerPort {
  const producer = createPlatformaticKafkaPort({
    bootstrapServers: endpoints.kafkaBootstrapServers,
    producerThread: true,
  }).createProducer({ clientId: uniqueName('thread-producer'), ...options })
  expect(producer).toBeInstanceOf(WorkerProducer)
  onTestFinished(() => producer.close())
  return producer
}

function batch(topic: string, from: number, count: number, partitions: number): ProduceRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    topic,
    partition: (from + index) % partitions,
    key: encoder.encode(`key-${from + index}`),
    value: encoder.encode(`value-${from + index}`),
    timestamp: 1_700_000_000_000 + from + index,
    headers: [['n', encoder.encode(String(from + index))] as const],
  }))
}

describe('the producer on a worker thread', () => {
  it('writes concurrent sends once each, in order per partition, with their base offsets', async () => {
    const [topic] = await createTestTopics({ prefix: 'thread-order', partitions: 3 })
    const producer = threadProducer()
    // 8 sends in flight at once, as the record collector makes them.
    const sizes = [1, 50, 7, 300, 2, 120, 33, 5]
    const starts = sizes.map((_, index) => sizes.slice(0, index).reduce((sum, size) => sum + size, 0))
    const results = await Promise.all(
      sizes.map((size, index) => producer.send(batch(topic!, starts[index]!, size, 3))),
    )
    // Each send's first offset in a partition is the number of records earlier sends put there.
    const written = [0, 0, 0]
    results.forEach((offsets, index) => {
      const inSend = [0, 0, 0]
      for (let record = starts[index]!; record < starts[index]! + sizes[index]!; record += 1)
        inSend[record % 3]! += 1
      const expected = [0, 1, 2]
        .filter((partition) => inSend[partition]! > 0)
        .map((partition) => ({ topic, partition, baseOffset: BigInt(written[partition]!) }))
      expect(
        [...offsets].sort((a, b) => a.partition - b.partition),
        `send ${index}`,
      ).toEqual(expected)
      for (const partition of [0, 1, 2]) written[partition]! += inSend[partition]!
    })
    const total = sizes.reduce((sum, size) => sum + size, 0)
    const messages = await readTopicUntil(topic!, (read) => read.length >= total)
    expect(messages).toHaveLength(total)
    for (const partition of [0, 1, 2]) {
      const values = messages.filter((message) => message.partition === partition)
      const numbers = values.map((message) => Number(message.value!.slice('value-'.length)))
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b))
      expect(values.map((message) => message.offset)).toEqual(values.map((_, index) => BigInt(index)))
      expect(values.every((message) => message.headers.get('n') === message.value!.slice(6))).toBe(true)
    }
  })

  it('packs later sends into the buffers of acknowledged ones without changing what was written', async () => {
    const [topic] = await createTestTopics({ prefix: 'thread-reuse', partitions: 1 })
    const producer = threadProducer()
    // Large, then small, then large again: each batch is packed over the bytes of an earlier one.
    const sizes = [300, 5, 120, 1, 50, 300]
    const expected: string[] = []
    for (const [round, size] of sizes.entries()) {
      const records = Array.from({ length: size }, (_, index) => ({
        topic: topic!,
        partition: 0,
        key: index % 3 === 0 ? null : encoder.encode(`k${round}-${index}`),
        value: encoder.encode(`${round}-${index}-${'x'.repeat((round * 37 + index) % 200)}`),
      }))
      expected.push(...records.map((record) => new TextDecoder().decode(record.value)))
      await producer.send(records)
    }
    const messages = await readTopicUntil(topic!, (read) => read.length >= expected.length)
    expect(messages.map((message) => message.value)).toEqual(expected)
    expect(messages.filter((message) => message.key === null)).toHaveLength(
      sizes.reduce((sum, size) => sum + Math.ceil(size / 3), 0),
    )
  })

  it('keeps the order of concurrent sends when an earlier one names a topic the producer has not seen', async () => {
    const [out, other] = await createTestTopics(
      { prefix: 'thread-order', partitions: 1 },
      { prefix: 'thread-order-new', partitions: 1 },
    )
    const producer = threadProducer()
    const record = (topic: string, value: string) => ({
      topic,
      partition: 0,
      key: encoder.encode('k'),
      value: encoder.encode(value),
    })
    await producer.send([record(out!, 'first')])
    const [one, two] = await Promise.all([
      producer.send([record(out!, 'second'), record(other!, 'x')]),
      producer.send([record(out!, 'third')]),
    ])
    const offsetIn = (produced: typeof one) => produced.find((offset) => offset.topic === out)!.baseOffset
    expect(offsetIn(one)).toBe(1n)
    expect(offsetIn(two)).toBe(2n)
  })

  it('fails a send to a missing topic with the error the main-thread producer gives', async () => {
    const missing = uniqueName('thread-missing')
    const send = (producerThread: boolean) => {
      const producer = createPlatformaticKafkaPort({
        bootstrapServers: endpoints.kafkaBootstrapServers,
        producerThread,
      }).createProducer({ clientId: uniqueName('missing-producer'), deliveryTimeoutMs: 2000 })
      onTestFinished(() => producer.close())
      return producer.send(batch(missing, 0, 3, 1)).then(
        () => undefined,
        (error: unknown) => error as KafkaError,
      )
    }
    const [inThread, onThread] = await Promise.all([send(false), send(true)])
    expect(onThread).toBeInstanceOf(KafkaError)
    // Durations differ from run to run: the rest of the message is the same.
    const shape = (error: KafkaError | undefined) => ({
      name: error?.name,
      code: error?.code,
      retriable: error?.retriable,
      message: error?.message.replace(/\d+\.\d s/g, 'N s'),
      context: { ...error?.context, elapsedMs: 0 },
      cause: (error?.cause as Error | undefined)?.message,
    })
    expect(shape(onThread)).toEqual(shape(inThread))
    expect(onThread!.message).toContain(`producing 3 record(s) to ${missing}`)
  })

  it.each(['exit', 'throw'] as const)(
    'fails the sends in flight and later ones with a KafkaError naming the thread when it dies (%s)',
    async (crash) => {
      const [topic] = await createTestTopics({ prefix: 'thread-crash', partitions: 1 })
      const data: ProducerWorkerData & { crash: string } = {
        port: { bootstrapServers: endpoints.kafkaBootstrapServers },
        producer: { clientId: uniqueName('crash-producer') },
        crash,
      }
      const fixture = new URL('./fixtures/crashing-producer-worker.mjs', import.meta.url)
      const producer = new WorkerProducer(data, new ConnectivityTracker(data.port.bootstrapServers), fixture)
      onTestFinished(() => producer.close())
      expect(await producer.send(batch(topic!, 0, 5, 1))).toEqual([{ topic, partition: 0, baseOffset: 0n }])
      // The second send reaches the thread, which dies before the broker answers.
      const inFlight = [producer.send(batch(topic!, 5, 5, 1)), producer.send(batch(topic!, 10, 5, 1))]
      const failures = await Promise.all(
        inFlight.map((send) =>
          send.then(
            () => undefined,
            (error) => error,
          ),
        ),
      )
      const reason = crash === 'exit' ? 'exited with code 3' : 'failed: the producer thread blew up'
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(KafkaError)
        expect(failure).toMatchObject({ code: 'KSTREAMS_KAFKA', retriable: false })
        expect(failure.message).toContain(
          `the producer thread (thread ${(producer as WorkerProducer).threadId}) ${reason}`,
        )
        expect(failure.message).toContain(`producing 5 record(s) to ${topic}`)
      }
      const later = await producer.send(batch(topic!, 15, 1, 1)).then(
        () => undefined,
        (error) => error,
      )
      expect(later).toBeInstanceOf(KafkaError)
      expect(later.message).toContain(reason)
      await producer.close()
    },
  )

  it('runs an application, and lets the process end once the producer is closed', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'thread-app-in', partitions: 2 },
      { prefix: 'thread-app-out', partitions: 2 },
    )
    const topology = new TopologyBuilder()
      .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addSink('out', {
        topic: output!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['in'],
      })
      .build()
    const app = createApp(topology, {
      applicationId: uniqueName('thread-app'),
      bootstrapServers: endpoints.kafkaBootstrapServers,
      producerThread: true,
      onFatalError: () => {},
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
    })
    onTestFinished(() => app.close())
    const sent = Array.from({ length: 500 }, (_, index) => ({ key: `k${index % 13}`, value: `v${index}` }))
    await produceStrings(input!, sent)
    await app.start()
    const messages = await readTopicUntil(output!, (read) => read.length >= sent.length)
    // Per key (one partition each), the order of the input.
    for (const key of new Set(sent.map((message) => message.key))) {
      expect(messages.filter((message) => message.key === key).map((message) => message.value)).toEqual(
        sent.filter((message) => message.key === key).map((message) => message.value),
      )
    }
    await app.close()
    expect(app.state).toBe('not-running')

    const child = spawnNodeScript(
      fileURLToPath(new URL('./fixtures/producer-thread-exit.mjs', import.meta.url)),
      {
        KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
        OUTPUT_TOPIC: output,
      },
    )
    await child.waitFor('closed', 60_000)
    // A thread still referenced would keep it running: it must end on its own, at once.
    const exited =
      child.child.exitCode === null
        ? await Promise.race([once(child.child, 'exit'), sleep(10_000).then(() => ['still running'])])
        : [child.child.exitCode]
    expect(exited[0]).toBe(0)
    expect(child.output()).toMatch(/sent at \d+/)
  }, 120_000)
})
