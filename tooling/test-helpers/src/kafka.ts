import {
  Admin,
  ConfigResourceTypes,
  Consumer,
  compatibilityPartitioner,
  IncrementalAlterConfigOperationTypes,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { onTestFinished } from 'vitest'
import { endpoints } from './endpoints.js'
import { uniqueName } from './unique-name.js'

export interface TestTopicSpec {
  /** Readable prefix; a unique suffix is appended. */
  prefix: string
  /** @default 1 */
  partitions?: number
  /** Extra topic configs, e.g. `cleanup.policy`. */
  configs?: Record<string, string>
}

function createAdmin(bootstrapServers: string[] = endpoints.kafkaBootstrapServers): Admin {
  return new Admin({
    clientId: uniqueName('test-admin'),
    bootstrapBrokers: bootstrapServers,
  })
}

/**
 * Creates uniquely named topics on the test broker and deletes them when the current test ends.
 * Returns the topic names in the order of `specs`.
 */
export async function createTestTopics(...specs: TestTopicSpec[]): Promise<string[]> {
  const names = await createTopicsOn(endpoints.kafkaBootstrapServers, specs)
  deleteTopicsWhenTestEnds(...names)
  return names
}

/** Creates uniquely named topics on the brokers at `bootstrapServers`; returns their names. */
export async function createTopicsOn(bootstrapServers: string[], specs: TestTopicSpec[]): Promise<string[]> {
  const admin = createAdmin(bootstrapServers)
  const names = specs.map((spec) => uniqueName(spec.prefix))
  try {
    for (const [index, spec] of specs.entries()) {
      await admin.createTopics({
        topics: [names[index]!],
        partitions: spec.partitions ?? 1,
        replicas: 1,
        configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({
          name,
          value,
        })),
      })
    }
  } finally {
    await admin.close()
  }
  return names
}

/** Deletes topics (e.g. ones the code under test created) when the current test ends. */
export function deleteTopicsWhenTestEnds(...names: string[]): void {
  onTestFinished(async () => {
    const cleanup = createAdmin()
    try {
      await cleanup.deleteTopics({ topics: names }).catch(() => {})
    } finally {
      await cleanup.close()
    }
  })
}

export interface TestMessage {
  key: string | null
  value: string | null
  partition?: number
  headers?: Record<string, string>
  /** Record timestamp, ms since the epoch. @default now */
  timestamp?: number
}

/** Produces string records with acks from all replicas (to the shared test broker by default). */
export async function produceStrings(
  topic: string,
  messages: TestMessage[],
  bootstrapServers: string[] = endpoints.kafkaBootstrapServers,
): Promise<void> {
  const producer = new Producer({
    // Kafka's Java default partitioner (murmur2 & 0x7fffffff), as kstreams and Kafka Streams use.
    partitioner: compatibilityPartitioner,
    clientId: uniqueName('test-producer'),
    bootstrapBrokers: bootstrapServers,
    serializers: stringSerializers,
    // Retries of a non-idempotent producer can write records twice, which tests would count.
    idempotent: true,
  })
  try {
    for (let start = 0; start < messages.length; start += 5000) {
      await producer.send({
        messages: messages.slice(start, start + 5000).map((message) => ({
          topic,
          key: message.key ?? undefined,
          value: message.value ?? undefined,
          partition: message.partition,
          timestamp: message.timestamp === undefined ? undefined : BigInt(message.timestamp),
          headers: message.headers ? new Map(Object.entries(message.headers)) : undefined,
        })),
        acks: -1,
      })
    }
  } finally {
    await producer.close()
  }
}

export interface ReadMessage {
  /** The key as UTF-8 text. */
  key: string | null
  keyBytes: Buffer | null
  /** The value as UTF-8 text. */
  value: string | null
  valueBytes: Buffer | null
  partition: number
  offset: bigint
  headers: Map<string, string>
}

/**
 * Reads `topic` from the beginning with a fresh group until `done(messages)` is true, and returns
 * what was read. Throws with what it has when `timeoutMs` passes first.
 */
export async function readTopicUntil(
  topic: string,
  done: (messages: ReadMessage[]) => boolean,
  timeoutMs = 60_000,
  bootstrapServers: string[] = endpoints.kafkaBootstrapServers,
): Promise<ReadMessage[]> {
  const consumer = new Consumer({
    groupId: uniqueName('test-reader'),
    clientId: uniqueName('test-reader'),
    bootstrapBrokers: bootstrapServers,
    deserializers: {
      ...stringDeserializers,
      key: (bytes?: Buffer) => bytes ?? null,
      value: (bytes?: Buffer) => bytes ?? null,
    },
    maxWaitTime: 200,
  })
  const messages: ReadMessage[] = []
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: 'earliest',
      autocommit: false,
    })
    const deadline = Date.now() + timeoutMs
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (done(messages)) finish()
        else if (Date.now() > deadline) {
          finish(
            new Error(`reading ${topic}: condition not met after ${timeoutMs} ms (${messages.length} read)`),
          )
        }
      }, 100)
      const finish = (error?: Error) => {
        clearInterval(timer)
        stream.removeAllListeners('data')
        if (error) reject(error)
        else resolve()
      }
      stream.on('data', (message) => {
        const headers = new Map<string, string>()
        for (const [name, value] of message.headers) headers.set(String(name), String(value))
        const key = message.key as unknown as Buffer | null
        messages.push({
          key: key === null ? null : key.toString('utf8'),
          keyBytes: key,
          value: message.value === null ? null : message.value.toString('utf8'),
          valueBytes: message.value,
          partition: message.partition,
          offset: message.offset,
          headers,
        })
      })
      stream.on('error', (error) => finish(error))
    })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return messages
}

/**
 * Sets the session timeout of one consumer group (a KIP-848 group config, Kafka 4.x), so a test
 * can expire a member quickly without changing the shared broker. The broker's
 * `group.consumer.min.session.timeout.ms` bounds it from below.
 */
export async function setGroupSessionTimeout(groupId: string, sessionTimeoutMs: number): Promise<void> {
  const admin = createAdmin()
  try {
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.GROUP,
          resourceName: groupId,
          configs: [
            {
              name: 'consumer.session.timeout.ms',
              configOperation: IncrementalAlterConfigOperationTypes.SET,
              value: String(sessionTimeoutMs),
            },
          ],
        },
      ],
    })
  } finally {
    await admin.close()
  }
}
