import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createTestTopics, endpoints, produceStrings, readTopicUntil } from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  defaultPartition,
  murmur2,
  serdes,
  silentLogger,
  TopologyBuilder,
} from '../../src/index.js'

const kafkaScript = fileURLToPath(new URL('../../../../tooling/services/kafka.sh', import.meta.url))

/** Writes `key|value` lines with Kafka's own console producer (the Java client's default partitioner). */
function javaConsoleProduce(topic: string, lines: string[]): void {
  const result = spawnSync(
    'bash',
    [
      kafkaScript,
      'tool',
      'org.apache.kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      endpoints.kafkaBootstrapServers.join(','),
      '--topic',
      topic,
      '--property',
      'parse.key=true',
      '--property',
      'key.separator=|',
    ],
    { input: `${lines.join('\n')}\n`, encoding: 'utf8', timeout: 90_000 },
  )
  if (result.status !== 0) throw new Error(`console producer failed (${result.status}): ${result.stderr}`)
}

describe('default partitioner on a real broker', () => {
  it('puts a key where Kafka’s console producer (Java client) puts it', async () => {
    const [input, shared] = await createTestTopics(
      { prefix: 'partitioner-in', partitions: 1 },
      { prefix: 'partitioner-shared', partitions: 12 },
    )
    // 60 keys; about half of them hash to a negative murmur2, where a `>>> 0` partitioner differs.
    const keys = Array.from({ length: 60 }, (_, index) => `user-${index * 7919}`)
    javaConsoleProduce(
      shared!,
      keys.map((key) => `${key}|java`),
    )
    const topology = new TopologyBuilder()
      .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addSink('out', {
        topic: shared!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['in'],
      })
      .build()
    const app = createApp(topology, {
      applicationId: `partitioner-${Date.now()}`,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
    })
    onTestFinished(() => app.close())
    await produceStrings(
      input!,
      keys.map((key) => ({ key, value: 'kstreams' })),
    )
    await app.start()
    const messages = await readTopicUntil(shared!, (read) => read.length >= keys.length * 2)
    const partitionsOf = new Map<string, { java?: number; kstreams?: number }>()
    for (const message of messages) {
      const entry = partitionsOf.get(message.key!) ?? {}
      entry[message.value as 'java' | 'kstreams'] = message.partition
      partitionsOf.set(message.key!, entry)
    }
    const encoder = new TextEncoder()
    let negative = 0
    for (const key of keys) {
      const { java, kstreams } = partitionsOf.get(key)!
      expect({ key, partition: kstreams }).toEqual({ key, partition: java })
      expect(defaultPartition(encoder.encode(key), 12)).toBe(java)
    }
    // The keys must include ones where the old `>>> 0` rule picks another partition.
    for (const key of keys) if (murmur2(encoder.encode(key)) < 0) negative += 1
    expect(negative).toBeGreaterThan(10)
  })
})
