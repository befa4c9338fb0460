// Internal topics: topics the application owns (repartition topics today; the joins add
// subscription and response topics). A topology declares one by a short name such as
// `count-repartition`; sources and fixed sinks refer to it by that name, and at start the topology
// is resolved for the application, so that every such reference becomes
// `<applicationId>-<name>`, as in Kafka Streams. The runtime creates them (topics.ts) before it
// reads a record; the test driver routes what is written to them back into the topology.
import { TopologyError } from './errors.js'

/** How many partitions an internal topic gets. */
export type InternalTopicPartitions =
  | number
  /** The largest partition count of these topics (user topics or other internal topics' names). */
  | { sameAs: readonly string[] }

export interface InternalTopicOptions {
  /**
   * A fixed count, or `{ sameAs: [topics] }`: the largest partition count of those topics at start
   * (so a repartition topic gets its upstream source's count, as in Kafka Streams).
   * @example partitions: { sameAs: ['orders'] }
   */
  partitions: InternalTopicPartitions
  /** What the topic is for, shown by describe(). @default 'repartition' */
  kind?: 'repartition' | 'subscription' | 'response' | 'internal'
  /** Extra topic configs at creation (a repartition topic is `cleanup.policy=delete`). @default {} */
  configs?: { [name: string]: string }
}

export interface InternalTopic {
  /** The name the topology uses, e.g. `count-repartition`. */
  name: string
  /** `<applicationId>-<name>` once resolved; undefined before. */
  topic: string | undefined
  partitions: InternalTopicPartitions
  kind: NonNullable<InternalTopicOptions['kind']>
  configs: { [name: string]: string }
}

const LEGAL = /^[A-Za-z0-9._-]+$/

/** Checks an internal topic's declaration. */
export function internalTopic(name: string, options: InternalTopicOptions): InternalTopic {
  if (typeof name !== 'string' || !LEGAL.test(name)) {
    throw new TopologyError(
      `internal topic name ${JSON.stringify(name)} must be non-empty and use only letters, digits, ".", "_" and "-"`,
      { context: { topic: String(name) } },
    )
  }
  const partitions = options?.partitions
  const fixed = typeof partitions === 'number'
  if (fixed ? !Number.isInteger(partitions) || partitions < 1 : !isSameAs(partitions)) {
    throw new TopologyError(
      `internal topic "${name}": "partitions" must be an integer of at least 1 or { sameAs: ['<topic>', …] }, got ${JSON.stringify(partitions)}`,
      { context: { topic: name, option: 'partitions' } },
    )
  }
  return {
    name,
    topic: undefined,
    partitions: fixed ? partitions : { sameAs: [...(partitions as { sameAs: string[] }).sameAs] },
    kind: options.kind ?? 'repartition',
    configs: { ...options.configs },
  }
}

function isSameAs(partitions: unknown): partitions is { sameAs: readonly string[] } {
  const sameAs = (partitions as { sameAs?: unknown } | undefined)?.sameAs
  return Array.isArray(sameAs) && sameAs.length > 0 && sameAs.every((topic) => typeof topic === 'string')
}

/** The full topic name of an internal topic: `<applicationId>-<name>`. */
export function internalTopicName(applicationId: string, name: string): string {
  return `${applicationId}-${name}`
}

/**
 * Partition counts of the internal topics, given the counts of the topics that exist. A topic
 * whose `sameAs` names another internal topic waits until that one is known; a cycle or an
 * unknown topic is a TopologyError.
 */
export function internalPartitionCounts(
  topics: Iterable<InternalTopic>,
  existing: (topic: string) => number | undefined,
): Map<string, number> {
  const pending = [...topics]
  const counts = new Map<string, number>()
  const byName = new Map(pending.map((topic) => [topic.name, topic]))
  while (pending.length > 0) {
    const before = pending.length
    for (let index = pending.length - 1; index >= 0; index -= 1) {
      const topic = pending[index]!
      if (typeof topic.partitions === 'number') counts.set(topic.name, topic.partitions)
      else {
        const found: number[] = []
        for (const other of topic.partitions.sameAs) {
          const count = byName.has(other) ? counts.get(other) : existing(other)
          if (count === undefined && !byName.has(other)) {
            throw new TopologyError(
              `internal topic "${topic.name}" takes its partition count from topic "${other}", which does not exist`,
              { context: { topic: other } },
            )
          }
          if (count !== undefined) found.push(count)
        }
        if (found.length < topic.partitions.sameAs.length) continue
        counts.set(topic.name, Math.max(...found))
      }
      pending.splice(index, 1)
    }
    if (pending.length === before) {
      throw new TopologyError(
        `internal topics ${pending.map((topic) => `"${topic.name}"`).join(', ')} take their partition counts from each other in a cycle; give one a fixed count`,
        { context: { topic: pending[0]!.name } },
      )
    }
  }
  return counts
}
