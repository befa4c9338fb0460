// The topics an application needs, checked (and, for internal ones, created) before it reads a
// record: sources and fixed sinks must exist, co-partitioned sources must agree on their partition
// count, internal (repartition) topics are created with the partition count the topology asks for,
// changelogs are created compacted with as many partitions as their sources (or checked), and the
// dead-letter topic is created when a policy writes to it.
import { TopologyError } from '../errors.js'
import { internalPartitionCounts } from '../internal-topics.js'
import type { AdminPort, TopicDescription } from '../kafka/kafka-port.js'
import type { Topology } from '../topology.js'
import type { ResolvedConfig } from './config.js'
import type { KafkaRecordCollector } from './kafka-record-collector.js'
import { changelogTopic } from './task.js'

export interface TopicContext {
  admin: AdminPort
  /** Learns every sink partition count. */
  collector: KafkaRecordCollector
  /** Learns every changelog partition count and tracks changelog end offsets. */
  changelogCollector: KafkaRecordCollector
  topology: Topology
  config: ResolvedConfig
}

/** How often, and how far apart, a topic reported missing is looked up again before start fails. */
const MISSING_TOPIC_ATTEMPTS = 6
const MISSING_TOPIC_WAIT_MS = 250

/**
 * Describes `topics`; those reported missing are asked again a few times, since a topic created a
 * moment before may not be in the broker's metadata yet.
 */
async function describeExisting(admin: AdminPort, topics: string[]): Promise<Map<string, TopicDescription>> {
  const described = await admin.describeTopics(topics)
  for (let attempt = 1; attempt < MISSING_TOPIC_ATTEMPTS; attempt += 1) {
    const missing = topics.filter((topic) => !described.has(topic))
    if (missing.length === 0) break
    await new Promise((resolve) => setTimeout(resolve, MISSING_TOPIC_WAIT_MS))
    for (const [topic, description] of await admin.describeTopics(missing)) described.set(topic, description)
  }
  return described
}

/**
 * Checks sources and sinks, creates or checks internal topics, changelogs and the dead-letter
 * topic.
 */
export async function prepareTopics(context: TopicContext): Promise<void> {
  const { admin, collector, topology, config } = context
  const internal = [...topology.internalTopics.values()]
  const internalNames = new Set(internal.map((topic) => topic.topic ?? topic.name))
  const sourceTopics = topology.sourceTopics.filter((topic) => !internalNames.has(topic))
  const sinkTopics = [
    ...new Set(topology.subtopologies.flatMap((subtopology) => subtopology.sinkTopics)),
  ].filter((topic) => !internalNames.has(topic))
  const sameAs = internal.flatMap((topic) =>
    typeof topic.partitions === 'number' ? [] : topic.partitions.sameAs,
  )
  const described = await describeExisting(admin, [...new Set([...sourceTopics, ...sinkTopics, ...sameAs])])
  const missing = sourceTopics.filter((topic) => !described.has(topic))
  if (missing.length > 0) {
    throw new TopologyError(
      `source topic(s) ${missing.map((topic) => `"${topic}"`).join(', ')} do not exist; create them before starting (kstreams does not create input topics)`,
      { context: { topic: missing[0] } },
    )
  }
  const missingSinks = sinkTopics.filter((topic) => !described.has(topic))
  if (missingSinks.length > 0) {
    throw new TopologyError(
      `sink topic(s) ${missingSinks.map((topic) => `"${topic}"`).join(', ')} do not exist; create them before starting (kstreams does not create output topics)`,
      { context: { topic: missingSinks[0] } },
    )
  }
  const partitions = new Map<string, number>()
  for (const [topic, description] of described) partitions.set(topic, description.partitions)
  for (const [topic, count] of await ensureInternalTopics(
    context,
    (topic) => described.get(topic)?.partitions,
  )) {
    partitions.set(topic, count)
  }
  for (const subtopology of topology.subtopologies) {
    const counts = subtopology.sourceTopics.map((topic) => `${topic} (${partitions.get(topic)})`)
    const distinct = new Set(subtopology.sourceTopics.map((topic) => partitions.get(topic)))
    if (distinct.size > 1) {
      throw new TopologyError(
        `sub-topology ${subtopology.id} reads topics that are not co-partitioned: ${counts.join(', ')}; they need the same number of partitions, since a join (or processors sharing a store) meets records of one key in one task. Repartition one side to the other's count (KStream.repartition({ partitions })), or join a GlobalKTable instead`,
        { context: { topic: subtopology.sourceTopics[0] } },
      )
    }
  }
  for (const subtopology of topology.subtopologies) {
    for (const topic of subtopology.sinkTopics) collector.setPartitionCount(topic, partitions.get(topic)!)
  }
  await ensureChangelogs(context, (topic) => partitions.get(topic)!)
  const { errorPolicies } = config
  if (errorPolicies.deserialization === 'dead-letter' || errorPolicies.processing === 'dead-letter') {
    await admin.createTopics([{ name: errorPolicies.deadLetterTopic, partitions: 1 }])
  }
}

