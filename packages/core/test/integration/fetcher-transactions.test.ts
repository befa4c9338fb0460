import { createTestTopics, endpoints, uniqueName } from '@kstreams/test-helpers'
import { Producer, stringSerializers } from '@platformatic/kafka'
import { expect, it, onTestFinished } from 'vitest'
import { createPlatformaticKafkaPort } from '../../src/index.js'
import { topicPartitionKey } from '../../src/kafka/kafka-port.js'

const decoder = new TextDecoder()

it('reads only committed transactions when one producer commits, aborts and commits again in one fetch', async () => {
  const [topic] = await createTestTopics({ prefix: 'fetcher-transactions' })
  const producer = new Producer({
    clientId: uniqueName('transactional-producer'),
    bootstrapBrokers: endpoints.kafkaBootstrapServers,
    serializers: stringSerializers,
    idempotent: true,
    transactionalId: uniqueName('transactional-id'),
    acks: -1,
  })
  onTestFinished(() => producer.close())
  const outcomes: Array<[string, 'commit' | 'abort']> = [
    ['first', 'commit'],
    ['second', 'abort'],
    ['third', 'commit'],
  ]
  for (const [name, outcome] of outcomes) {
    const transaction = await producer.beginTransaction()
    await transaction.send({
      messages: [1, 2].map((index) => ({ topic: topic!, partition: 0, key: 'k', value: `${name}-${index}` })),
    })
    if (outcome === 'commit') await transaction.commit()
    else await transaction.abort()
  }

  const reader = createPlatformaticKafkaPort({
    bootstrapServers: endpoints.kafkaBootstrapServers,
  }).createReader({ clientId: uniqueName('transactions-reader') })
  onTestFinished(() => reader.close())
  const partition = { topic: topic!, partition: 0 }
  // Three transactions of two records, each closed by a control record. The coordinator writes the
  // last marker after the commit returned, so the end (the last stable offset) may take a moment.
  let end = 0n
  for (const until = Date.now() + 10_000; end < 9n && Date.now() < until; ) {
    end = (await reader.endOffsets([partition])).get(topicPartitionKey(topic!, 0))!
    if (end < 9n) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  expect(end).toBe(9n)
  // Assigned only now, so the first poll finds the whole log: all three transactions in one answer.
  await reader.assign([{ ...partition, offset: 0n }])
  const values: string[] = []
  const deadline = Date.now() + 30_000
  while ((reader.position(partition) ?? 0n) < end) {
    if (Date.now() > deadline) throw new Error(`read only ${JSON.stringify(values)}`)
    for (const batch of await reader.poll(500)) {
      for (const record of batch.records) values.push(decoder.decode(record.value!))
    }
  }
  expect(values).toEqual(['first-1', 'first-2', 'third-1', 'third-2'])
  // Past the last commit marker, so the next fetch does not read the control record again.
  expect(reader.position(partition)).toBe(end)
})
