import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import {
  createPlatformaticKafkaPort,
  type KeyValueStore,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../../src/index.js'
import { StateRestorer } from '../../src/runtime/state-restorer.js'
import { ChangelogHeaders, changelogTopic, StreamTask } from '../../src/runtime/task.js'

it('restores a key whose only changelog entry is uncommitted, as compaction leaves it, through the real restorer', async () => {
  const applicationId = uniqueName('restore-compacted')
  const [input] = await createTestTopics({ prefix: 'restore-compacted-input' })
  const changelog = changelogTopic(applicationId, 'counts')
  const kafka = createPlatformaticKafkaPort({ bootstrapServers: endpoints.kafkaBootstrapServers })
  const admin = kafka.createAdmin({ clientId: uniqueName('restore-admin') })
  await admin.createTopics([{ name: changelog, partitions: 1, configs: { 'cleanup.policy': 'compact' } }])
  await admin.close()
  deleteTopicsWhenTestEnds(changelog)

  await produceStrings(
    input!,
    Array.from({ length: 10 }, (_, index) => ({ key: `input-${index}`, value: String(index) })),
  )
  const causedBy = (offset: number) => ({
    [ChangelogHeaders.inputTopic]: input!,
    [ChangelogHeaders.inputOffset]: String(offset),
  })
  // What compaction leaves of a changelog once the input up to offset 5 is committed: "counted"
  // had an older entry from committed input, which compaction removed, and only its entry from
  // input offset 7 survives; "both" still has its committed entry and a newer uncommitted one.
  await produceStrings(changelog, [
    { key: 'stable', value: 'stable-1', headers: causedBy(1) },
    { key: 'both', value: 'both-committed', headers: causedBy(3) },
    { key: 'counted', value: 'counted-uncommitted', headers: causedBy(7) },
    { key: 'both', value: 'both-uncommitted', headers: causedBy(8) },
  ])

  let assigned = false
  const consumer = kafka.createConsumer({
    groupId: applicationId,
    clientId: uniqueName('restore-consumer'),
    topics: [input!],
    listener: {
      onAssigned: async () => {
        assigned = true
      },
      onRevoked: async () => {},
      onLost: async () => {},
    },
  })
  onTestFinished(() => consumer.close())
  await consumer.subscribe()
  const deadline = Date.now() + 30_000
  while (!assigned) {
    if (Date.now() > deadline) throw new Error('the input partition was never assigned')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await consumer.commit([{ topic: input!, partition: 0, offset: 5n, metadata: null }])

  const topology = new TopologyBuilder()
    .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor('p', { parents: ['in'], stores: ['counts'] }, () => ({ process: () => {} }))
    .build()
  const task = new StreamTask({
    applicationId,
    topology,
    subtopology: topology.subtopologies[0]!,
    partition: 0,
    collector: { send: () => {} },
    errorPolicies: {
      deserialization: 'fail',
      processing: 'fail',
      production: 'fail',
      deadLetterTopic: 'dlq',
    },
    logger: silentLogger,
    stateDir: '/tmp/kstreams-unused',
    cacheMaxBytes: 0,
    now: () => 0,
  })
  await task.init()
  const restorer = new StateRestorer({
    kafka,
    clientId: uniqueName('restorer'),
    consumer,
    logger: silentLogger,
    batchSize: 100,
    fetchMaxBytes: 1024 * 1024,
  })
  onTestFinished(() => restorer.close())
  const failure = await new Promise<Error | undefined>((resolve) => restorer.start(task, resolve))
  expect(failure).toBeUndefined()

  const store = task.getStore<KeyValueStore<string, string>>('counts')!
  expect(await store.get('stable')).toBe('stable-1')
  expect(await store.get('counted')).toBe('counted-uncommitted')
  expect(await store.get('both')).toBe('both-committed')
})