/**
 * Creates the topology's internal topics that do not exist yet (a repartition topic with
 * `cleanup.policy=delete`, as Kafka Streams does) and checks the partition count of those that do.
 * Returns each one's full name and partition count.
 */
async function ensureInternalTopics(
  context: TopicContext,
  existing: (topic: string) => number | undefined,
): Promise<Map<string, number>> {
  const { admin, topology } = context
  const internal = [...topology.internalTopics.values()]
  const result = new Map<string, number>()
  if (internal.length === 0) return result
  const counts = internalPartitionCounts(internal, existing)
  const full = (name: string) => topology.internalTopics.get(name)!.topic ?? name
  const found = await admin.describeTopics(internal.map((topic) => full(topic.name)))
  const create = []
  for (const topic of internal) {
    const name = full(topic.name)
    const partitions = counts.get(topic.name)!
    const description = found.get(name)
    if (description && description.partitions !== partitions) {
      throw new TopologyError(
        `the internal ${topic.kind} topic "${name}" has ${description.partitions} partition(s), but the topology needs ${partitions}; delete it (the application recreates it) or fix the sources`,
        { context: { topic: name } },
      )
    }
    if (!description) {
      create.push({ name, partitions, configs: { 'cleanup.policy': 'delete', ...topic.configs } })
    }
    result.set(name, partitions)
  }
  if (create.length > 0) {
    await admin.createTopics(create)
    // A topic created a moment before may not be in every broker's metadata yet.
    await describeExisting(
      admin,
      create.map((topic) => topic.name),
    )
  }
  return result
}

/**
 * Creates each store's compacted changelog with as many partitions as its sub-topology's sources,
 * or checks the one that exists. New changelogs keep entries uncompacted for
 * `changelogMinCompactionLagMs`, so that the older entry of a key outlives the commit of the
 * newer one (restore keeps the older one when the newer one's input was not committed).
 */
async function ensureChangelogs(
  context: TopicContext,
  sourcePartitions: (topic: string) => number,
): Promise<void> {
  const { admin, changelogCollector: collector, topology, config } = context
  const wanted = new Map<string, { store: string; partitions: number; configs: { [name: string]: string } }>()
  for (const subtopology of topology.subtopologies) {
    for (const store of subtopology.stores) {
      const logging = topology.stores.get(store)!.logging
      if (logging === false) continue
      wanted.set(changelogTopic(config.applicationId, store), {
        store,
        partitions: sourcePartitions(subtopology.sourceTopics[0]!),
        configs: {
          'min.compaction.lag.ms': String(config.changelogMinCompactionLagMs),
          ...logging.topicConfigs,
          'cleanup.policy': 'compact',
        },
      })
    }
  }
  if (wanted.size === 0) return
  const existing = await admin.describeTopics([...wanted.keys()], ['cleanup.policy'])
  const missing = [...wanted].filter(([topic]) => !existing.has(topic))
  await admin.createTopics(missing.map(([name, { partitions, configs }]) => ({ name, partitions, configs })))
  for (const [topic, { store, partitions }] of wanted) {
    const found = existing.get(topic)
    if (found && found.partitions !== partitions) {
      throw new TopologyError(
        `the changelog topic "${topic}" of store "${store}" has ${found.partitions} partition(s), but the store's source topics have ${partitions}; they must match (delete the changelog to rebuild it, or fix the sources)`,
        { context: { topic, store } },
      )
    }
    const policy = found?.configs?.['cleanup.policy']
    if (found && policy !== undefined && !policy.split(',').includes('compact')) {
      throw new TopologyError(
        `the changelog topic "${topic}" of store "${store}" has cleanup.policy=${policy}; it must include "compact" or old state is deleted`,
        { context: { topic, store } },
      )
    }
    collector.setPartitionCount(topic, partitions)
    collector.trackEndOffsets(topic)
  }
}
