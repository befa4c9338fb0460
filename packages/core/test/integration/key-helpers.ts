// Helpers shared by the key-mode integration tests (key-*.test.ts): what a group committed on the
// broker, read back with the committed completed-offset map decoded, and a polling wait.
import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { createPlatformaticKafkaPort } from '../../src/index.js'
import { topicPartitionKey } from '../../src/kafka/kafka-port.js'
import { decodeCommitMetadata } from '../../src/runtime/commit-metadata.js'

export interface CommittedPartition {
  partition: number
  /** The committed offset (next to read); 0 when nothing was committed. */
  offset: bigint
  /** The commit metadata as the broker returned it ('' when none). */
  metadata: string
  /** The offsets the committed completed-offset map lists (done above `offset`). */
  completed: Set<bigint>
}

/** True when the group's commit covers `offset`: below the committed offset, or in the map. */
export function isCommitted(committed: CommittedPartition, offset: bigint): boolean {
  return offset < committed.offset || committed.completed.has(offset)
}

/** The committed offsets and metadata of `groupId` for `topic`'s partitions, from the broker. */
export async function readCommitted(
  groupId: string,
  topic: string,
  partitions: number,
): Promise<CommittedPartition[]> {
  const kafka = createPlatformaticKafkaPort({ bootstrapServers: endpoints.kafkaBootstrapServers })
  // Never subscribed: it only asks the coordinator for the group's committed offsets.
  const consumer = kafka.createConsumer({
    groupId,
    clientId: uniqueName('inspect-committed'),
    topics: [topic],
    listener: { onAssigned: async () => {}, onRevoked: async () => {}, onLost: async () => {} },
  })
  try {
    const list = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }))
    const committed = await consumer.committed(list)
    return list.map(({ partition }) => {
      const entry = committed.get(topicPartitionKey(topic, partition)) ?? null
      const offset = entry?.offset ?? 0n
      const metadata = entry?.metadata ?? ''
      const decoded = decodeCommitMetadata(metadata, offset)
      return { partition, offset, metadata, completed: new Set(decoded?.completed ?? []) }
    })
  } finally {
    await consumer.close()
  }
}

/** Polls `condition` every 20 ms; throws naming `what` when `timeoutMs` passes first. */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
