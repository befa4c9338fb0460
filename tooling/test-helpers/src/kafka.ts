import { Admin } from '@platformatic/kafka'
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

/**
 * Creates uniquely named topics on the test broker and deletes them when the current test ends.
 * Returns the topic names in the order of `specs`.
 */
export async function createTestTopics(...specs: TestTopicSpec[]): Promise<string[]> {
  const admin = new Admin({ clientId: uniqueName('test-admin'), bootstrapBrokers: endpoints.kafkaBootstrapServers })
  const names = specs.map((spec) => uniqueName(spec.prefix))
  try {
    for (const [index, spec] of specs.entries()) {
      await admin.createTopics({
        topics: [names[index]!],
        partitions: spec.partitions ?? 1,
        replicas: 1,
        configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
      })
    }
  } finally {
    await admin.close()
  }
  onTestFinished(async () => {
    const cleanup = new Admin({ clientId: uniqueName('test-admin'), bootstrapBrokers: endpoints.kafkaBootstrapServers })
    try {
      await cleanup.deleteTopics({ topics: names })
    } finally {
      await cleanup.close()
    }
  })
  return names
}
